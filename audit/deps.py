"""What the audit service's routes receive through FastAPI dependencies: the typed
:class:`~audit.services.Services`, the verified caller with the role it needs, a request-bound
:class:`~audit.auditor.Auditor`, and the dashboard's officer.

Authorisation is a dependency, so it runs before any parameter or body is validated: an API caller
without ``read-events`` gets 403, and a dashboard request without a session goes to the login page,
whatever it sent.

:data:`CurrentOfficer` is the dashboard's one gate. It reads the session (a signed cookie holding
who the officer is, never a token, for at most 30 minutes) and turns away, with an audited refusal,
anyone who is not a security officer or whose unit the sector's list does not know (no unit, no
scope: fail closed). The OIDC callback admits a fresh login through the same :func:`admit`, so the
role and the unit are checked in one place.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from audit.auditor import Auditor
from audit.events import Actor, EventTag, Outcome
from audit.scope import OfficerScope
from audit.services import SERVICE, DashboardLogin, Services
from gateway_runtime.errors import GatewayError
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.tokens import Principal

READ_ROLE = "read-events"
OFFICER_ROLE = "security-officer"
SESSION_KEY = "officer"
SESSION_SECONDS = 1800
#: The dashboard's session cookie (the scanner's login reads it: ``scanners.own_services``).
SESSION_COOKIE = "edu_audit_session"


async def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the audit service's lifespan has not run")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def request_auditor(
    request: Request, services: Services, actor: Actor, unit: str | None = None
) -> Auditor:
    """Events of this request: ``actor``, the caller's address, the request id, ``unit``."""
    return Auditor(
        trail=services.trail,
        service=SERVICE,
        actor=actor,
        source=client_address(request),
        correlation_id=getattr(request.state, "request_id", None),
        unit=unit,
    )


# -- the API --------------------------------------------------------------------------------------


def actor_of(principal: Principal) -> Actor:
    return Actor(name=principal.actor, client_id=principal.client_id, subject=principal.subject)


async def reader(principal: CurrentPrincipal) -> Principal:
    """A caller who may read the log (``read-events``)."""
    principal.require(READ_ROLE)
    return principal


Reader = Annotated[Principal, Depends(reader)]


async def get_auditor(
    request: Request, services: ServicesDep, principal: CurrentPrincipal
) -> Auditor:
    """Events of an API request: the caller, their address, the request id. A read of the log
    belongs to no unit (the department's)."""
    return request_auditor(request, services, actor_of(principal))


AuditorDep = Annotated[Auditor, Depends(get_auditor)]


# -- the dashboard --------------------------------------------------------------------------------


class OfficerWithoutUnit(GatewayError):
    code = "forbidden"
    status_code = 403
    message_vi = (
        "Tài khoản cán bộ an toàn thông tin chưa gắn đơn vị (unit_code); liên hệ quản trị hệ thống."
    )
    message_en = "The security officer's account has no unit (unit_code); ask the administrator."


class NotAnOfficer(GatewayError):
    code = "forbidden"
    status_code = 403
    message_vi = "Chỉ cán bộ an toàn thông tin được xem nhật ký kiểm toán."
    message_en = "Only security officers may read the audit log."


class LoginRequired(Exception):
    """No valid session: the dashboard answers with a redirect to its login page."""


class OfficerTurnedAway(Exception):
    """Not an officer, or no known unit: the dashboard answers with a 403 page and ends the
    session (the refusal is already recorded)."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message_en)
        self.error = error


class OfficerSession(BaseModel):
    """Who the officer is, as the session cookie carries it (signed; never a token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sub: str
    actor: str
    name: str
    #: The realm roles that matter here (``security-officer``), as the token said at login.
    roles: tuple[str, ...]
    unit: str | None
    csrf: str
    until: float

    @classmethod
    def of(cls, principal: Principal) -> OfficerSession:
        """A fresh session of a verified login (30 minutes, a new CSRF token)."""
        return cls(
            sub=principal.subject,
            actor=principal.actor,
            name=principal.display_name,
            roles=tuple(sorted(principal.realm_roles & {OFFICER_ROLE})),
            unit=principal.unit,
            csrf=secrets.token_urlsafe(24),
            until=time.time() + SESSION_SECONDS,
        )

    @classmethod
    def read(cls, session: dict[str, Any]) -> OfficerSession | None:
        """The session's officer, or ``None`` if there is none or it has expired."""
        try:
            record = cls.model_validate(session.get(SESSION_KEY))
        except ValidationError:
            return None
        return record if record.until >= time.time() else None


@dataclass(frozen=True)
class Officer:
    """A security officer admitted to the dashboard, with what they may see."""

    session: OfficerSession
    scope: OfficerScope

    @property
    def name(self) -> str:
        return self.session.name

    @property
    def unit(self) -> str | None:
        return self.scope.unit

    @property
    def units(self) -> frozenset[str] | None:
        """``None`` for the whole sector, else the units the officer may see."""
        return self.scope.units

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def actor(self, client_id: str) -> Actor:
        return Actor(name=self.session.actor, client_id=client_id, subject=self.session.sub)


async def admit(identity: OfficerSession, services: Services, auditor: Auditor) -> Officer:
    """The officer with their scope; a non-officer or an officer without a known unit is turned
    away, and the refusal recorded (``audit:dashboard:login``, failure)."""
    scope = services.unit_tree.scope_of({"unit_code": identity.unit})
    refusal: tuple[str, GatewayError] | None = None
    if OFFICER_ROLE not in identity.roles:
        refusal = (f"missing realm role {OFFICER_ROLE}", NotAnOfficer())
    elif scope.units == frozenset():  # fail closed: no unit, no scope
        refusal = ("the officer's unit is missing or unknown", OfficerWithoutUnit())
    if refusal is not None:
        await auditor.record(
            EventTag.AUDIT_DASHBOARD_LOGIN, outcome=Outcome.FAILURE, reason=refusal[0]
        )
        raise OfficerTurnedAway(refusal[1])
    return Officer(identity, scope)


async def get_dashboard(services: ServicesDep) -> DashboardLogin:
    if services.dashboard is None:
        raise RuntimeError("the dashboard is not configured")
    return services.dashboard


DashboardDep = Annotated[DashboardLogin, Depends(get_dashboard)]


async def current_officer(
    request: Request, services: ServicesDep, dashboard: DashboardDep
) -> Officer:
    """The officer of this session (see the module's docstring); raises :class:`LoginRequired`
    or :class:`OfficerTurnedAway`."""
    identity = OfficerSession.read(request.session)
    if identity is None:
        raise LoginRequired()
    actor = Actor(name=identity.actor, client_id=dashboard.client_id, subject=identity.sub)
    return await admit(identity, services, request_auditor(request, services, actor))


CurrentOfficer = Annotated[Officer, Depends(current_officer)]


async def get_officer_auditor(
    request: Request, services: ServicesDep, dashboard: DashboardDep, officer: CurrentOfficer
) -> Auditor:
    """Events of a dashboard request: the officer, under their own unit."""
    return request_auditor(request, services, officer.actor(dashboard.client_id), officer.unit)


OfficerAuditorDep = Annotated[Auditor, Depends(get_officer_auditor)]
