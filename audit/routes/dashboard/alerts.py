"""``/dashboard/alerts`` and their triage: the alerts of the officer's scope grouped by rule and
subject (with counts, first and last time), filtered by severity, rule, state, local dates and
subject; each alert with its state (the last decision on it, :mod:`audit.triage`) and, for a
declared personal-data breach, its Law 91/2025 deadline. A decision, on one alert or on every open
alert of a group, is a POST form with the session's CSRF token, recorded as one audit event per
alert under the alert's unit (so that its district sees it too)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import RedirectResponse, Response

from audit.deps import CurrentOfficer, Officer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import ALERTS, csrf_refused, macro, message, page
from audit.routes.dashboard.wording import (
    KNOWN_RULES,
    SEVERITY_ORDER,
    alert_summary,
    rule_name,
    severity_name,
)
from audit.routes.threads import read_in_thread
from audit.services import Services
from audit.store import EventSearch, StoredEvent
from audit.triage import BreachClock, Decision, TriageState, note_required, triage_target
from gateway_runtime.local_time import PEOPLES_ZONE, for_people

router = APIRouter(include_in_schema=False)

#: The alerts shown (the newest), and the triage events read back to know their state.
ALERTS_SHOWN = 200
TRIAGE_READ = 5000

_STATUS = {
    "acknowledge": Text("đã tiếp nhận", "acknowledged"),
    "assign": Text("giao cho {assignee}", "assigned to {assignee}"),
    "close": Text("đã đóng", "closed"),
    "declare-breach": Text("sự cố dữ liệu cá nhân", "personal-data breach"),
    "breach-notified": Text("đã thông báo cơ quan chức năng", "authority notified"),
}
_NEW = Text("mới", "new")


def breach_line(breach: Mapping[str, str] | None, now: datetime | None = None) -> str:
    """The Law 91/2025 (Article 23) deadline of a declared breach, as the alert's card shows it ("" if none)."""
    return macro("_breach.html", "breach_line", BreachClock.of(breach, now))


@dataclass(frozen=True)
class AlertCard:
    id: str
    severity: str
    rule: str
    #: What the rule was raised about (an account, an address, a document, a role's path).
    subject: str
    summary: str
    moment: datetime
    time: str
    actor: str
    #: The alert's unit (its triage is recorded under it, so that its district sees it too).
    unit: str | None
    status: str
    #: ``new``, ``open`` (acknowledged or assigned) or ``closed``: what the status filter picks.
    state: str
    decision: Decision | None
    breach: BreachClock | None

    @classmethod
    def of(cls, row: StoredEvent, state: TriageState) -> AlertCard:
        target = row.event.get("target") or {}
        alert_id = str(row.event["event_id"])
        decision = state.decisions.get(alert_id)
        status = (
            _STATUS.get(decision.action, _NEW).format(assignee=decision.assignee)
            if decision
            else str(_NEW)
        )
        moment = datetime.fromisoformat(str(row.event["time"]).replace("Z", "+00:00"))
        return cls(
            id=alert_id,
            severity=str(target.get("severity") or ""),
            rule=str(target.get("rule") or ""),
            subject=str(target.get("key") or ""),
            summary=alert_summary(target.get("summary")),
            moment=moment,
            time=for_people(moment),
            actor=str(row.event["actor"]["name"]),
            unit=row.event.get("unit"),
            status=status,
            state=_state(decision),
            decision=decision,
            breach=BreachClock.of(state.breaches.get(alert_id)),
        )


def _state(decision: Decision | None) -> str:
    if decision is None:
        return "new"
    return "closed" if decision.action == "close" else "open"


@dataclass(frozen=True)
class AlertGroup:
    """The alerts one rule raised about one subject (17 grants of the same role are one line)."""

    id: str
    rule: str
    subject: str
    severity: str
    alerts: list[AlertCard]

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def first(self) -> str:
        return for_people(min(a.moment for a in self.alerts))

    @property
    def last(self) -> str:
        return for_people(max(a.moment for a in self.alerts))

    @property
    def states(self) -> Counter[str]:
        return Counter(a.state for a in self.alerts)

    @property
    def not_closed(self) -> int:
        return sum(a.state != "closed" for a in self.alerts)


def group_id(rule: str, subject: str) -> str:
    return hashlib.sha256(f"{rule}\0{subject}".encode()).hexdigest()[:16]


def group_alerts(cards: Iterable[AlertCard]) -> list[AlertGroup]:
    """The alerts by rule and subject, most severe first, then the most recent; the alerts of a
    group newest first."""
    by_key: dict[tuple[str, str], list[AlertCard]] = {}
    for card in cards:
        by_key.setdefault((card.rule, card.subject), []).append(card)
    groups = []
    for (rule, subject), alerts in by_key.items():
        alerts.sort(key=lambda a: a.moment, reverse=True)
        severity = min((a.severity for a in alerts), key=_urgency)
        groups.append(AlertGroup(group_id(rule, subject), rule, subject, severity, alerts))
    groups.sort(key=lambda g: g.alerts[0].moment, reverse=True)
    groups.sort(key=lambda g: _urgency(g.severity))
    return groups


