"""The public verification page (``/verify``): anyone with a signed document, or the QR code on its
stamp, checks it. No login; checks are rate-limited per address and audited (actor ``anonymous``);
uploads go through the same limits and sandbox as the API.

The QR code's reference alone shows the record of the signed document (for a paper copy: what was
signed, by whom, when, and whether it still stands); with a PDF, the page also says whether that PDF
*is* the document of the reference (:mod:`signing_service.document_records`)."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from redis.exceptions import RedisError
from starlette.datastructures import UploadFile

from audit import EventTag
from gateway_runtime.language import language_switch
from signing_service.deps import AnonymousAuditorDep, ServicesDep
from signing_service.documents import UntrustedDocument, sha256_hex
from signing_service.errors import DocumentTooLarge, SigningError
from signing_service.pages import (
    LANGUAGE_COOKIE,
    VERIFY_PAGE_HEADERS,
    RecordView,
    verify_error_page,
    verify_form_page,
    verify_result_page,
)
from signing_service.services import Services
from signing_service.verification import verify_document_in_worker

#: The public pages' language switch (a cookie for the whole site: the approval pages read it too).
language_router = language_switch(
    "/verify/language",
    cookie=LANGUAGE_COOKIE,
    cookie_path="/",
    home="/verify",
    prefixes=("/verify", "/approve"),
)
router = APIRouter(include_in_schema=False)

_REFERENCE = re.compile(r"[0-9a-f]{32}")


def _page(html: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers=VERIFY_PAGE_HEADERS)


#: The window of the public page's limit, in seconds.
RATE_WINDOW = 60


async def _rate_limited(request: Request, services: Services) -> bool:
    """True if this address made more than ``public_verify_per_minute`` checks in the last 60 s.

    A sliding window (each attempt's time in a sorted set, refused ones included): no burst of
    twice the limit across a minute's boundary, and hammering keeps an address refused. The address
    is the connection's own; a forwarded one only from a configured proxy (``GATEWAY_TRUSTED_PROXIES``).
    """
    address = request.client.host if request.client else "unknown"
    key = f"verify-rate:{address}"
    now = time.time()
    # Without Redis this raises (RedisError, OSError): no counter, no anonymous work (fail closed),
    # and the page says the service is unavailable, not that the visitor asked too often.
    async with services.redis.pipeline(transaction=True) as attempts:
        attempts.zremrangebyscore(key, 0, now - RATE_WINDOW)
        attempts.zadd(key, {f"{now:.6f}-{secrets.token_hex(4)}": now})
        attempts.zcard(key)
        attempts.expire(key, RATE_WINDOW + 1)
        _, _, count, _ = await attempts.execute()
    return int(count) > services.settings.public_verify_per_minute


def _unavailable() -> HTMLResponse:
    return _page(
        verify_error_page(
            "Dịch vụ tra cứu tạm thời gián đoạn, vui lòng thử lại sau ít phút.",
            "The verification service is unavailable for a moment: try again in a few minutes.",
        ),
        503,
    )


def _too_many() -> HTMLResponse:
    return _page(
        verify_error_page("Quá nhiều yêu cầu, vui lòng thử lại sau.", "Too many requests."), 429
    )


async def _record(services: Services, reference: str | None) -> RecordView | None:
    if not reference:
        return None
    record = await services.records.get(reference)
    if record is None:
        return None
    return RecordView(record, await services.records.status(record, services.credentials))


#: The form's anti-forgery token: in the page and in a cookie only this site's pages send
#: (double submit, SameSite=Strict). Another site cannot make a visitor's browser post a check,
#: which would spend that visitor's budget and put their address on a verification they never made.
FORM_COOKIE = "verify_form"
#: The form field that carries it (a name scanners and frameworks know as an anti-forgery token).
FORM_FIELD = "csrf_token"


def _form_token(request: Request) -> str:
    """The visitor's token: the one its browser holds, or a new one."""
    held = request.cookies.get(FORM_COOKIE, "")
    return held if _TOKEN.fullmatch(held) else secrets.token_urlsafe(24)


_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(
    request: Request,
    services: ServicesDep,
    ref: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    # One Redis read per look-up, and references are 128-bit random: not rate-limited.
    reference = ref if ref and _matches(ref) else None
    token = _form_token(request)
    try:
        record = await _record(services, reference)
    except (RedisError, OSError):
        return _unavailable()
    response = _page(verify_form_page(reference, record, token))
    response.set_cookie(
        FORM_COOKIE,
        token,
        path="/verify",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _matches(reference: str) -> bool:
    return _REFERENCE.fullmatch(reference) is not None


def _stale_form() -> HTMLResponse:
    return _page(
        verify_error_page(
            "Trang đã cũ hoặc không mở từ trang xác minh: hãy tải lại trang rồi chọn tệp.",
            "The form is stale or was not sent from the verification page: reload it.",
        ),
        403,
    )


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(
    request: Request, services: ServicesDep, auditor: AnonymousAuditorDep
) -> HTMLResponse:
    held = request.cookies.get(FORM_COOKIE, "")
    if not held:
        return _stale_form()  # another site's post: the browser sends no SameSite=Strict cookie
    # Every attempt counts, and an address over its budget is answered before its upload is read
    # (a post from another site has no cookie and was refused above, as forged).
    try:
        if await _rate_limited(request, services):
            return _too_many()
    except (RedisError, OSError):
        return _unavailable()
    limit = services.settings.max_document_bytes
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > limit:
        error = DocumentTooLarge()
        return _page(verify_error_page(error.message_vi, error.message_en), 413)
    async with request.form(max_files=1, max_fields=3) as form:
        posted = str(form.get(FORM_FIELD) or "")
        if not hmac.compare_digest(posted.encode(), held.encode()):
            return _stale_form()
        upload = form.get("document")
        reference = str(form.get("ref") or "")[:32]
        reference = reference if _matches(reference) else ""
        if not isinstance(upload, UploadFile):
            return _page(verify_error_page("Chưa chọn tệp PDF.", "No PDF file was chosen."), 400)
        document = UntrustedDocument(await upload.read(limit + 1))
    try:
        report = await services.sandbox.run(
            verify_document_in_worker,
            document,
            services.trust_roots_der,
            services.settings.revocation_cache_seconds,
        )
    except SigningError as exc:
        return _page(verify_error_page(exc.message_vi, exc.message_en), exc.status_code)
    try:
        record = await _record(services, reference)
    except (RedisError, OSError):
        return _unavailable()
    digest = sha256_hex(document)
    is_that_document = record.record.sha256 == digest if record is not None else None
    unknown_reference = bool(reference) and record is None
    await auditor.record(
        EventTag.SIGNING_DOCUMENT_VERIFY,
        target={
            "document_sha256": digest,
            "indication": report.indication.value,
            "channel": "public-page",
            "reference": reference,
            **({"matches_reference": str(is_that_document).lower()} if record else {}),
            **({"matches_reference": "no-record"} if unknown_reference else {}),
        },
    )
    return _page(
        verify_result_page(report, record, is_that_document, unknown_reference=unknown_reference)
    )
