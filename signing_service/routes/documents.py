"""``POST /v1/documents:sign`` and ``POST /v1/documents:verify``.

Every signature and verification is an audit event, recorded *before* the result is returned; if the
audit trail cannot record it, the caller gets 503 and no signed document (fail closed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from audit import EventTag
from gateway_runtime.openapi import AUTHENTICATED, BEARER, error_responses
from signing_service.appearance import VisibleStamp
from signing_service.authorisation import SigningAuthorisation, require_person_request
from signing_service.deps import AuditorDep, ServicesDep, SigningCaller, VerifyingCaller
from signing_service.document_records import DocumentRecord
from signing_service.documents import inspect_document, sha256_hex
from signing_service.errors import (
    StampTitleNotAccepted,
    StampUnitNotAccepted,
    TimestampUnavailable,
)
from signing_service.routes.bodies import read_document
from signing_service.signing import (
    DocumentSigner,
    SignatureLevel,
    SignatureRequest,
    SignedDocument,
)
from signing_service.verification import verify_document_in_worker

router = APIRouter(
    tags=["signing"],
    responses=error_responses(400, *AUTHENTICATED, 404, 409, 413, 415, 422),
    dependencies=[Depends(BEARER)],
)

DocumentType = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="Loại văn bản trong chính sách ký (policies/signing.yaml)",
    ),
]
CredentialId = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9a-f]{32}$",
        description="Khoá ký cá nhân (người ký phê duyệt trên điện thoại)",
    ),
]
#: A PDF as the request body (``application/octet-stream`` is read the same way).
PDF_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in ("application/pdf", "application/octet-stream")
        },
    }
}


@dataclass
class SignOptions:
    """How to sign, from the query string."""

    level: Annotated[SignatureLevel, Query()] = SignatureLevel.B_B
    reason: Annotated[str | None, Query(max_length=200)] = None
    location: Annotated[str | None, Query(max_length=200)] = None
    certify: Annotated[bool, Query(description="Chữ ký chứng thực (DocMDP)")] = False
    visible: Annotated[bool, Query(description="Hiển thị dấu chữ ký và mã QR")] = False
    title: Annotated[
        str,
        # Not in the OpenAPI document: it is never accepted, only refused with its reason (422),
        # because a person's title comes from their certificate and a seal has none.
        Query(max_length=80, include_in_schema=False),
    ] = ""
    unit: Annotated[
        str,
        # Likewise refused, whatever its length: the unit shown is the signer's own, from their
        # account.
        Query(include_in_schema=False),
    ] = ""
    page: Annotated[int, Query(ge=-1, le=100_000)] = -1

    def __post_init__(self) -> None:
        # Refused before anything is read or approved (FastAPI builds the options first).
        if self.title:
            raise StampTitleNotAccepted()
        if self.unit:
            raise StampUnitNotAccepted()

    def request(
        self,
        allowed: SigningAuthorisation,
        signer: DocumentSigner,
        verify_url: str,
        *,
        unit: str,
    ) -> SignatureRequest:
        """The request for ``signer``: the seal's stamp says it is the organisation's seal, a
        person's shows their name and title from their certificate, and ``unit`` is the caller's
        unit named from the schools list (free text is refused)."""
        seal = allowed.credential is None
        stamp = (
            VisibleStamp(
                signer=signer.signer_name,
                unit=unit,
                verify_url=verify_url,
                page=self.page,
                seal=seal,
                title="" if seal else signer.signer_title,
            )
            if self.visible
            else None
        )
        return SignatureRequest(
            level=self.level,
            reason=self.reason,
            location=self.location,
            certify=allowed.certify,
            lock=allowed.lock,
            allow_active_content=allowed.allow_active_content,
            stamp=stamp,
            # Only a certification leaves places: before one, later signatures add their own.
            later_locks=allowed.later_locks if allowed.certify else (),
        )


async def sign_options(**fields: Any) -> SignOptions:
    """The options, built on the event loop: a class given to ``Depends()`` is called in FastAPI's
    thread pool (a hop to a worker thread and back on every signature)."""
    return SignOptions(**fields)


# FastAPI reads the query parameters from the signature: the dataclass's own fields.
sign_options.__signature__ = inspect.signature(SignOptions)  # type: ignore[attr-defined]
SignOptionsDep = Annotated[SignOptions, Depends(sign_options)]


def _record(
    signed: SignedDocument,
    signer: DocumentSigner,
    allowed: SigningAuthorisation,
    reference: str,
    *,
    document_type: str,
    document_type_title: str,
    title: str,
    unit: str,
) -> DocumentRecord:
    """What is kept of a signed document, for the public verification page (no content)."""
    return DocumentRecord(
        reference=reference,
        sha256=signed.output_sha256,
        signer=signer.signer_name,
        seal=allowed.credential is None,
        signed_at=datetime.now(UTC).isoformat(),
        level=signed.level.value,
        document_type=document_type,
        document_type_title=document_type_title,
        title=title,
        unit=unit,
        credential_id=allowed.credential.credential_id if allowed.credential else "",
    )


def _signed_event(
    signed: SignedDocument, key_label: str, reference: str, allowed: SigningAuthorisation
) -> dict[str, str]:
    return {
        "document_sha256": signed.input_sha256,
        "signed_sha256": signed.output_sha256,
        "key_label": key_label,
        "level": signed.level.value,
        "field": signed.field_name,
        "certified": str(signed.certified).lower(),
        "reference": reference,
        **allowed.target,
    }


@router.post(
    "/v1/documents:sign",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    openapi_extra=PDF_BODY,
)
async def sign_document(
    request: Request,
    principal: SigningCaller,
    services: ServicesDep,
    auditor: AuditorDep,
    options: SignOptionsDep,
    document_type: DocumentType = None,
    credential: CredentialId = None,
) -> Response:
    """Sign a PDF: with the organisation seal (apps), or with a person's own key.

    A person's token must name one of their credentials; the service then waits for their
    approval on their registered phone, bound to this document's hash (SCAL2). With
    ``document_type`` the signing policy decides whether this signer may fill the document's
    next step (counted from the signatures it already holds) and whether that step certifies.
    """
    require_person_request(principal, document_type, credential)
    settings = services.settings
    signer = services.document_signer
    if not signer.supports(options.level):
        raise TimestampUnavailable(f"level {options.level.value} needs a TSA")
    document = await read_document(request, settings.max_document_bytes)
    # With a document type, the policy counts the signatures the document holds (and a person
    # approves its hash) before it is signed: it is read for that first. An app's seal without
    # one decides nothing from the document, which the preparation then reads once, not twice.
    prior_signatures = 0  # what the policy counts, and only with a document type
    if document_type is not None:
        facts = await services.sandbox.run(inspect_document, document, settings.max_pdf_objects)
        prior_signatures = facts.signatures
    allowed = await services.gatekeeper.authorise(
        principal,
        auditor,
        document_type=document_type,
        credential_id=credential,
        prior_signatures=[prior_signatures],
        digests=[hashlib.sha256(document).digest()],
        description=f"{document_type or ''}: {options.reason or ''}".strip(": "),
        certify=options.certify,
    )
    if allowed.credential is not None:
        signer = services.person_signer(allowed.credential)
    reference = uuid.uuid4().hex
    verify_url = f"{settings.public_url.rstrip('/')}/verify?ref={reference}"
    unit = services.unit_name(principal.unit)
    signed = await signer.sign(document, options.request(allowed, signer, verify_url, unit=unit))
    await auditor.record(
        EventTag.SIGNING_DOCUMENT_SIGN,
        target=_signed_event(signed, signer.key_label, reference, allowed),
    )
    record = _record(
        signed,
        signer,
        allowed,
        reference,
        document_type=document_type or "",
        document_type_title=services.document_type_title(document_type),
        title=signed.title,
        unit=unit,
    )
    await services.records.keep(record, signed_from_sha256=signed.input_sha256)
    return Response(
        signed.content,
        media_type="application/pdf",
        headers={
            "X-Document-SHA256": signed.output_sha256,
            "X-Signature-Field": signed.field_name,
            "X-Document-Reference": reference,
        },
    )


@router.post("/v1/documents:verify", tags=["verification"], openapi_extra=PDF_BODY)
async def verify(
    request: Request, principal: VerifyingCaller, services: ServicesDep, auditor: AuditorDep
) -> dict[str, Any]:
    document = await read_document(request, services.settings.max_document_bytes)
    report = await services.sandbox.run(
        verify_document_in_worker,
        document,
        services.trust_roots_der,
        services.settings.revocation_cache_seconds,
    )
    await auditor.record(
        EventTag.SIGNING_DOCUMENT_VERIFY,
        target={
            "document_sha256": sha256_hex(document),
            "indication": report.indication.value,
            "signatures": str(len(report.signatures)),
        },
    )
    return dataclasses.asdict(report)
