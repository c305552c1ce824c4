"""``/dashboard/timeline``: everything one person did, or everything done to one document (by
its SHA-256, before or after signing), oldest first, within the officer's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import EVENTS, page
from audit.routes.dashboard.search import ActorFilter, EventRow
from audit.routes.threads import read_in_thread
from audit.store import EventSearch

router = APIRouter(include_in_schema=False)

#: A timeline shows this many events at most (the newest).
TIMELINE_LIMIT = 500


@router.get("/dashboard/timeline")
async def timeline(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    actor_name: ActorFilter = None,
    document: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
) -> Response:
    if not actor_name and not document:
        return RedirectResponse(EVENTS.href, status_code=303)
    search = EventSearch(actor=actor_name, document=document, units=officer.units)
    rows = list(reversed(await read_in_thread(services.store.search, search, limit=TIMELINE_LIMIT)))
    await auditor.record(
        EventTag.AUDIT_EVENTS_QUERY,
        target={
            "channel": "dashboard-timeline",
            "results": str(len(rows)),
            "subject": "document" if document else "actor",
        },
    )
    return page(
        "timeline.html",
        title=f"{Text('Dòng thời gian', 'Timeline')}: {actor_name or document}",
        officer=officer,
        back=EVENTS,
        rows=[EventRow.of(r) for r in rows],
    )
