"""Alert triage, read back from the log: every decision on an alert is an ``audit:alert:triage``
event, and an alert's state is the last of them.

Two actions run beside the others and never replace them: declaring a personal-data breach
(Law 91/2025/QH15, Article 23: the authority must be told within the privacy policy's deadline, 72 hours) and
recording that the authority was told. Nothing here knows of HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit.store import StoredEvent
from policies.privacy import default_privacy_policy

#: What an officer may decide about an alert.
ACTIONS = ("acknowledge", "assign", "close", "declare-breach", "breach-notified")
BREACH_ACTIONS = frozenset({"declare-breach", "breach-notified"})


@dataclass(frozen=True)
class Decision:
    """The last decision on an alert other than a breach's (acknowledge, assign, close)."""

    action: str
    assignee: str
    note: str
    by: str


@dataclass(frozen=True)
class BreachClock:
    """A declared breach's deadline: met (``notified``), or how many hours are left (negative
    once it has passed)."""

    deadline: datetime
    notified: bool
    hours_left: float

    @classmethod
    def of(
        cls, breach: Mapping[str, str] | None, now: datetime | None = None
    ) -> BreachClock | None:
        if not breach or "breach_deadline" not in breach:
            return None
        deadline = datetime.fromisoformat(breach["breach_deadline"])
        hours = (deadline - (now or datetime.now(UTC))).total_seconds() / 3600
        return cls(deadline, breach.get("action") == "breach-notified", hours)


@dataclass
class TriageState:
    decisions: dict[str, Decision] = field(default_factory=dict)
    #: Per alert, the breach's deadline and its last action.
    breaches: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, triage: Iterable[StoredEvent]) -> TriageState:
        """The state from the triage events, oldest first (the last decision wins)."""
        state = cls()
        for row in triage:
            target = row.event.get("target") or {}
            alert_id = str(target.get("alert_id"))
            if target.get("action") in BREACH_ACTIONS:
                state.breaches.setdefault(alert_id, {}).update(
                    {k: str(v) for k, v in target.items() if k in {"breach_deadline", "action"}}
                )
                continue
            state.decisions[alert_id] = Decision(
                action=str(target.get("action", "")),
                assignee=str(target.get("assignee", "")),
                note=str(target.get("note", "")),
                by=str(row.event["actor"]["name"]),
            )
        return state


def note_required(action: str, note: str) -> bool:
    """Closing an alert needs a note saying why."""
    return action == "close" and not note.strip()


def triage_target(alert_id: str, action: str, assignee: str, note: str) -> dict[str, str]:
    """What the triage event records; a declared breach gets its notification deadline."""
    details = {
        "alert_id": alert_id,
        "action": action,
        "assignee": assignee.strip(),
        "note": note.strip(),
    }
    if action == "declare-breach":
        details["breach_deadline"] = (
            default_privacy_policy().breach_deadline(datetime.now(UTC)).isoformat()
        )
    return details
