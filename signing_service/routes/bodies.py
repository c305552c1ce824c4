"""Request bodies read with limits: a PDF, a JSON object. Too large is 413, wrong is 4xx with the
reason; nothing over the limit is held in memory."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from signing_service.documents import UntrustedDocument
from signing_service.errors import DocumentTooLarge, InvalidCscRequest, UnsupportedMediaType

_MAX_JSON = 1024 * 1024


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
