"""Batches: ``POST /v1/batches`` (a class's transcripts at once), their progress and their documents."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from audit import EventTag
from gateway_runtime.http import CurrentPrincipal
from gateway_runtime.tokens import Principal
from signing_service.authorisation import require_person_request
from signing_service.batches import BatchOwner, BatchStore, triage_uploads
from signing_service.deps import AuditorDep, ServicesDep, SigningCaller
from signing_service.errors import BatchNotFound, DocumentTooLarge, InvalidBatch
from signing_service.routes.documents import CredentialId, DocumentType
from signing_service.services import Services
from signing_service.signing import SignatureLevel, SignatureRequest

router = APIRouter(tags=["batches"])

BatchId = Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{32}$")]


async def _uploads(request: Request, services: Services) -> list[tuple[str | None, bytes | None]]:
    """The multipart field ``documents``, each file read up to the size limit (``None`` beyond)."""
    settings = services.settings
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise InvalidBatch("a Content-Length header is required")
    if int(declared) > settings.max_batch_bytes:
        raise DocumentTooLarge(f"a batch may hold {settings.max_batch_bytes} bytes")
    read: list[tuple[str | None, bytes | None]] = []
    async with request.form(max_files=settings.max_batch_documents, max_fields=5) as form:
        for item in form.getlist("documents"):
            if not isinstance(item, UploadFile):
                continue
            content = await item.read(settings.max_document_bytes + 1)
            too_large = len(content) > settings.max_document_bytes
            read.append((item.filename, None if too_large else content))
    if not read:
        raise InvalidBatch("no file in the multipart field 'documents'")
    return read


@router.post("/v1/batches", status_code=202)
async def create_batch(
    request: Request,
    principal: SigningCaller,
    services: ServicesDep,
    auditor: AuditorDep,
    idempotency_key: Annotated[
        str, Header(alias="Idempotency-Key", pattern=r"^[A-Za-z0-9._:-]{8,128}$")
    ],
    level: Annotated[SignatureLevel, Query()] = SignatureLevel.B_B,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    certify: Annotated[bool, Query()] = False,
    document_type: DocumentType = None,
    credential: CredentialId = None,
) -> JSONResponse:
    """Sign many documents (multipart field ``documents``, one file each) in the background.

    A person's batch (a class's transcripts) is approved once on their phone, the approval
    covering every document's SHA-256, before it is accepted.
    """
    require_person_request(principal, document_type, credential)
    store = services.batches
    owner = BatchOwner(principal.client_id, principal.subject, principal.actor, principal.unit)
    existing = await store.find_by_key(owner, idempotency_key)
    if existing is not None:
        return JSONResponse(await store.status(existing), status_code=200)

    upload = await triage_uploads(await _uploads(request, services), services.signatures_held)
    allowed = await services.gatekeeper.authorise(
        principal,
        auditor,
        document_type=document_type,
        credential_id=credential,
        prior_signatures=list(upload.prior_signatures.values()),
        digests=[hashlib.sha256(upload.documents[i][1]).digest() for i in upload.prior_signatures],
        description=f"{document_type or ''}: {len(upload.prior_signatures)} tài liệu "
        f"{reason or ''}".strip(": "),
        certify=certify,
    )
    batch_request = SignatureRequest(
        level=level,
        reason=reason,
        certify=allowed.certify,
        lock=allowed.lock,
        allow_active_content=allowed.allow_active_content,
    )
    batch_id, created = await store.create(
        owner,
        idempotency_key,
        batch_request,
        upload.documents,
        upload.refused,
        credential_id=allowed.credential.credential_id if allowed.credential else None,
    )
    if created:
        await auditor.record(
            EventTag.SIGNING_BATCH_CREATE,
            target={
                "batch_id": batch_id,
                "documents": str(len(upload.documents)),
                "refused": str(len(upload.refused)),
                "level": level.value,
                **allowed.target,
            },
        )
        services.wake_batches()
    return JSONResponse(await store.status(batch_id), status_code=202 if created else 200)


async def _owned_batch(services: Services, principal: Principal, batch_id: str) -> BatchStore:
    store = services.batches
    header = await store.header(batch_id)
    if (
        not header
        or header.get("owner_client") != principal.client_id
        or header.get("owner_subject") != principal.subject
    ):
        raise BatchNotFound()
    return store


@router.get("/v1/batches/{batch_id}")
async def batch_status(
    principal: CurrentPrincipal, services: ServicesDep, batch_id: BatchId
) -> dict[str, Any]:
    store = await _owned_batch(services, principal, batch_id)
    status = await store.status(batch_id)
    assert status is not None  # noqa: S101 - _owned_batch found its header
    return status


@router.get(
    "/v1/batches/{batch_id}/documents/{index}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def batch_document(
    principal: CurrentPrincipal,
    services: ServicesDep,
    batch_id: BatchId,
    index: Annotated[int, FastApiPath(ge=0, le=1_000_000)],
) -> Response:
    store = await _owned_batch(services, principal, batch_id)
    documents = await store.documents(batch_id)
    if index >= len(documents) or documents[index]["status"] != "signed":
        raise BatchNotFound(f"document {index} is not signed (yet)")
    return FileResponse(store.output_path(batch_id, index), media_type="application/pdf")
