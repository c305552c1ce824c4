"""Every account change account issuing makes, and every password an IT officer resets, is an
``idp:account:issue`` audit event.

Events name the account, the change, the unit and the role, never the citizen ID. They are sealed
with the ``accounts`` producer key and sent through one Redis connection kept for the run; a change
that cannot be recorded raises, which stops the run (fail closed).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from idp_config.account_plan import AccountAction
from idp_config.password_reset import PasswordReset

if TYPE_CHECKING:
    from audit.trail import TrailSettings


class AccountAuditTrail:
    """Records each account change as an ``idp:account:issue`` audit event (without the citizen
    ID), sealed with the ``accounts`` producer key, through one Redis connection kept for the run;
    a change that cannot be recorded raises, which stops the run (fail closed)."""

    def __init__(self, settings: TrailSettings) -> None:
        from audit.producers import Producer

        self._loop = asyncio.new_event_loop()
        self._client = settings.client()
        self._trail = settings.trail(self._client, Producer.ACCOUNTS)

    def check(self) -> None:
        """Reach Redis as the configured user now (before any change), or raise AuditUnavailable."""
        from redis.exceptions import RedisError

        from audit.errors import AuditUnavailable

        try:
            self._loop.run_until_complete(self._client.ping())
        except (RedisError, OSError) as exc:
            raise AuditUnavailable(
                f"the audit trail cannot be reached ({type(exc).__name__})"
            ) from exc

    def record(self, action: AccountAction) -> None:
        from audit.events import Actor, AuditEvent, EventTag, Outcome

        event = AuditEvent.build(
            tag=EventTag.IDP_ACCOUNT_ISSUE,
            service="idp-config",
            actor=Actor(name="account-issuing"),
            outcome=Outcome.SUCCESS,
            target={
                "username": action.record.username,
                "change": action.change.value,
                "unit_code": action.record.unit_code,
                "role": action.record.role,
            },
            unit=action.record.unit_code,
        )
        self._loop.run_until_complete(self._trail.record(event))

    def record_reset(self, reset: PasswordReset, reason: str) -> None:
        """A one-time password given by an IT officer (the officer is the actor; no password)."""
        from audit.events import Actor, AuditEvent, EventTag, Outcome

        event = AuditEvent.build(
            tag=EventTag.IDP_ACCOUNT_ISSUE,
            service="idp-config",
            actor=Actor(name=reset.operator),
            outcome=Outcome.SUCCESS,
            target={
                "username": reset.username,
                "change": "password-reset",
                "unit_code": reset.unit or "",
                "operator_unit": reset.operator_unit,
                "reason": reason[:200],
            },
            unit=reset.unit,
        )
        self._loop.run_until_complete(self._trail.record(event))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
