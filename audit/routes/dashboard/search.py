"""``/dashboard/events`` (the search, a page at a time) and ``/dashboard/export.csv`` (the same
search as a CSV file, safe against formula injection: :func:`audit.exports.events_csv`).

Both see only the officer's scope, and both are audit events themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.exports import EXPORT_LIMIT, events_csv
from audit.routes.dashboard.pages import EVENTS, download, page
from audit.routes.dashboard.wording import event_name, outcome_of, target_words
from audit.routes.threads import read_in_thread
from audit.store import EventSearch, StoredEvent
from gateway_runtime.local_time import for_people

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
#: How far back a free-text search looks when no date, person or document narrows it: a year
#: (the words' index answers it in well under a second at 10 million events; bench.audit_scale).
TEXT_SEARCH_DEFAULT_DAYS = timedelta(days=366)

#: A search filter from the query string (bounded; every value is bound in SQL, never formatted).
Filter = Annotated[str | None, Query(max_length=200)]
ActorFilter = Annotated[str | None, Query(alias="actor", max_length=200)]


def _parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class SearchForm:
    """The search as the officer typed it; what does not fit (an unknown tag, a bad date) is
    left out of the search, not refused."""

    tag: str | None
    actor: str | None
    outcome: str | None
    text: str | None
    since: str | None
    until: str | None
    document: str | None

    def search(self, units: frozenset[str] | None) -> EventSearch:
        end = _parse_day(self.until)
        start = _parse_day(self.since)
        if self.text and start is None and not (self.actor or self.document):
            # Words are found through the index; without a narrower filter, the last year (the
            # index is read newest first). A "from" date widens it.
            start = (end or datetime.now(UTC)) - TEXT_SEARCH_DEFAULT_DAYS
        return EventSearch(
            tag=self.tag if self.tag in {t.value for t in EventTag} else None,
            actor=self.actor or None,
            outcome=self.outcome if self.outcome in {"success", "failure"} else None,
            since=start,
            until=end + timedelta(days=1) if end else None,
            document=self.document if self.document and len(self.document) == 64 else None,
            words=self.text or None,
            units=units,
        )

    def query(self, search: EventSearch) -> dict[str, str]:
        """The search again as a query string's values (for the next page and the export)."""
        values = {
            "tag": search.tag,
            "actor": search.actor,
            "outcome": search.outcome,
            "text": search.words,
            "since": self.since,
            "until": self.until,
            "document": search.document,
        }
        return {k: v for k, v in values.items() if v}

    def text_window(self, search: EventSearch) -> bool:
        """A text search narrowed to the last days by default (the page says so)."""
        return bool(search.words and not self.since and not (search.actor or search.document))


async def search_form(
    tag: Filter = None,
    actor_name: ActorFilter = None,
    outcome: Filter = None,
    text: Filter = None,
    since: Filter = None,
    until: Filter = None,
    document: Filter = None,
) -> SearchForm:
    return SearchForm(tag, actor_name, outcome, text, since, until, document)


SearchFormDep = Annotated[SearchForm, Depends(search_form)]


@dataclass(frozen=True)
class EventRow:
    """An event as a line of the search or the timeline."""

    seq: int
    time: str
    #: When the log received it, if far from the event's own time (flagged at ingest).
    received_at: str | None
    tag: str
    #: What happened, in words (the tag's name).
    what: str
    actor: str
    actor_query: str
    #: The unit the event belongs to (a school, a district office, the department).
    unit: str
    outcome: str
    #: ``success``, ``failure`` or ``warning``: the outcome's colour, by what it means.
    outcome_class: str
    target: str
    #: The document's hash, when the event names one (a link to its timeline).
    document: str | None

    @classmethod
    def of(cls, stored: StoredEvent) -> EventRow:
        event = stored.event
        target: dict[str, Any] = event.get("target") or {}
        document = target.get("document_sha256") or target.get("signed_sha256")
        actor = str(event["actor"]["name"])
        outcome = outcome_of(event["tag"], event["outcome"], target)
        return cls(
            seq=stored.seq,
            time=for_people(event["time"]),
            received_at=stored.received_at[:19] if stored.received_at else None,
            tag=str(event["tag"]),
            what=event_name(event["tag"]),
            actor=actor,
            actor_query=urlencode({"actor": actor}),
            unit=str(event.get("unit") or ""),
            outcome=outcome.words,
            outcome_class=outcome.css,
            target=target_words(target),
            document=document if isinstance(document, str) and len(document) == 64 else None,
        )


@router.get("/dashboard/events")
async def events(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    form: SearchFormDep,
    page_number: Annotated[int, Query(alias="page", ge=0, le=10_000)] = 0,
) -> Response:
    search = form.search(officer.units)
    rows = await read_in_thread(
        services.store.search, search, limit=PAGE_SIZE + 1, offset=page_number * PAGE_SIZE
    )
    await auditor.record(
        EventTag.AUDIT_EVENTS_QUERY,
        target={
            "channel": "dashboard",
            "filter_tag": search.tag or "",
            "results": str(min(len(rows), PAGE_SIZE)),
        },
    )
    params = form.query(search)
    return page(
        "events.html",
        title=EVENTS.label,
        officer=officer,
        tags=[t.value for t in EventTag],
        search=search,
        since=form.since,
        until=form.until,
        export_query=urlencode(params),
        text_window=form.text_window(search),
        rows=[EventRow.of(r) for r in rows[:PAGE_SIZE]],
        previous_query=urlencode({**params, "page": page_number - 1}) if page_number > 0 else None,
        next_query=urlencode({**params, "page": page_number + 1})
        if len(rows) > PAGE_SIZE
        else None,
    )


@router.get("/dashboard/export.csv")
async def export(
    officer: CurrentOfficer, services: ServicesDep, auditor: OfficerAuditorDep, form: SearchFormDep
) -> Response:
    search = form.search(officer.units)
    rows = await read_in_thread(services.store.search, search, limit=EXPORT_LIMIT)
    await auditor.record(
        EventTag.AUDIT_REPORT_EXPORT,
        target={"format": "csv", "rows": str(len(rows)), "filter_tag": search.tag or ""},
    )
    content = await read_in_thread(
        events_csv,
        (
            {"seq": r.seq, "chain_hash": r.chain_hash, "received_at": r.received_at, **r.event}
            for r in rows
        ),
    )
    return download(
        "\ufeff" + content,  # a BOM, so that spreadsheet programs read the Vietnamese as UTF-8
        media_type="text/csv; charset=utf-8",
        filename="nhat-ky-kiem-toan.csv",
    )
