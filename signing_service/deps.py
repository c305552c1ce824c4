"""What the signing service's routes receive through FastAPI dependencies (the full-stack template's
``api/deps.py``): the typed :class:`~signing_service.services.Services`, the verified caller, a
request-bound :class:`~audit.auditor.Auditor`, and the checks that run before any body or parameter
is validated (a caller without the role gets 403, not 422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from audit import Actor
from audit.auditor import Auditor
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.tokens import Forbidden, Principal
from signing_service.authorisation import check_caller, check_signer
from signing_service.services import SERVICE, Services

VERIFY_ROLE = "verify"
SERVICE_SCOPE = "service"
CREDENTIAL_SCOPE = "credential"


async def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("the signing service's lifespan has not run")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def actor_of(principal: Principal) -> Actor:
    return Actor(name=principal.actor, client_id=principal.client_id, subject=principal.subject)


async def get_auditor(
    request: Request, services: ServicesDep, principal: CurrentPrincipal
) -> Auditor:
    """Events of this request: the caller, their address, the request id, their unit."""
    return Auditor(
        trail=services.trail,
        service=SERVICE,
        actor=actor_of(principal),
        source=client_address(request),
        correlation_id=getattr(request.state, "request_id", None),
        unit=principal.unit,
    )


async def get_anonymous_auditor(request: Request, services: ServicesDep) -> Auditor:
    """Events of a request without a login (the public verification page, a phone's approval)."""
    return Auditor(
        trail=services.trail,
        service=SERVICE,
        actor=Actor(name="anonymous"),
        source=client_address(request),
        correlation_id=getattr(request.state, "request_id", None),
    )


AuditorDep = Annotated[Auditor, Depends(get_auditor)]
AnonymousAuditorDep = Annotated[Auditor, Depends(get_anonymous_auditor)]


async def signing_caller(
    principal: CurrentPrincipal, services: ServicesDep, auditor: AuditorDep
) -> Principal:
    """May this caller sign at all? An app needs the ``sign`` role, a person a signer role
    (SIGN-001); a refusal is audited. Runs before any parameter or body is read."""
    await check_caller(principal, services.signing_policy, auditor)
    if principal.is_person:
        # A person's key signs only for an app granted ``credential`` (as the CSC API's
        # authorize): a token of the list-only ``service`` scope started approvals here.
        principal.require_scope(CREDENTIAL_SCOPE)
    return principal


SigningCaller = Annotated[Principal, Depends(signing_caller)]


async def verifying_caller(principal: CurrentPrincipal) -> Principal:
    principal.require(VERIFY_ROLE)
    return principal


VerifyingCaller = Annotated[Principal, Depends(verifying_caller)]


async def person(principal: CurrentPrincipal) -> Principal:
    if not principal.is_person:
        raise Forbidden("personal keys belong to people; a service account has none")
    return principal


Person = Annotated[Principal, Depends(person)]


async def service_scope(principal: Person) -> Principal:
    principal.require_scope(SERVICE_SCOPE)
    return principal


async def credential_scope(principal: Person) -> Principal:
    principal.require_scope(CREDENTIAL_SCOPE)
    return principal


async def signer(principal: Person, services: ServicesDep, auditor: AuditorDep) -> Principal:
    """A person in a signer role (SIGN-001), for enrolment and CSC authorisation."""
    await check_signer(principal, services.signing_policy, auditor, "enrol")
    return principal


CscService = Annotated[Principal, Depends(service_scope)]
CscCredential = Annotated[Principal, Depends(credential_scope)]
Signer = Annotated[Principal, Depends(signer)]
