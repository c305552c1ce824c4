"""The one way producers record an audit event: an :class:`Auditor` bound to who acts, from where.

A request (or a background job) gets one auditor that knows the actor, the service, the client
address and user agent, the correlation id and the unit the events belong to; code that does
something auditable calls ``await auditor.record(EventTag.X, target={...})`` and fills in only what
it knows (in the manner of Warehouse's ``record_event``). Recording fails closed: when the trail
cannot record, :class:`~audit.errors.AuditUnavailable` propagates and the operation does not happen
(or its result is not returned).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.trail import AuditTrail


@dataclass(frozen=True)
class Auditor:
    trail: AuditTrail
    service: str
    actor: Actor
    #: ``{"ip": ..., "user_agent": ...}`` of the request, if there is one.
    source: dict[str, Any] | None = None
    correlation_id: str | None = None
    #: The unit the events belong to (the caller's ``unit_code``), for district officers' view.
    unit: str | None = None

    def acting_as(self, actor: Actor) -> Auditor:
        """The same context for another actor (a paired phone deciding, a batch's owner)."""
        return replace(self, actor=actor)

    def for_unit(self, unit: str | None) -> Auditor:
        """The same context, the events filed under ``unit`` (an alert's, whose district must
        see what was decided about it)."""
        return replace(self, unit=unit)

    def event(
        self,
        tag: EventTag,
        *,
        target: dict[str, str] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> AuditEvent:
        return AuditEvent.build(
            tag=tag,
            service=self.service,
            actor=self.actor,
            outcome=outcome,
            target=target,
            reason=reason,
            source=self.source,
            correlation_id=self.correlation_id,
            event_id=event_id,
            unit=self.unit,
        )

    async def record(
        self,
        tag: EventTag,
        *,
        target: dict[str, str] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Record one event; raises :class:`~audit.errors.AuditUnavailable` if it cannot."""
        await self.trail.record(
            self.event(tag, target=target, outcome=outcome, reason=reason, event_id=event_id)
        )
