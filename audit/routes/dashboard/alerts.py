"""``/dashboard/alerts`` and their triage: each alert of the officer's scope with its state (the
last decision on it, :mod:`audit.triage`) and, for a declared personal-data breach, its Law 91/2025
deadline; a decision is a POST form with the session's CSRF token, recorded as an audit event under
the alert's unit (so that its district sees it too)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.routes.dashboard.pages import ALERTS, macro, message, page
from audit.store import EventSearch, StoredEvent
from audit.triage import BreachClock, Decision, TriageState, note_required, triage_target
from gateway_runtime.local_time import for_people

router = APIRouter(include_in_schema=False)

#: The alerts shown (the newest), and the triage events read back to know their state.
ALERTS_SHOWN = 200
TRIAGE_READ = 5000

_STATUS = {
    "acknowledge": "đã tiếp nhận / acknowledged",
    "assign": "giao cho / assigned to {assignee}",
    "close": "đã đóng / closed",
}


def breach_line(breach: Mapping[str, str] | None, now: datetime | None = None) -> str:
    """The Law 91/2025 (Article 23) deadline of a declared breach, as the alert's card shows it ("" if none)."""
    return macro("_breach.html", "breach_line", BreachClock.of(breach, now))


@dataclass(frozen=True)
class AlertCard:
    id: str
    severity: Any
    rule: Any
    summary: Any
    time: str
    actor: str
    status: str
    decision: Decision | None
    breach: BreachClock | None

    @classmethod
    def of(cls, row: StoredEvent, state: TriageState) -> AlertCard:
        target = row.event.get("target") or {}
        alert_id = str(row.event["event_id"])
        decision = state.decisions.get(alert_id)
        status = (
            _STATUS.get(decision.action, "mới / new").format(assignee=decision.assignee)
            if decision
            else "mới / new"
        )
        return cls(
            id=alert_id,
            severity=target.get("severity"),
            rule=target.get("rule"),
            summary=target.get("summary"),
            time=for_people(row.event["time"]),
            actor=str(row.event["actor"]["name"]),
            status=status,
            decision=decision,
            breach=BreachClock.of(state.breaches.get(alert_id)),
        )


@router.get("/dashboard/alerts")
async def alerts(officer: CurrentOfficer, services: ServicesDep) -> Response:
    store = services.store
    raised = store.search(
        EventSearch(tag="audit:alert:raise", units=officer.units), limit=ALERTS_SHOWN
    )
    triage = store.search(
        EventSearch(tag="audit:alert:triage", units=officer.units), limit=TRIAGE_READ
    )
    state = TriageState.of(reversed(triage))  # oldest first: the last decision wins
    return page(
        "alerts.html",
        title=ALERTS.label,
        officer=officer,
        alerts=[AlertCard.of(row, state) for row in raised],
    )


@router.post("/dashboard/alerts/{alert_id}/triage")
async def triage_alert(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    alert_id: str,
    csrf: Annotated[str, Form(max_length=100)],
    action: Annotated[
        str, Form(pattern="^(acknowledge|assign|close|declare-breach|breach-notified)$")
    ],
    assignee: Annotated[str, Form(max_length=80)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not secrets.compare_digest(csrf.encode(), officer.csrf.encode()):
        return message(
            "Yêu cầu không hợp lệ / Invalid request",
            "CSRF token mismatch.",
            officer=officer,
            back=ALERTS,
            status_code=403,
        )
    found = (
        services.store.search(
            EventSearch(tag="audit:alert:raise", text=alert_id, units=officer.units), limit=1
        )
        if len(alert_id) == 32
        else []
    )
    if not found:
        return message(
            "Không tìm thấy / Not found",
            "Không có cảnh báo này / No such alert.",
            officer=officer,
            back=ALERTS,
            status_code=404,
        )
    if note_required(action, note):
        return message(
            "Thiếu ghi chú / Note required",
            "Đóng cảnh báo cần ghi chú / Closing needs a note.",
            officer=officer,
            back=ALERTS,
            status_code=400,
        )
    # Under the alert's unit, so that its district sees the triage too.
    unit = found[0].event.get("unit") or officer.unit
    await auditor.for_unit(unit).record(
        EventTag.AUDIT_ALERT_TRIAGE, target=triage_target(alert_id, action, assignee, note)
    )
    return RedirectResponse(f"/dashboard/alerts#alert-{alert_id}", status_code=303)