def _urgency(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _local_day(value: str | None, *, end: bool = False) -> datetime | None:
    """The start (or the end) of a day in the province's time, ``YYYY-mm-dd`` as a date picker sends it."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=PEOPLES_ZONE)
    except ValueError:
        return None
    return (day + timedelta(days=1) if end else day).astimezone(UTC)


@dataclass(frozen=True)
class AlertFilter:
    """What the officer narrowed the alerts to; what does not fit is left out, not refused."""

    severity: str = ""
    rule: str = ""
    state: str = ""
    since: str = ""
    until: str = ""
    subject: str = ""

    def search(self, units: frozenset[str] | None) -> EventSearch:
        return EventSearch(
            tag="audit:alert:raise",
            since=_local_day(self.since),
            until=_local_day(self.until, end=True),
            units=units,
        )

    def keeps(self, card: AlertCard) -> bool:
        return (
            (not self.severity or card.severity == self.severity)
            and (not self.rule or card.rule == self.rule)
            and (not self.state or card.state == self.state)
            and (not self.subject or self.subject.lower() in card.subject.lower())
        )


_Choice = Annotated[str, Query(max_length=80)]


async def alert_filter(
    severity: _Choice = "",
    rule: _Choice = "",
    state: _Choice = "",
    since: _Choice = "",
    until: _Choice = "",
    subject: Annotated[str, Query(max_length=200)] = "",
) -> AlertFilter:
    return AlertFilter(
        severity if severity in SEVERITY_ORDER else "",
        rule if rule.replace("_", "").isalnum() else "",
        state if state in {"new", "open", "closed"} else "",
        since,
        until,
        subject.strip(),
    )


def _scope_alerts(
    services: Services, units: frozenset[str] | None, search: EventSearch
) -> list[AlertCard]:
    raised = services.store.search(search, limit=ALERTS_SHOWN)
    triage = services.store.search(
        EventSearch(tag="audit:alert:triage", units=units), limit=TRIAGE_READ
    )
    state = TriageState.of(reversed(triage))  # oldest first: the last decision wins
    return [AlertCard.of(row, state) for row in raised]


@router.get("/dashboard/alerts")
async def alerts(
    officer: CurrentOfficer,
    services: ServicesDep,
    chosen: Annotated[AlertFilter, Depends(alert_filter)],
) -> Response:
    cards = await read_in_thread(
        _scope_alerts, services, officer.units, chosen.search(officer.units)
    )
    rules = sorted(
        {*KNOWN_RULES, *(c.rule for c in cards)} | ({chosen.rule} if chosen.rule else set())
    )
    kept = [c for c in cards if chosen.keeps(c)]
    return page(
        "alerts.html",
        title=ALERTS.label,
        officer=officer,
        groups=group_alerts(kept),
        shown=len(kept),
        chosen=chosen,
        rules=[(r, rule_name(r)) for r in rules],
        severities=[(s, severity_name(s)) for s in SEVERITY_ORDER],
        states=(
            ("new", Text("mới", "new")),
            ("open", Text("đang xử lý", "in progress")),
            ("closed", Text("đã đóng", "closed")),
        ),
        actions=_ACTIONS,
        limit=ALERTS_SHOWN,
    )


_ACTIONS = (
    ("acknowledge", Text("Tiếp nhận", "Acknowledge")),
    ("assign", Text("Giao xử lý", "Assign")),
    ("close", Text("Đóng", "Close")),
    (
        "declare-breach",
        Text("Khai báo sự cố dữ liệu cá nhân (NĐ 13)", "Declare a personal-data breach"),
    ),
    ("breach-notified", Text("Đã thông báo cơ quan chức năng", "Authority notified")),
)


def _note_missing(officer: Officer) -> Response:
    return message(
        Text("Thiếu ghi chú", "Note required"),
        Text(
            "Đóng cảnh báo cần ghi chú lý do.",
            "Closing an alert needs a note saying why.",
        ),
        officer=officer,
        back=ALERTS,
        status_code=400,
    )


@router.post("/dashboard/alerts/group/triage")
async def triage_group(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    csrf: Annotated[str, Form(max_length=100)],
    group: Annotated[str, Form(pattern="^[0-9a-f]{16}$")],
    action: Annotated[str, Form(pattern="^(acknowledge|assign|close)$")],
    assignee: Annotated[str, Form(max_length=80)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """One decision for every alert of a group that is not closed yet (each recorded on its own)."""
    refused = csrf_refused(csrf, officer, ALERTS)
    if refused is not None:
        return refused
    if note_required(action, note):
        return _note_missing(officer)
    cards = await read_in_thread(
        _scope_alerts, services, officer.units, AlertFilter().search(officer.units)
    )
    members = [c for c in cards if group_id(c.rule, c.subject) == group and c.state != "closed"]
    if not members:
        return message(
            Text("Không tìm thấy", "Not found"),
            Text(
                "Nhóm cảnh báo này không còn cảnh báo nào chưa đóng trong phạm vi của bạn.",
                "This group has no alert left open in your scope.",
            ),
            officer=officer,
            back=ALERTS,
            status_code=404,
        )
    for card in members:
        await auditor.for_unit(card.unit or officer.unit).record(
            EventTag.AUDIT_ALERT_TRIAGE, target=triage_target(card.id, action, assignee, note)
        )
    return RedirectResponse(f"/dashboard/alerts#group-{group}", status_code=303)


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
    refused = csrf_refused(csrf, officer, ALERTS)
    if refused is not None:
        return refused
    found = (
        await read_in_thread(
            services.store.search,
            EventSearch(tag="audit:alert:raise", text=alert_id, units=officer.units),
            limit=1,
        )
        if len(alert_id) == 32
        else []
    )
    if not found:
        return message(
            Text("Không tìm thấy", "Not found"),
            Text("Không có cảnh báo này trong phạm vi của bạn.", "No such alert in your scope."),
            officer=officer,
            back=ALERTS,
            status_code=404,
        )
    if note_required(action, note):
        return _note_missing(officer)
    # Under the alert's unit, so that its district sees the triage too.
    unit = found[0].event.get("unit") or officer.unit
    await auditor.for_unit(unit).record(
        EventTag.AUDIT_ALERT_TRIAGE, target=triage_target(alert_id, action, assignee, note)
    )
    return RedirectResponse(f"/dashboard/alerts#alert-{alert_id}", status_code=303)
