"""The signing service's HTTP API. Routes are thin: read, authorise, call the domain, audit, answer.

Every signature and verification is an audit event, recorded *before* the result is returned; if the
audit trail cannot record it, the caller gets 503 and no signed document (fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as redis_async
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from redis.exceptions import RedisError
from starlette.datastructures import UploadFile

from audit import Actor, AuditEvent, AuditTrail, EventTag, Outcome, RedisAuditTrail
from audit.producers import ProducerKeyError
from audit.spool import SpoolingAuditTrail
from gateway_runtime import AccessTokenVerifier, Principal, configure_logging, install_http_runtime
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.keystore import TokenKeystore
from policies.signing import default_signing_policy
from signing_service.appearance import VisibleStamp
from signing_service.approvals import Approvals, LogNotifier, WebhookNotifier
from signing_service.batches import BatchOwner, BatchRunner, BatchStore
from signing_service.credentials import CredentialStore, HttpEnrolmentCa
from signing_service.csc import CscDialect
from signing_service.documents import UntrustedDocument, sha256_hex
from signing_service.errors import (
    BatchNotFound,
    CredentialNotFound,
    DocumentTooLarge,
    InvalidBatch,
    SigningError,
    TimestampUnavailable,
    UnsupportedMediaType,
)
from signing_service.keystore import TokenEventSealer, TokenGate, token_pdf_signer
from signing_service.remote import (
    authorise_caller,
    authorise_signing,
    install_remote_signing,
    person_document_signer,
)
from signing_service.sandbox import DocumentSandbox, inspect_document
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from signing_service.verification import (
    VerificationReport,
    load_trust_store,
    verify_document_in_worker,
)
from signing_service.verify_page import PAGE_HEADERS, error_page, form_page, result_page

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
        gate = TokenGate(keystore)
        if not await gate.run(keystore.has_secret_key, settings.audit_mac_key_label):
            # Fail closed at start rather than at every audited request (503s).
            raise ProducerKeyError(
                f"the token has no key {settings.audit_mac_key_label!r} to seal audit events: "
                "import it (docs/architecture.md, Production) or set SIGNING_AUDIT_MAC_KEY_LABEL"
            )
        signer = token_pdf_signer(gate, settings.key_label, certificate, chain)
        client = redis_async.Redis.from_url(
            settings.redis_url,
            username=settings.redis_username,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        app.state.keystore = keystore
        app.state.gate = gate
        app.state.chain = chain
        app.state.signing_policy = default_signing_policy()
        app.state.certificate_authority = (
            HttpEnrolmentCa(settings.ca_enrol_url, settings.ca_enrol_token.get_secret_value())
            if settings.ca_enrol_url and settings.ca_enrol_token
            else None
        )
        app.state.credentials = CredentialStore(client)
        app.state.person_signers = {}
        app.state.csc = CscDialect(max_hashes=settings.max_hashes_per_approval)
        app.state.approvals = Approvals(
            client,
            public_url=settings.public_url,
            notifier=WebhookNotifier(settings.approval_webhook_url)
            if settings.approval_webhook_url
            else LogNotifier(),
            approval_seconds=settings.approval_seconds,
            sad_seconds=settings.sad_seconds,
        )
        app.state.trust_roots = load_trust_store(settings.trust_store)
        app.state.trust_roots_der = [root.dump() for root in app.state.trust_roots]
        app.state.document_signer = DocumentSigner(
            signer,
            key_label=settings.key_label,
            trust_roots=app.state.trust_roots,
            tsa_url=settings.tsa_url,
        )
        sealer = TokenEventSealer(gate, settings.audit_mac_key_label)
        trail = SpoolingAuditTrail(RedisAuditTrail(client, sealer), settings.audit_spool_dir)
        app.state.trail = trail
        trail.start()
        app.state.batches = BatchStore(client, settings.batch_dir)
        app.state.sandbox = DocumentSandbox(
            workers=settings.document_workers,
            memory_budget_bytes=settings.document_memory_budget_bytes,
            timeout_seconds=settings.document_timeout_seconds,
        )
        app.state.redis = client
        app.state.token_verifier = AccessTokenVerifier(
            issuer=settings.keycloak_issuer, audience=settings.client_id
        )

        async def personal_signer(credential_id: str) -> DocumentSigner:
            credential = await app.state.credentials.get(credential_id)
            if credential is None:
                raise CredentialNotFound()
            return person_document_signer(app.state, credential)

        runner = BatchRunner(
            app.state.batches,
            app.state.document_signer,
            app.state.trail,
            personal_signer=personal_signer,
        )
        app.state.batch_runner = runner
        runner.start()
        try:
            yield
        finally:
            await runner.stop()
            await trail.stop()
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
        unit = getattr(request.state, "principal_unit", None)
        if unit and event.unit is None:  # the signer's unit: their district's officer sees it
            event = event.model_copy(update={"unit": unit})
        await trail.record(event)

    install_remote_signing(app, settings, record)

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
        document_type: Annotated[
            str | None,
            Query(
                pattern=r"^[a-z][a-z0-9-]{1,40}$",
                description="Loại văn bản trong chính sách ký (policies/signing.yaml)",
            ),
        ] = None,
        credential: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9a-f]{32}$",
                description="Khoá ký cá nhân (người ký phê duyệt trên điện thoại)",
            ),
        ] = None,
    ) -> Response:
        """Sign a PDF: with the organisation seal (apps), or with a person's own key.

        A person's token must name one of their credentials; the service then waits for their
        approval on their registered phone, bound to this document's hash (SCAL2). With
        ``document_type`` the signing policy decides whether this signer may fill the document's
        next step (counted from the signatures it already holds) and whether that step certifies.
        """
        source = client_address(request)
        await authorise_caller(
            request, principal, document_type=document_type, credential_id=credential, record=record
        )
        signer: DocumentSigner = request.app.state.document_signer
        if not signer.supports(level):
            raise TimestampUnavailable(f"level {level.value} needs a TSA")
        document = await read_document(request, settings.max_document_bytes)
        sandbox: DocumentSandbox = request.app.state.sandbox
        facts = await sandbox.run(inspect_document, document, settings.max_pdf_objects)
        allowed = await authorise_signing(
            request,
            principal,
            document_type=document_type,
            credential_id=credential,
            prior_signatures=[facts.signatures],
            digests=[hashlib.sha256(document).digest()],
            description=f"{document_type or ''}: {reason or ''}".strip(": "),
            certify=certify,
            record=record,
        )
        if allowed.credential is not None:
            signer = person_document_signer(request.app.state, allowed.credential)
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
                level=level,
                reason=reason,
                location=location,
                certify=allowed.certify,
                stamp=stamp,
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
                    **allowed.target,
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

    @app.post("/v1/batches", tags=["batches"], status_code=202)
    async def create_batch(
        request: Request,
        principal: CurrentPrincipal,
        idempotency_key: Annotated[
            str, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9._:-]{8,128}$")
        ],
        level: Annotated[SignatureLevel, Query()] = SignatureLevel.B_B,
        reason: Annotated[str | None, Query(max_length=200)] = None,
        certify: Annotated[bool, Query()] = False,
        document_type: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{1,40}$")] = None,
        credential: Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")] = None,
    ) -> JSONResponse:
        """Sign many documents (multipart field ``documents``, one file each) in the background.

        A person's batch (a class's transcripts) is approved once on their phone, the approval
        covering every document's SHA-256, before it is accepted.
        """
        await authorise_caller(
            request, principal, document_type=document_type, credential_id=credential, record=record
        )
        store: BatchStore = request.app.state.batches
        owner = BatchOwner(principal.client_id, principal.subject, principal.actor)
        existing = await store.find_by_key(owner, idempotency_key)
        if existing is not None:
            return JSONResponse(await store.status(existing), status_code=200)
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            raise InvalidBatch("a Content-Length header is required")
        if int(declared) > settings.max_batch_bytes:
            raise DocumentTooLarge(f"a batch may hold {settings.max_batch_bytes} bytes")
        form = await request.form(max_files=settings.max_batch_documents, max_fields=5)
        uploads = [item for item in form.getlist("documents") if isinstance(item, UploadFile)]
        if not uploads:
            raise InvalidBatch("no file in the multipart field 'documents'")
        sandbox: DocumentSandbox = request.app.state.sandbox
        documents: list[tuple[str, bytes]] = []
        refused: dict[int, str] = {}
        prior: dict[int, int] = {}
        seen: set[str] = set()
        for index, upload in enumerate(uploads):
            document_id = Path(upload.filename or "").name[:100] or f"document-{index + 1}"
            if document_id in seen:
                raise InvalidBatch(f"document id {document_id!r} appears twice")
            seen.add(document_id)
            content = await upload.read(settings.max_document_bytes + 1)
            await upload.close()
            if len(content) > settings.max_document_bytes:
                refused[index] = DocumentTooLarge.code
                content = b""
            else:
                try:
                    facts = await sandbox.run(inspect_document, content, settings.max_pdf_objects)
                    prior[index] = facts.signatures
                except SigningError as exc:
                    refused[index] = exc.code
            documents.append((document_id, content))
        allowed = await authorise_signing(
            request,
            principal,
            document_type=document_type,
            credential_id=credential,
            prior_signatures=list(prior.values()),
            digests=[hashlib.sha256(documents[i][1]).digest() for i in prior],
            description=f"{document_type or ''}: {len(prior)} tài liệu {reason or ''}".strip(": "),
            certify=certify,
            record=record,
        )
        batch_request = SignatureRequest(level=level, reason=reason, certify=allowed.certify)
        batch_id, created = await store.create(
            owner,
            idempotency_key,
            batch_request,
            documents,
            refused,
            credential_id=allowed.credential.credential_id if allowed.credential else None,
        )
        if created:
            await record(
                request,
                AuditEvent.build(
                    tag=EventTag.SIGNING_BATCH_CREATE,
                    service=SERVICE,
                    actor=_actor(principal),
                    outcome=Outcome.SUCCESS,
                    target={
                        "batch_id": batch_id,
                        "documents": str(len(documents)),
                        "refused": str(len(refused)),
                        "level": level.value,
                        **allowed.target,
                    },
                    source=client_address(request),
                    correlation_id=request.state.request_id,
                ),
            )
            request.app.state.batch_runner.wake()
        return JSONResponse(await store.status(batch_id), status_code=202 if created else 200)

    async def _owned_batch(request: Request, principal: Principal, batch_id: str) -> BatchStore:
        store: BatchStore = request.app.state.batches
        header = await store.header(batch_id)
        if (
            not header
            or header.get("owner_client") != principal.client_id
            or header.get("owner_subject") != principal.subject
        ):
            raise BatchNotFound()
        return store

    @app.get("/v1/batches/{batch_id}", tags=["batches"])
    async def batch_status(
        request: Request,
        principal: CurrentPrincipal,
        batch_id: Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{32}$")],
    ) -> dict[str, Any]:
        store = await _owned_batch(request, principal, batch_id)
        status = await store.status(batch_id)
        assert status is not None  # noqa: S101 - _owned_batch found its header
        return status

    @app.get(
        "/v1/batches/{batch_id}/documents/{index}",
        tags=["batches"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def batch_document(
        request: Request,
        principal: CurrentPrincipal,
        batch_id: Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{32}$")],
        index: Annotated[int, FastApiPath(ge=0, le=1_000_000)],
    ) -> Response:
        store = await _owned_batch(request, principal, batch_id)
        documents = await store.documents(batch_id)
        if index >= len(documents) or documents[index]["status"] != "signed":
            raise BatchNotFound(f"document {index} is not signed (yet)")
        return FileResponse(store.output_path(batch_id, index), media_type="application/pdf")

    async def verify_in_sandbox(
        request: Request, document: UntrustedDocument
    ) -> VerificationReport:
        """Verify in a sandboxed worker (trust anchors passed as DER, encoded once at start-up)."""
        sandbox: DocumentSandbox = request.app.state.sandbox
        return await sandbox.run(
            verify_document_in_worker,
            document,
            request.app.state.trust_roots_der,
            settings.revocation_cache_seconds,
        )

    async def _rate_limited(request: Request) -> bool:
        """True if this address made more than ``public_verify_per_minute`` checks this minute."""
        address = request.client.host if request.client else "unknown"
        key = f"verify-rate:{address}:{int(time.time() // 60)}"
        try:
            count = await request.app.state.redis.incr(key)
            await request.app.state.redis.expire(key, 120)
        except (RedisError, OSError):
            return True  # fail closed: no counter, no anonymous work
        return int(count) > settings.public_verify_per_minute

    @app.get("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_form(ref: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
        return HTMLResponse(form_page(ref), headers=PAGE_HEADERS)

    @app.post("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_upload(request: Request) -> HTMLResponse:
        if await _rate_limited(request):
            return HTMLResponse(
                error_page("Quá nhiều yêu cầu, vui lòng thử lại sau.", "Too many requests."),
                status_code=429,
                headers=PAGE_HEADERS,
            )
        declared = request.headers.get("content-length")
        if (
            declared is None
            or not declared.isdigit()
            or int(declared) > settings.max_document_bytes
        ):
            error = DocumentTooLarge()
            return HTMLResponse(
                error_page(error.message_vi, error.message_en),
                status_code=413,
                headers=PAGE_HEADERS,
            )
        form = await request.form(max_files=1, max_fields=2)
        upload = form.get("document")
        if not isinstance(upload, UploadFile):
            return HTMLResponse(
                error_page("Chưa chọn tệp PDF.", "No PDF file was chosen."),
                status_code=400,
                headers=PAGE_HEADERS,
            )
        document = UntrustedDocument(await upload.read(settings.max_document_bytes + 1))
        try:
            report = await verify_in_sandbox(request, document)
        except SigningError as exc:
            return HTMLResponse(
                error_page(exc.message_vi, exc.message_en),
                status_code=exc.status_code,
                headers=PAGE_HEADERS,
            )
        await record(
            request,
            AuditEvent.build(
                tag=EventTag.SIGNING_DOCUMENT_VERIFY,
                service=SERVICE,
                actor=Actor(name="anonymous"),
                outcome=Outcome.SUCCESS,
                target={
                    "document_sha256": sha256_hex(document),
                    "indication": report.indication.value,
                    "channel": "public-page",
                    "reference": str(form.get("ref") or "")[:32],
                },
                source=client_address(request),
                correlation_id=request.state.request_id,
            ),
        )
        return HTMLResponse(result_page(report), headers=PAGE_HEADERS)

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
        report = await verify_in_sandbox(request, document)
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
