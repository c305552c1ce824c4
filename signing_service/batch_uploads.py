"""A batch as uploaded: each file named and inspected before the batch is accepted, and the fingerprint
that tells a repeated submission (the same ``Idempotency-Key``) from a different one.

A batch may hold 2 GiB and waits for its signer's approval (two minutes): its files stay where the
multipart parser spooled them, on disk, and are read one at a time (to hash, to inspect, to store),
never the whole batch in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from signing_service.documents import DocumentFacts, UntrustedDocument
from signing_service.errors import DocumentTooLarge, SigningError

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One file of a batch as received: ``file`` is where it was spooled (``None`` when it was over
    the size limit), ``sha256`` its digest in hex."""

    filename: str | None
    file: IO[bytes] | None
    sha256: str = ""

    def read(self) -> bytes:
        """The whole file (blocking: call it in a thread); empty when it was over the limit."""
        if self.file is None:
            return b""
        self.file.seek(0)
        return self.file.read()

    def copy_to(self, path: Path) -> None:
        """Write the file to ``path`` (blocking: call it in a thread)."""
        with path.open("wb") as out:
            if self.file is not None:
                self.file.seek(0)
                shutil.copyfileobj(self.file, out, _CHUNK)


def received(filename: str | None, file: IO[bytes], limit: int) -> Upload:
    """Hash a spooled upload chunk by chunk (blocking: call it in a thread); over ``limit`` bytes it
    counts by its name alone."""
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    while chunk := file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return Upload(filename, None)
        digest.update(chunk)
    return Upload(filename, file, digest.hexdigest())


def fingerprint(options: dict[str, Any], uploads: list[Upload]) -> str:
    """What makes two submissions the same batch: the options as sent and each file's name and
    SHA-256 (a file over the size limit counts by its name alone)."""
    files = [[u.filename or "", u.sha256 if u.file is not None else "too-large"] for u in uploads]
    text = json.dumps({"options": options, "documents": files}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TriagedUpload:
    """A batch's documents as uploaded, each either accepted (with the signatures it already
    holds) or refused with its error code; refused documents stay in the batch, failed."""

    documents: list[tuple[str, Upload]]
    refused: dict[int, str]
    prior_signatures: dict[int, int]
    #: Each accepted document's own title (its metadata), for the record kept of what was signed.
    titles: dict[int, str]


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
    uploads: list[Upload],
    inspect: Callable[[UntrustedDocument], Awaitable[DocumentFacts]],
) -> TriagedUpload:
    """Name each upload (``document-N`` when it has no file name; a name used again gets `` (2)``,
    `` (3)``... before its extension, as a browser saves a second download), and inspect each
    document in the sandbox (``inspect``: the signatures it holds, its title), one in memory at a
    time."""
    documents: list[tuple[str, Upload]] = []
    refused: dict[int, str] = {}
    prior: dict[int, int] = {}
    titles: dict[int, str] = {}
    seen: set[str] = set()
    for index, upload in enumerate(uploads):
        document_id = _unique(
            Path(upload.filename or "").name[:100] or f"document-{index + 1}", seen
        )
        seen.add(document_id)
        if upload.file is None:
            refused[index] = DocumentTooLarge.code
        else:
            try:
                content = await asyncio.to_thread(upload.read)
                facts = await inspect(UntrustedDocument(content))
                prior[index], titles[index] = facts.signatures, facts.title
            except SigningError as exc:
                refused[index] = exc.code
        documents.append((document_id, upload))
    return TriagedUpload(documents, refused, prior, titles)
