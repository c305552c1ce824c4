"""Batches: ``POST /v1/batches`` (a class's transcripts at once), their progress and their documents."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from audit import EventTag
from audit.auditor import Auditor
from gateway_runtime.http import CurrentPrincipal
from gateway_runtime.openapi import AUTHENTICATED, BEARER, error_responses
from gateway_runtime.tokens import Principal
from signing_service.authorisation import SigningAuthorisation, require_person_request
from signing_service.batch_uploads import (
    TriagedUpload,
    Upload,
    fingerprint,
    received,
    triage_uploads,
)
from signing_service.batches import BatchOwner, BatchStore
from signing_service.deps import AuditorDep, ServicesDep, SigningCaller
from signing_service.errors import (
    BatchDocumentNotReady,
    BatchNotFound,
    DocumentTooLarge,
    IdempotencyKeyRequired,
    InvalidBatch,
    TimestampUnavailable,
)
from signing_service.routes.documents import (
    CredentialId,
    DocumentType,
    SignOptions,
    SignOptionsDep,
)
from signing_service.services import Services
from signing_service.signing import DocumentSigner

router = APIRouter(
    tags=["batches"],
    responses=error_responses(400, *AUTHENTICATED, 404, 409, 413, 415, 422),
    dependencies=[Depends(BEARER)],
)

BatchId = Annotated[str, FastApiPath(pattern=r"^[0-9a-f]{32}$")]


@contextlib.asynccontextmanager
async def _uploads(request: Request, services: Services) -> AsyncIterator[list[Upload]]:
    """The multipart field ``documents``: each file hashed where the parser spooled it (on disk
    beyond 1 MB), those over the size limit named only. The files live until the block ends."""
    settings = services.settings
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise InvalidBatch("a Content-Length header is required")
    if int(declared) > settings.max_batch_bytes:
        raise DocumentTooLarge(f"a batch may hold {settings.max_batch_bytes} bytes")
    read: list[Upload] = []
    async with request.form(max_files=settings.max_batch_documents, max_fields=5) as form:
        unknown = sorted({name for name in form if name != "documents"})
        if unknown:
            raise InvalidBatch(f"unknown multipart field {unknown[0][:40]!r}: only 'documents'")
        for item in form.getlist("documents"):
            if isinstance(item, UploadFile):
                read.append(
                    await asyncio.to_thread(
                        received, item.filename, item.file, settings.max_document_bytes
                    )
                )
        if not read:
            raise InvalidBatch("no file in the multipart field 'documents'")
        yield read


_KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,128}$"
#: The batch's files (multipart, one part per document in the field ``documents``) and its
#: required ``Idempotency-Key`` (IETF draft-ietf-httpapi-idempotency-key-header).
BATCH_OPENAPI = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "Bắt buộc: gửi lại cùng lô với cùng khoá không ký lại lần hai / "
            "required: the same batch sent again with the same key is not signed twice",
            "schema": {"type": "string", "pattern": _KEY_PATTERN},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "documents": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                        }
                    },
                    "required": ["documents"],
                    "additionalProperties": False,
                }
            }
        },
    },
}


IdempotencyKey = Annotated[
    str | None,
    # Required, and said so in the document (BATCH_OPENAPI); read as optional here only so that a
    # missing key gets its own message (400 idempotency-key-required), not a generic 422.
    Header(alias="Idempotency-Key", pattern=_KEY_PATTERN, include_in_schema=False),
]


@router.post(
    "/v1/batches",
    status_code=202,
    openapi_extra=BATCH_OPENAPI,
    responses={
        200: {"description": "The same request again (same Idempotency-Key): the batch it made"}
    },
)
async def create_batch(
    request: Request,
    principal: SigningCaller,
    services: ServicesDep,
    auditor: AuditorDep,
    options: SignOptionsDep,
    idempotency_key: IdempotencyKey = None,
    document_type: DocumentType = None,
    credential: CredentialId = None,
) -> JSONResponse:
    """Sign many documents (multipart field ``documents``, one file each) in the background,
    with every option of single signing (``visible=true`` stamps each document, its QR code
    pointing at that document's own reference).

    The same ``Idempotency-Key`` with the same documents and options returns the same batch;
    with different ones it is refused (422). A person's batch (a class's transcripts) is
    approved once on their phone, the approval covering every document's SHA-256, before it is
    accepted.
    """
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    require_person_request(principal, document_type, credential)
    settings = services.settings
    if not services.document_signer.supports(options.level):
        raise TimestampUnavailable(f"level {options.level.value} needs a TSA")
    store = services.batches
    owner = BatchOwner(principal.client_id, principal.subject, principal.actor, principal.unit)
    async with _uploads(request, services) as uploads:
        sent = {
            **dataclasses.asdict(options),
            "document_type": document_type,
            "credential": credential,
        }
        request_fingerprint = fingerprint(sent, uploads)
        existing = await store.find_by_key(owner, idempotency_key, request_fingerprint)
        if existing is not None:
            return JSONResponse(await store.status(existing), status_code=200)

        upload = await triage_uploads(uploads, services.inspect)
        allowed, signer = await _authorise(
            services, principal, auditor, options, upload, document_type, credential
        )
        # Each document's stamp gets its own reference after ``ref=`` (batches.document_request).
        verify_base = f"{settings.public_url.rstrip('/')}/verify?ref="
        unit = services.unit_name(principal.unit)
        batch_id, created = await store.create(
            owner,
            idempotency_key,
            request_fingerprint,
            options.request(allowed, signer, verify_base, unit=unit),
            upload.documents,
            upload.refused,
            titles=upload.titles,
            credential_id=allowed.credential.credential_id if allowed.credential else None,
            document_type=document_type,
            document_type_title=services.document_type_title(document_type),
            unit_name=unit,
        )
        if created:
            target = {
                "batch_id": batch_id,
                "documents": str(len(upload.documents)),
                "refused": str(len(upload.refused)),
                "level": options.level.value,
                "visible": str(options.visible).lower(),
            }
            await auditor.record(EventTag.SIGNING_BATCH_CREATE, target={**target, **allowed.target})
            services.wake_batches()
        return JSONResponse(await store.status(batch_id), status_code=202 if created else 200)


async def _authorise(
    services: Services,
    principal: Principal,
    auditor: Auditor,
    options: SignOptions,
    upload: TriagedUpload,
    document_type: str | None,
    credential: str | None,
) -> tuple[SigningAuthorisation, DocumentSigner]:
    """The signing policy's and the approvals' answer for the whole batch (a person approves every
    document's SHA-256 at once), and the signer that answer names."""
    allowed = await services.gatekeeper.authorise(
        principal,
        auditor,
        document_type=document_type,
        credential_id=credential,
        prior_signatures=list(upload.prior_signatures.values()),
        digests=[bytes.fromhex(upload.documents[i][1].sha256) for i in upload.prior_signatures],
        description=f"{document_type or ''}: {len(upload.prior_signatures)} tài liệu "
        f"{options.reason or ''}".strip(": "),
        certify=options.certify,
    )
    if allowed.credential is not None:
        return allowed, services.person_signer(allowed.credential)
    return allowed, services.document_signer


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
    if index >= len(documents):
        raise BatchNotFound(f"document {index} does not exist: the batch holds {len(documents)}")
    if documents[index]["status"] != "signed":
        raise BatchDocumentNotReady(f"document {index} is {documents[index]['status']}")
    return FileResponse(store.output_path(batch_id, index), media_type="application/pdf")
