"""Routes for personal keys and remote signing: enrolment, device pairing, approvals and CSC v2.

- ``POST /v1/credentials``: a person enrols a personal signing key (generated in the token,
  certified by the CA, bound to their Keycloak user id); ``GET /v1/credentials`` lists theirs.
- ``POST /v1/devices:pair``: a one-time link to register a phone (passkey) for approvals.
- ``/approve/...``: the phone pages (pairing, approving or refusing one request).
- ``/csc/v2/...``: the CSC API, see :mod:`signing_service.csc`.

Every enrolment, pairing, approval request, decision and hash signature is an audit event, recorded
before the answer leaves (fail closed: no audit, no signature).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from asn1crypto import pem
from fastapi import FastAPI, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, JSONResponse, Response

from audit import Actor, AuditEvent, EventTag, Outcome
from gateway_runtime.errors import GatewayError
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.tokens import Forbidden, Principal
from policies.signing import SEAL, SigningPolicy, SigningRefused
from signing_service.approval_page import PAGE_HEADERS, approval_page, gone_page, pairing_page
from signing_service.approvals import Approvals
from signing_service.credentials import CertificateAuthority, Credential, enrol
from signing_service.csc import HASH_ALGORITHMS, CscDialect
from signing_service.errors import (
    ApprovalNotFound,
    CertificateAuthorityUnavailable,
    InvalidCscRequest,
)
from signing_service.keystore import TokenGate, token_pdf_signer
from signing_service.preparation import FieldLock
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner

SERVICE = "signing"
SIGN_ROLE = "sign"
SERVICE_SCOPE = "service"
CREDENTIAL_SCOPE = "credential"
_MAX_JSON = 1024 * 1024
_ID = r"^[A-Za-z0-9_-]{16,64}$"
SHA256_OID = "2.16.840.1.101.3.4.2.1"

Record = Callable[[Request, AuditEvent], Awaitable[None]]


async def read_json(request: Request, limit: int = _MAX_JSON) -> dict[str, Any]:
    """A JSON object body of at most ``limit`` bytes, else a 400/413 with the reason."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidCscRequest(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks) or b"{}"
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCscRequest("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise InvalidCscRequest("the body must be a JSON object")
    return body


def _actor(principal: Principal) -> Actor:
    return Actor(name=principal.actor, client_id=principal.client_id, subject=principal.subject)


def _person(principal: Principal, *scopes: str) -> None:
    if not principal.is_person:
        raise Forbidden("personal keys belong to people; a service account has none")
    for scope in scopes:
        principal.require_scope(scope)


def event(
    request: Request,
    tag: EventTag,
    actor: Actor,
    target: dict[str, str],
    outcome: Outcome = Outcome.SUCCESS,
    reason: str | None = None,
) -> AuditEvent:
    return AuditEvent.build(
        tag=tag,
        service=SERVICE,
        actor=actor,
        outcome=outcome,
        target=target,
        reason=reason,
        source=client_address(request),
        correlation_id=request.state.request_id,
    )


def state(request: Request) -> Any:
    return request.app.state


async def refuse(
    request: Request, principal: Principal, operation: str, refusal: SigningRefused, record: Record
) -> None:
    """Record a refusal under the signing policy (the caller re-raises it)."""
    await record(
        request,
        event(
            request,
            EventTag.SIGNING_REQUEST_REFUSED,
            _actor(principal),
            {"operation": operation, "rule": refusal.rule},
            Outcome.FAILURE,
            refusal.rule,
        ),
    )


async def check_signer(
    request: Request, principal: Principal, operation: str, record: Record
) -> None:
    """SIGN-001: only people in signer roles hold and use personal keys (audited refusal)."""
    policy: SigningPolicy = state(request).signing_policy
    try:
        policy.check_enrolment(principal.realm_roles)
    except SigningRefused as refusal:
        await refuse(request, principal, operation, refusal, record)
        raise


@dataclass(frozen=True)
class SigningAuthorisation:
    """What the policy and the signer's approval allow for one request (a document or a batch)."""

    certify: bool
    credential: Credential | None
    #: Audit fields: document type, step, rule, credential and approval ids.
    target: dict[str, str]
    #: What the signature locks, and whether active content may be signed (the step's policy).
    lock: FieldLock = FieldLock.FIELDS
    allow_active_content: bool = False


async def authorise_caller(
    request: Request,
    principal: Principal,
    *,
    document_type: str | None,
    credential_id: str | None,
    record: Record,
) -> None:
    """Before a document is read: may this caller sign at all? (Audited refusal otherwise.)"""
    if principal.is_person:
        if document_type is None or credential_id is None:
            raise Forbidden("a person signs with their own key: give document_type and credential")
        await check_signer(request, principal, "sign", record)
    else:
        try:
            principal.require(SIGN_ROLE)
        except Forbidden:
            await record(
                request,
                event(
                    request,
                    EventTag.SIGNING_REQUEST_REFUSED,
                    _actor(principal),
                    {"operation": "sign"},
                    Outcome.FAILURE,
                    f"missing role {SIGN_ROLE}",
                ),
            )
            raise


async def authorise_signing(
    request: Request,
    principal: Principal,
    *,
    document_type: str | None,
    credential_id: str | None,
    prior_signatures: list[int],
    digests: list[bytes],
    description: str,
    certify: bool,
    record: Record,
) -> SigningAuthorisation:
    """Apply the signing policy to every document, then, for a person, get their approval.

    Call :func:`authorise_caller` first, before reading the documents. Apps sign with the organisation seal and need the service's ``sign`` role; people sign with
    their own key (``credential_id``) and must say what they sign (``document_type``). With a
    document type, each document's next step is counted from the signatures it already holds; one
    request fills one step. A person's approval on their phone covers the SHA-256 of every
    document, and is spent at once (SCAL2, sole control).
    """
    target: dict[str, str] = {}
    lock = FieldLock.FIELDS
    allow_active_content = False
    if document_type is not None:
        policy: SigningPolicy = state(request).signing_policy
        roles = principal.realm_roles if principal.is_person else frozenset({SEAL})
        # A person approves on a registered device with user verification: a second factor for
        # the signature act itself (SCAL2). An app counts at its token's ACR.
        loa = 2 if principal.is_person else level_of_assurance(principal)
        steps = set()
        for index, prior in enumerate(prior_signatures):
            try:
                step = policy.check_signature(
                    document_type, roles=roles, loa=loa, prior_signatures=prior
                )
            except SigningRefused as refusal:
                await refuse(request, principal, "sign", refusal, record)
                if len(prior_signatures) > 1:
                    raise SigningRefused(
                        refusal.rule, f"document {index}: {refusal.detail}"
                    ) from None
                raise
            steps.add(prior)
            certify = certify or step.certify
            lock = FieldLock(step.lock)
        allow_active_content = policy.document_type(document_type).active_content == "allow"
        if len(steps) > 1:
            raise InvalidCscRequest("the documents of one batch must all be at the same step")
        target = {
            "document_type": document_type,
            "step": str(steps.pop() + 1) if steps else "1",
            "rule": "SIGN-003",
        }
    if not principal.is_person:
        return SigningAuthorisation(certify, None, target, lock, allow_active_content)
    assert credential_id is not None  # noqa: S101 - checked above for people
    credential = await state(request).credentials.owned(principal, credential_id)
    approvals: Approvals = state(request).approvals
    hashes = [base64.b64encode(d).decode() for d in digests]
    pending = await approvals.request(
        principal,
        credential_id=credential.credential_id,
        hash_algorithm=SHA256_OID,
        hashes=hashes,
        description=description,
    )
    await record(
        request,
        event(
            request,
            EventTag.SIGNING_APPROVAL_REQUEST,
            _actor(principal),
            {
                "approval_id": pending.approval_id,
                "credential_id": credential.credential_id,
                "documents": str(len(hashes)),
                "hashes_sha256": CscDialect.hashes_digest(hashes),
            },
        ),
    )
    sad = await approvals.wait(pending)
    await approvals.consume(
        sad,
        credential_id=credential.credential_id,
        owner=principal.subject,
        hash_algorithm=SHA256_OID,
        hashes=hashes,
    )
    target |= {"credential_id": credential.credential_id, "approval_id": pending.approval_id}
    return SigningAuthorisation(certify, credential, target, lock, allow_active_content)


def level_of_assurance(principal: Principal) -> int:
    """Keycloak's ACR as a level of assurance (``"1"`` password, ``"2"`` second factor)."""
    return int(principal.acr) if principal.acr and principal.acr.isdigit() else 0


def person_document_signer(app_state: Any, credential: Credential) -> DocumentSigner:
    """A document signer over a person's token key (kept per credential, a few hundred at most)."""
    cache: dict[str, DocumentSigner] = app_state.person_signers
    signer = cache.get(credential.credential_id)
    if signer is None:
        if len(cache) >= 256:
            cache.pop(next(iter(cache)))
        seal: DocumentSigner = app_state.document_signer
        signer = seal.with_signer(
            token_pdf_signer(
                app_state.gate,
                credential.key_label,
                credential.certificate,
                app_state.chain,
            ),
            key_label=credential.key_label,
        )
        cache[credential.credential_id] = signer
    return signer


def install_remote_signing(app: FastAPI, settings: SigningSettings, record: Record) -> None:
    # -- enrolment ---------------------------------------------------------------------------
    @app.post("/v1/credentials", tags=["remote signing"], status_code=201)
    async def enrol_credential(request: Request, principal: CurrentPrincipal) -> JSONResponse:
        """Enrol a personal signing key for the calling person (key generated in the token)."""
        _person(principal)
        await check_signer(request, principal, "enrol", record)
        ca: CertificateAuthority | None = state(request).certificate_authority
        if ca is None:
            raise CertificateAuthorityUnavailable("no CA registration endpoint is configured")
        credential = await enrol(principal, state(request).gate, ca, state(request).credentials)
        cert = credential.certificate
        await record(
            request,
            event(
                request,
                EventTag.SIGNING_CREDENTIAL_ENROL,
                _actor(principal),
                {
                    "credential_id": credential.credential_id,
                    "key_label": credential.key_label,
                    "certificate_serial": format(cert.serial_number, "x"),
                    "rule": "SIGN-001",
                },
            ),
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

    @app.get("/v1/credentials", tags=["remote signing"])
    async def list_credentials(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        _person(principal)
        credentials = await state(request).credentials.of(principal.subject)
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

    # -- devices -----------------------------------------------------------------------------
    @app.post("/v1/devices:pair", tags=["remote signing"])
    async def pair_device(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        """A one-time link (five minutes) to open on the phone that will approve signatures."""
        _person(principal)
        approvals: Approvals = state(request).approvals
        code, lifetime = await approvals.start_pairing(principal)
        return {"pairing_url": f"{approvals.origin}/approve/pair/{code}", "expires_in": lifetime}

    @app.get("/v1/devices", tags=["remote signing"])
    async def list_devices(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        _person(principal)
        devices = await state(request).approvals.devices(principal.subject)
        return {"devices": [{"label": d.label, "registered_at": d.created_at} for d in devices]}

    def _gone(error: GatewayError) -> HTMLResponse:
        return HTMLResponse(
            gone_page(error.message_vi, error.message_en),
            status_code=error.status_code,
            headers=PAGE_HEADERS,
        )

    @app.get("/approve/pair/{code}", response_class=HTMLResponse, include_in_schema=False)
    async def pairing(
        request: Request, code: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> HTMLResponse:
        try:
            record_ = await state(request).approvals.pairing(code)
        except ApprovalNotFound as exc:
            return _gone(exc)
        return HTMLResponse(pairing_page(code, record_["name"]), headers=PAGE_HEADERS)

    @app.post("/approve/pair/{code}/options", include_in_schema=False)
    async def pairing_options(
        request: Request, code: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> Response:
        options = await state(request).approvals.pairing_options(code)
        return Response(options, media_type="application/json", headers=PAGE_HEADERS)

    @app.post("/approve/pair/{code}", include_in_schema=False, status_code=201)
    async def pairing_finish(
        request: Request, code: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> JSONResponse:
        body = await read_json(request, 64 * 1024)
        credential = body.get("credential")
        if not isinstance(credential, dict):
            raise InvalidCscRequest("missing credential")
        device = await state(request).approvals.finish_pairing(
            code, credential, str(body.get("label") or "")
        )
        await record(
            request,
            event(
                request,
                EventTag.SIGNING_DEVICE_REGISTER,
                Actor(name="device", subject=device.owner),
                {"device_id": device.device_id[:64]},
            ),
        )
        return JSONResponse({"status": "paired"}, status_code=201, headers=PAGE_HEADERS)

    # -- approvals ---------------------------------------------------------------------------
    @app.get("/approve/{approval_id}", response_class=HTMLResponse, include_in_schema=False)
    async def approval(
        request: Request, approval_id: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> HTMLResponse:
        try:
            pending = await state(request).approvals.pending(approval_id)
        except ApprovalNotFound as exc:
            return _gone(exc)
        return HTMLResponse(approval_page(pending), headers=PAGE_HEADERS)

    @app.post("/approve/{approval_id}/options", include_in_schema=False)
    async def approval_options(
        request: Request, approval_id: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> Response:
        options = await state(request).approvals.approval_options(approval_id)
        return Response(options, media_type="application/json", headers=PAGE_HEADERS)

    async def _decided(request: Request, approval_id: str, approved: bool) -> JSONResponse:
        approvals: Approvals = state(request).approvals
        if approved:
            assertion = await read_json(request, 64 * 1024)
            decided = await approvals.approve(approval_id, assertion)
        else:
            decided = await approvals.deny(approval_id)
        verdict = "approved" if approved else "refused"
        await record(
            request,
            event(
                request,
                EventTag.SIGNING_APPROVAL_DECIDE,
                Actor(name="device", subject=decided.owner),
                {
                    "approval_id": decided.approval_id,
                    "credential_id": decided.credential_id,
                    "decision": verdict,
                    "hashes_sha256": CscDialect.hashes_digest(decided.hashes),
                },
                Outcome.SUCCESS if approved else Outcome.FAILURE,
            ),
        )
        return JSONResponse({"status": verdict}, headers=PAGE_HEADERS)

    @app.post("/approve/{approval_id}", include_in_schema=False)
    async def approve(
        request: Request, approval_id: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> JSONResponse:
        return await _decided(request, approval_id, approved=True)

    @app.post("/approve/{approval_id}/deny", include_in_schema=False)
    async def deny(
        request: Request, approval_id: Annotated[str, FastApiPath(pattern=_ID)]
    ) -> JSONResponse:
        return await _decided(request, approval_id, approved=False)

    # -- CSC API v2 --------------------------------------------------------------------------
    @app.post("/csc/v2/info", tags=["CSC API v2"])
    async def csc_info(request: Request) -> dict[str, Any]:
        dialect: CscDialect = state(request).csc
        return dialect.info_response(
            issuer=settings.keycloak_issuer, public_url=settings.public_url
        )

    @app.post("/csc/v2/credentials/list", tags=["CSC API v2"])
    async def csc_list(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        _person(principal, SERVICE_SCOPE)
        dialect: CscDialect = state(request).csc
        query = dialect.list_request(await read_json(request), principal.subject)
        credentials = await state(request).credentials.of(principal.subject)
        return dialect.list_response(credentials, query, state(request).chain)

    @app.post("/csc/v2/credentials/info", tags=["CSC API v2"])
    async def csc_credential_info(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        _person(principal, SERVICE_SCOPE)
        dialect: CscDialect = state(request).csc
        query = dialect.info_request(await read_json(request))
        credential = await state(request).credentials.owned(principal, query.credential_id)
        return dialect.credential_info(
            credential, query.certificates, query.cert_info, state(request).chain
        )

    @app.post("/csc/v2/credentials/authorize", tags=["CSC API v2"])
    async def csc_authorize(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        """SCAL2: wait (up to ``approval_seconds``) for the signer's approval on their device."""
        _person(principal, CREDENTIAL_SCOPE)
        await check_signer(request, principal, "authorize", record)
        dialect: CscDialect = state(request).csc
        query = dialect.authorize_request(await read_json(request))
        credential = await state(request).credentials.owned(principal, query.credential_id)
        approvals: Approvals = state(request).approvals
        pending = await approvals.request(
            principal,
            credential_id=credential.credential_id,
            hash_algorithm=query.hash_algorithm,
            hashes=query.hashes,
            description=query.description,
        )
        target = {
            "approval_id": pending.approval_id,
            "credential_id": credential.credential_id,
            "hash_count": str(len(query.hashes)),
            "hashes_sha256": CscDialect.hashes_digest(query.hashes),
        }
        await record(
            request, event(request, EventTag.SIGNING_APPROVAL_REQUEST, _actor(principal), target)
        )
        sad = await approvals.wait(pending)
        return {"SAD": sad, "expiresIn": approvals.sad_seconds}

    @app.post("/csc/v2/signatures/signHash", tags=["CSC API v2"])
    async def csc_sign_hash(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        _person(principal, CREDENTIAL_SCOPE)
        dialect: CscDialect = state(request).csc
        query = dialect.sign_hash_request(await read_json(request))
        credential = await state(request).credentials.owned(principal, query.credential_id)
        await state(request).approvals.consume(
            query.sad,
            credential_id=credential.credential_id,
            owner=principal.subject,
            hash_algorithm=query.hash_algorithm,
            hashes=query.hashes,
        )
        gate: TokenGate = state(request).gate
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
        await record(request, event(request, EventTag.SIGNING_HASH_SIGN, _actor(principal), target))
        return {"signatures": [base64.b64encode(s).decode() for s in signatures]}
