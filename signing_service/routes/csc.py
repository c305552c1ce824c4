"""The CSC API v2 (``/csc/v2/``), for any CSC client (pyHanko's included): list and describe a
person's credentials, authorise (wait for the signer's approval on their phone: SCAL2) and sign
hashes. Field names of both CSC 1.0.4 and v2 clients are read by :class:`~signing_service.csc.CscDialect`.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Request

from audit import EventTag
from gateway_runtime.openapi import AUTHENTICATED, BEARER, error_responses
from signing_service.approvals import approval_reference
from signing_service.authorisation import check_signer
from signing_service.csc import HASH_ALGORITHMS, CscDialect
from signing_service.deps import AuditorDep, CscCredential, CscService, ServicesDep
from signing_service.routes.bodies import read_json

router = APIRouter(
    prefix="/csc/v2",
    tags=["CSC API v2"],
    responses=error_responses(400, *AUTHENTICATED, 404, 409, 413),
)
#: The routes that take a bearer token (``/info`` is public, as CSC says).
_SECURED = [Depends(BEARER)]


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A CSC request body (CSC API v2.0.0.2 §11; v1.0.4 names are read too, so others may come)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_STRING = {"type": "string", "minLength": 1, "maxLength": 512}
_CERTIFICATES = {"type": "string", "enum": ["none", "single", "chain"], "default": "single"}
_HASHES = {
    "type": "array",
    "minItems": 1,
    "maxItems": 2000,
    "uniqueItems": True,
    "items": {"type": "string", "format": "byte", "minLength": 1, "maxLength": 128},
    "description": "Base64 digests of the documents' signed attributes",
}
LIST_BODY = _json_body(
    {
        "userID": _STRING,
        "credentialInfo": {"type": "boolean", "default": False},
        "certificates": _CERTIFICATES,
        "onlyValid": {"type": "boolean", "default": False},
    },
    [],
)
INFO_BODY = _json_body(
    {"credentialID": _STRING, "certificates": _CERTIFICATES, "certInfo": {"type": "boolean"}},
    ["credentialID"],
)
AUTHORIZE_BODY = _json_body(
    {
        "credentialID": _STRING,
        "numSignatures": {"type": "integer", "minimum": 1, "maximum": 2000},
        "hashes": _HASHES,
        "hashAlgorithmOID": _STRING,
        "description": {"type": "string", "maxLength": 500},
    },
    ["credentialID", "hashes"],
)
SIGN_HASH_BODY = _json_body(
    {
        "credentialID": _STRING,
        "SAD": _STRING,
        "hashes": _HASHES,
        "hashAlgorithmOID": _STRING,
        "signAlgo": _STRING,
        "operationMode": {"type": "string", "enum": ["S"]},
    },
    ["credentialID", "SAD", "hashes", "signAlgo"],
)


@router.post("/info")
async def csc_info(services: ServicesDep) -> dict[str, Any]:
    settings = services.settings
    return services.csc.info_response(
        issuer=settings.keycloak_issuer, public_url=settings.public_url
    )


@router.post("/credentials/list", openapi_extra=LIST_BODY, dependencies=_SECURED)
async def csc_list(
    request: Request, principal: CscService, services: ServicesDep
) -> dict[str, Any]:
    query = services.csc.list_request(await read_json(request), principal.subject)
    credentials = await services.credentials.of(principal.subject)
    return services.csc.list_response(credentials, query, services.chain)


@router.post("/credentials/info", openapi_extra=INFO_BODY, dependencies=_SECURED)
async def csc_credential_info(
    request: Request, principal: CscService, services: ServicesDep
) -> dict[str, Any]:
    query = services.csc.info_request(await read_json(request))
    credential = await services.credentials.owned(principal, query.credential_id, usable=False)
    return services.csc.credential_info(
        credential, query.certificates, query.cert_info, services.chain
    )


@router.post("/credentials/authorize", openapi_extra=AUTHORIZE_BODY, dependencies=_SECURED)
async def csc_authorize(
    request: Request, principal: CscCredential, services: ServicesDep, auditor: AuditorDep
) -> dict[str, Any]:
    """SCAL2: wait (up to ``approval_seconds``) for the signer's approval on their device."""
    await check_signer(principal, services.signing_policy, auditor, "authorize")
    query = services.csc.authorize_request(await read_json(request))
    credential = await services.credentials.owned(principal, query.credential_id)
    approvals = services.approvals
    pending = await approvals.request(
        principal,
        credential_id=credential.credential_id,
        hash_algorithm=query.hash_algorithm,
        hashes=query.hashes,
        description=query.description,
    )
    await auditor.record(
        EventTag.SIGNING_APPROVAL_REQUEST,
        target={
            "approval": approval_reference(pending.approval_id),
            "credential_id": credential.credential_id,
            "hash_count": str(len(query.hashes)),
            "hashes_sha256": CscDialect.hashes_digest(query.hashes),
        },
    )
    sad = await approvals.wait(pending)
    return {"SAD": sad, "expiresIn": approvals.sad_seconds}


@router.post("/signatures/signHash", openapi_extra=SIGN_HASH_BODY, dependencies=_SECURED)
async def csc_sign_hash(
    request: Request, principal: CscCredential, services: ServicesDep, auditor: AuditorDep
) -> dict[str, Any]:
    query = services.csc.sign_hash_request(await read_json(request))
    credential = await services.credentials.owned(principal, query.credential_id)
    await services.approvals.consume(
        query.sad,
        credential_id=credential.credential_id,
        owner=principal.subject,
        client_id=principal.client_id,
        hash_algorithm=query.hash_algorithm,
        hashes=query.hashes,
    )
    gate = services.gate
    digest_name = HASH_ALGORITHMS[query.hash_algorithm][0]
    signatures = [
        await gate.run(gate.keystore.sign_digest, credential.key_label, digest, digest_name)
        for digest in query.digests
    ]
    target = {
        "credential_id": credential.credential_id,
        "key_label": credential.key_label,
        "hash_algorithm": digest_name,
        "hash_count": str(len(query.hashes)),
        "hashes_sha256": CscDialect.hashes_digest(query.hashes),
    }
    if len(query.hashes) <= 20:
        target["hashes"] = ",".join(query.hashes)
    await auditor.record(EventTag.SIGNING_HASH_SIGN, target=target)
    return {"signatures": [base64.b64encode(s).decode() for s in signatures]}
