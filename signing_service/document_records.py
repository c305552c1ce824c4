"""What the service keeps of each document it signs, for a paper copy's QR code.

A parent holding a printed transcript has no PDF: the QR code on its stamp carries the document's
reference, and the public page must be able to say, from the reference alone, what was signed — the
SHA-256 of the signed document as delivered, its type and title, the signer by name (a person, or the
organisation's seal), the signing time, the level — and whether that still stands: the signer's
credential revoked, or the document superseded by a later signature on it. Never its content.

When a PDF is uploaded with a reference, the page says whether it *is* that document (same SHA-256),
not only whether its own signatures are valid: another validly signed PDF under one QR code's reference
is not that document.

Records live in Redis without expiry (keys ``document-record:<reference>`` and, to find the record a
later signature supersedes, ``document-by-hash:<sha256>``), under the signing service's own ACL user.
Signing goes on while Redis is down (its audit events are spooled on disk): so do records, appended to
a file of pending records and stored by the next signature after Redis is back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import redis.asyncio as redis_async
import structlog
from redis.exceptions import RedisError

from signing_service.credentials import CredentialStore

_log = structlog.get_logger(__name__)


class RecordStatus(StrEnum):
    #: As signed, nothing known against it.
    CURRENT = "current"
    #: A later signature was made on this very document (the next step of its workflow): the newer
    #: version is the one to keep; this one was not changed.
    SUPERSEDED = "superseded"
    #: The person's signing credential was revoked since.
    CREDENTIAL_REVOKED = "credential-revoked"


@dataclass(frozen=True)
class DocumentRecord:
    reference: str
    #: SHA-256 (hex) of the signed document as the service delivered it.
    sha256: str
    signer: str
    #: The organisation's seal, not a person.
    seal: bool
    #: UTC, ISO 8601 (shown to people in local time).
    signed_at: str
    level: str
    #: The signing policy's document type: its id, and its title as people read it.
    document_type: str = ""
    document_type_title: str = ""
    title: str = ""
    unit: str = ""
    credential_id: str = ""
    superseded_by: str = ""


def _pending_line(record: DocumentRecord, signed_from_sha256: str) -> str:
    return json.dumps({"record": asdict(record), "from": signed_from_sha256})


def _record_key(reference: str) -> str:
    return f"document-record:{reference}"


def _hash_key(sha256: str) -> str:
    return f"document-by-hash:{sha256}"


class DocumentRecords:
    def __init__(self, client: redis_async.Redis, pending: Path) -> None:
        self._redis = client
        #: Records not yet stored (Redis was down), one JSON line each.
        self._pending = pending

    async def keep(self, record: DocumentRecord, signed_from_sha256: str) -> None:
        """Keep ``record``; a record of the document it was signed from (a signature made by
        this service on the same document earlier) is marked superseded by it. With Redis down,
        the record waits in the pending file (and the signature is not refused for it)."""
        try:
            await self._store_pending()
            await self._store(record, signed_from_sha256)
        except (RedisError, OSError) as exc:
            _log.warning(
                "document.record_pending", reference=record.reference, error=type(exc).__name__
            )
            self._append_pending([_pending_line(record, signed_from_sha256)])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Writers and the replay take this lock, so no line lands in a file being replayed."""
        self._pending.parent.mkdir(parents=True, exist_ok=True)
        with self._pending.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append_pending(self, lines: list[str]) -> None:
        with self._locked(), self._pending.open("a", encoding="utf-8") as pending:
            pending.writelines(line + "\n" for line in lines)
            pending.flush()
            os.fsync(pending.fileno())

    async def _store_pending(self) -> None:
        if not self._pending.exists():
            return
        taken = self._pending.with_name(f"{self._pending.name}.{os.getpid()}.{uuid.uuid4().hex}")
        with self._locked():
            try:
                self._pending.rename(taken)
            except FileNotFoundError:
                return  # another process took them
        lines = taken.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            try:
                entry = json.loads(line)
                await self._store(DocumentRecord(**entry["record"]), entry["from"])
            except (RedisError, OSError):
                self._append_pending(lines[index:])
                taken.unlink()
                raise
        taken.unlink()
        _log.info("document.records_stored_late", count=len(lines))

    async def _store(self, record: DocumentRecord, signed_from_sha256: str) -> None:
        # One round trip: the record of the document this one was signed from is looked up in
        # the transaction that stores this one.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(_hash_key(signed_from_sha256))
            pipe.set(_record_key(record.reference), json.dumps(asdict(record)))
            pipe.set(_hash_key(record.sha256), record.reference)
            earlier, _, _ = await pipe.execute()
        if earlier:
            previous = await self.get(earlier.decode() if isinstance(earlier, bytes) else earlier)
            if previous is not None and not previous.superseded_by:
                updated = DocumentRecord(**{**asdict(previous), "superseded_by": record.reference})
                await self._redis.set(_record_key(previous.reference), json.dumps(asdict(updated)))

    async def get(self, reference: str) -> DocumentRecord | None:
        raw = await self._redis.get(_record_key(reference))
        return DocumentRecord(**json.loads(raw)) if raw else None

    async def status(self, record: DocumentRecord, credentials: CredentialStore) -> RecordStatus:
        if record.credential_id:
            credential = await credentials.get(record.credential_id)
            if credential is None or credential.status != "enabled":
                return RecordStatus.CREDENTIAL_REVOKED
        if record.superseded_by:
            return RecordStatus.SUPERSEDED
        return RecordStatus.CURRENT
