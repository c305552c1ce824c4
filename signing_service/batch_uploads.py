"""A batch as uploaded: each file named and inspected before the batch is accepted, and the fingerprint
that tells a repeated submission (the same ``Idempotency-Key``) from a different one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signing_service.documents import UntrustedDocument
from signing_service.errors import DocumentTooLarge, SigningError


def fingerprint(options: dict[str, Any], uploads: list[tuple[str | None, bytes | None]]) -> str:
    """What makes two submissions the same batch: the options as sent and each file's name and
    SHA-256 (a file over the size limit counts by its name alone)."""
    files = [
        [name or "", hashlib.sha256(content).hexdigest() if content is not None else "too-large"]
        for name, content in uploads
    ]
    text = json.dumps({"options": options, "documents": files}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TriagedUpload:
    """A batch's documents as uploaded, each either accepted (with the signatures it already
    holds) or refused with its error code; refused documents stay in the batch, failed."""

    documents: list[tuple[str, bytes]]
    refused: dict[int, str]
    prior_signatures: dict[int, int]


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    number = 2
    while f"{stem} ({number}){suffix}" in taken:
        number += 1
    return f"{stem} ({number}){suffix}"


async def triage_uploads(
    uploads: list[tuple[str | None, bytes | None]],
    inspect: Callable[[UntrustedDocument], Awaitable[int]],
) -> TriagedUpload:
    """Name each upload (``document-N`` when it has no file name; a name used again gets `` (2)``,
    `` (3)``... before its extension, as a browser saves a second download), and inspect each
    document in the sandbox (``inspect`` returns the signatures it holds). ``None``
    content means the upload was over the size limit."""
    documents: list[tuple[str, bytes]] = []
    refused: dict[int, str] = {}
    prior: dict[int, int] = {}
    seen: set[str] = set()
    for index, (filename, content) in enumerate(uploads):
        document_id = _unique(Path(filename or "").name[:100] or f"document-{index + 1}", seen)
        seen.add(document_id)
        if content is None:
            refused[index] = DocumentTooLarge.code
            content = b""
        else:
            try:
                prior[index] = await inspect(UntrustedDocument(content))
            except SigningError as exc:
                refused[index] = exc.code
        documents.append((document_id, content))
    return TriagedUpload(documents, refused, prior)
