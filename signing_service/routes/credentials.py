"""A person's signing keys and the phones that approve their signatures.

- ``POST /v1/credentials``: enrol a personal signing key (generated in the token, certified by the
  CA, bound to the person's Keycloak user id); ``GET /v1/credentials`` lists theirs.
- ``POST /v1/devices:pair``: a one-time link to register a phone (passkey) for approvals;
  ``GET /v1/devices`` lists theirs.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import pem
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from audit import EventTag
from gateway_runtime.openapi import AUTHENTICATED, BEARER, error_responses
from signing_service.approvals import PAIRING, PAIRING_SECONDS, approval_reference
from signing_service.credentials import enrol
from signing_service.deps import AuditorDep, CscCredential, Person, ServicesDep, Signer
from signing_service.errors import CertificateAuthorityUnavailable

router = APIRouter(
    tags=["remote signing"],
    responses=error_responses(400, *AUTHENTICATED, 404, 409, 422),
    dependencies=[Depends(BEARER)],
)


@router.post("/v1/credentials", status_code=201)
async def enrol_credential(
    principal: Signer, services: ServicesDep, auditor: AuditorDep
) -> JSONResponse:
    """Enrol a personal signing key for the calling person (key generated in the token)."""
    ca = services.certificate_authority
    if ca is None:
        raise CertificateAuthorityUnavailable("no CA registration endpoint is configured")
    credential = await enrol(principal, services.gate, ca, services.credentials)
    cert = credential.certificate
    await auditor.record(
        EventTag.SIGNING_CREDENTIAL_ENROL,
        target={
            "credential_id": credential.credential_id,
            "key_label": credential.key_label,
            "certificate_serial": format(cert.serial_number, "x"),
            "rule": "SIGN-001",
        },
    )
    return JSONResponse(
        {
            "credential_id": credential.credential_id,
            "subject": cert.subject.human_friendly,
            "serial_number": format(cert.serial_number, "x"),
            "not_after": cert.not_valid_after.isoformat(),
            "certificate": pem.armor("CERTIFICATE", credential.certificate_der).decode(),
        },
        status_code=201,
    )


@router.get("/v1/credentials")
async def list_credentials(principal: Person, services: ServicesDep) -> dict[str, Any]:
    credentials = await services.credentials.of(principal.subject)
    return {
        "credentials": [
            {
                "credential_id": c.credential_id,
                "subject": c.certificate.subject.human_friendly,
                "not_after": c.certificate.not_valid_after.isoformat(),
            }
            for c in credentials
        ]
    }


@router.post("/v1/devices:pair")
async def pair_device(
    principal: CscCredential, services: ServicesDep, auditor: AuditorDep
) -> dict[str, Any]:
    """A one-time link (five minutes) to open on the phone that will approve signatures (for an
    app granted the ``credential`` scope).

    After a login with the second factor at most ten minutes old the link works at once
    (``confirmation: "second-factor"``). Otherwise one of the person's registered devices must
    confirm it first (``confirmation: "device"``: the request is announced to it, with
    ``check_code``, which the new phone's page shows too); a person with no device yet gets a 401
    step-up challenge (RFC 9470: ``acr_values="2"``, ``max_age``) to log in again with the OTP."""
    approvals = services.approvals
    code, record = await approvals.start_pairing(principal)
    confirmation = "second-factor" if record["confirmed"] else "device"
    await auditor.record(
        EventTag.SIGNING_APPROVAL_REQUEST,
        target={
            "kind": PAIRING,
            "confirmation": confirmation,
            **(
                {"approval": approval_reference(record["approval_id"])}
                if "approval_id" in record
                else {}
            ),
        },
    )
    return {
        "pairing_url": f"{approvals.origin}/approve/pair/{code}",
        "expires_in": PAIRING_SECONDS,
        "confirmation": confirmation,
        "check_code": record["check_code"],
    }


@router.get("/v1/devices")
async def list_devices(principal: Person, services: ServicesDep) -> dict[str, Any]:
    devices = await services.approvals.devices(principal.subject)
    return {"devices": [{"label": d.label, "registered_at": d.created_at} for d in devices]}
