"""The signing service's HTTP API. Routes are thin: read, authorise, call the domain, audit, answer.

Every signature and verification is an audit event, recorded *before* the result is returned; if the
audit trail cannot record it, the caller gets 503 and no signed document (fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import redis.asyncio as redis_async
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from audit import Actor, AuditEvent, AuditTrail, EventTag, Outcome, RedisAuditTrail
from gateway_runtime import AccessTokenVerifier, Principal, configure_logging, install_http_runtime
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.keystore import TokenKeystore
from gateway_runtime.tokens import Forbidden
from signing_service.appearance import VisibleStamp
from signing_service.documents import UntrustedDocument, sha256_hex
from signing_service.errors import DocumentTooLarge, TimestampUnavailable, UnsupportedMediaType
from signing_service.keystore import token_pdf_signer
from signing_service.sandbox import DocumentSandbox, inspect_document
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from signing_service.verification import load_trust_store, verify_document_in_worker

SERVICE = "signing"
SIGN_ROLE = "sign"
VERIFY_ROLE = "verify"


def _load_certificate(path: Any) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


async def read_document(request: Request, limit: int) -> UntrustedDocument:
    """Read a PDF request body, refusing other media types and anything over ``limit`` bytes."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in {"application/pdf", "application/octet-stream"}:
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(f"limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(f"limit is {limit} bytes")
        chunks.append(chunk)
    return UntrustedDocument(b"".join(chunks))


def _actor(principal: Principal) -> Actor:
    return Actor(name=principal.actor, client_id=principal.client_id, subject=principal.subject)


def create_app(settings: SigningSettings | None = None) -> FastAPI:
    settings = settings or SigningSettings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keystore = TokenKeystore(
            module=settings.pkcs11_module,
            token_label=settings.token_label,
            user_pin=settings.user_pin.get_secret_value(),
        )
        certificate = _load_certificate(settings.certificate_path)
        chain = [_load_certificate(p) for p in settings.chain_paths]
        signer = token_pdf_signer(keystore, settings.key_label, certificate, chain)
        client = redis_async.Redis.from_url(
            settings.redis_url,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        app.state.keystore = keystore
        app.state.trust_roots = load_trust_store(settings.trust_store)
        app.state.document_signer = DocumentSigner(
            signer,
            key_label=settings.key_label,
            trust_roots=app.state.trust_roots,
            tsa_url=settings.tsa_url,
        )
        app.state.trail = RedisAuditTrail(client)
        app.state.sandbox = DocumentSandbox(
            workers=settings.document_workers,
            memory_budget_bytes=settings.document_memory_budget_bytes,
            timeout_seconds=settings.document_timeout_seconds,
        )
        app.state.redis = client
        app.state.token_verifier = AccessTokenVerifier(
            issuer=settings.keycloak_issuer, audience=settings.client_id
        )
        try:
            yield
        finally:
            await app.state.token_verifier.aclose()
            await app.state.document_signer.aclose()
            await client.aclose()
            keystore.close()
            app.state.sandbox.close()

    app = FastAPI(
        title="Dịch vụ ký số (Signing service)",
        version="0.1.0",
        lifespan=lifespan,
        description="Ký và xác minh chữ ký PAdES trên tài liệu PDF. "
        "PAdES signing and verification of PDF documents.",
    )
    install_http_runtime(app, service=SERVICE)

    async def record(request: Request, event: AuditEvent) -> None:
        trail: AuditTrail = request.app.state.trail
        await trail.record(event)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(request.app.state.keystore.session)
            checks["key_store"] = "up"
        except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
            checks["key_store"] = "down"
        try:
            await request.app.state.redis.ping()
            checks["audit_stream"] = "up"
        except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
            checks["audit_stream"] = "down"
        ok = all(v == "up" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
        )

    @app.post(
        "/v1/documents:sign",
        tags=["signing"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/pdf": {"schema": {}}}}
        },
    )
    async def sign_document(
        request: Request,
        principal: CurrentPrincipal,
        level: Annotated[SignatureLevel, Query()] = SignatureLevel.B_B,
        reason: Annotated[str | None, Query(max_length=200)] = None,
        location: Annotated[str | None, Query(max_length=200)] = None,
        certify: Annotated[bool, Query(description="Chữ ký chứng thực (DocMDP)")] = False,
        visible: Annotated[bool, Query(description="Hiển thị dấu chữ ký và mã QR")] = False,
        title: Annotated[str, Query(max_length=80)] = "",
        unit: Annotated[str, Query(max_length=120)] = "",
        page: Annotated[int, Query(ge=-1, le=100_000)] = -1,
    ) -> Response:
        source = client_address(request)
        try:
            principal.require(SIGN_ROLE)
        except Forbidden:
            await record(
                request,
                AuditEvent.build(
                    tag=EventTag.SIGNING_REQUEST_REFUSED,
                    service=SERVICE,
                    actor=_actor(principal),
                    outcome=Outcome.FAILURE,
                    reason=f"missing role {SIGN_ROLE}",
                    source=source,
                    correlation_id=request.state.request_id,
                ),
            )
            raise
        signer: DocumentSigner = request.app.state.document_signer
        if not signer.supports(level):
            raise TimestampUnavailable(f"level {level.value} needs a TSA")
        document = await read_document(request, settings.max_document_bytes)
        sandbox: DocumentSandbox = request.app.state.sandbox
        await sandbox.run(inspect_document, document, settings.max_pdf_objects)
        reference = uuid.uuid4().hex
        stamp = (
            VisibleStamp(
                signer=signer.signer_name,
                title=title,
                unit=unit,
                verify_url=f"{settings.public_url.rstrip('/')}/verify?ref={reference}",
                page=page,
            )
            if visible
            else None
        )
        signed = await signer.sign(
            document,
            SignatureRequest(
                level=level, reason=reason, location=location, certify=certify, stamp=stamp
            ),
        )
        await record(
            request,
            AuditEvent.build(
                tag=EventTag.SIGNING_DOCUMENT_SIGN,
                service=SERVICE,
                actor=_actor(principal),
                outcome=Outcome.SUCCESS,
                target={
                    "document_sha256": signed.input_sha256,
                    "signed_sha256": signed.output_sha256,
                    "key_label": signer.key_label,
                    "level": signed.level.value,
                    "field": signed.field_name,
                    "certified": str(signed.certified).lower(),
                    "reference": reference,
                },
                source=source,
                correlation_id=request.state.request_id,
            ),
        )
        return Response(
            signed.content,
            media_type="application/pdf",
            headers={
                "X-Document-SHA256": signed.output_sha256,
                "X-Signature-Field": signed.field_name,
                "X-Document-Reference": reference,
            },
        )

    @app.post(
        "/v1/documents:verify",
        tags=["verification"],
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/pdf": {"schema": {}}}}
        },
    )
    async def verify(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        principal.require(VERIFY_ROLE)
        document = await read_document(request, settings.max_document_bytes)
        sandbox: DocumentSandbox = request.app.state.sandbox
        roots_der = [root.dump() for root in request.app.state.trust_roots]
        report = await sandbox.run(verify_document_in_worker, document, roots_der)
        await record(
            request,
            AuditEvent.build(
                tag=EventTag.SIGNING_DOCUMENT_VERIFY,
                service=SERVICE,
                actor=_actor(principal),
                outcome=Outcome.SUCCESS,
                target={
                    "document_sha256": sha256_hex(document),
                    "indication": report.indication.value,
                    "signatures": str(len(report.signatures)),
                },
                source=client_address(request),
                correlation_id=request.state.request_id,
            ),
        )
        return dataclasses.asdict(report)

    return app
