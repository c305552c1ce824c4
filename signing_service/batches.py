"""Batch signing: a class's 40 transcripts, or a school's 1,500, in one request.

A batch is accepted whole (every document stored on disk, its state in Redis) and answered with 202;
a runner in the service then signs its documents, any number of service processes sharing the work
through one Redis lock per batch. Guarantees:

- **idempotent submission**: the same ``Idempotency-Key`` from the same person (the client and the
  token's subject: a key is never shared by the people of one application) with the same request
  (documents and options, compared by a fingerprint) returns the same batch; with a different request it
  is refused (:class:`~signing_service.errors.IdempotencyKeyReused`), never answered with the old batch;
- **every option of single signing**, visible stamps included: each document gets its own reference,
  printed in its stamp's QR code;
- **no document signed twice, none lost**: each signed output is written atomically before it is
  audited and marked done; after a crash, a document whose output exists is only audited and marked
  (its audit event id is derived from the batch and the document, so the store keeps it once); the
  batch's lock is renewed every few seconds while its process works on it, however long one document
  takes, and a process that lost it stops;
- **per-document results**: a document that cannot be signed fails alone, with its reason.

Audit events name documents by index and SHA-256, never by the client's own document ids (they may
carry personal data).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis_async
import structlog
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from audit import Actor, AuditTrail, AuditUnavailable, EventTag, Outcome
from audit.auditor import Auditor
from gateway_runtime.errors import GatewayError
from signing_service.batch_uploads import Upload
from signing_service.document_records import DocumentRecord, DocumentRecords
from signing_service.documents import UntrustedDocument, sha256_hex
from signing_service.errors import (
    IdempotencyKeyReused,
)
from signing_service.signing import DocumentSigner, SignatureRequest

_log = structlog.get_logger(__name__)

SERVICE = "signing"
ACTIVE = "batches:active"
_LOCK_SECONDS = 15.0
#: How often each runner looks for the folders of expired batches (and how old one must be).
_SWEEP_SECONDS = 3600.0
_HEX = frozenset("0123456789abcdef")
#: Documents of a batch signed at once: enough to keep the sandbox workers, the token and the TSA
#: busy together (a batch of 200 visible stamps ran at 0.80x the rate of single requests with 4,
#: 0.88x with 8, 0.91x with 16, its upload included; docs/benchmarks.md, 2026-12-04) ...
_CONCURRENCY = 16
#: ... of which large files at most this many: each is read whole to be signed, so a batch holds
#: at most 4 large files in memory, as before (docs/benchmarks.md, batches' memory), or up to 16
#: smaller ones (under 64 MB in all).
_LARGE_CONCURRENCY = 4
_LARGE_BYTES = 4 * 1024 * 1024


def _key(batch_id: str, suffix: str = "") -> str:
    return f"batch:{batch_id}{':' + suffix if suffix else ''}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: How long an Idempotency-Key names its batch (shortened to the batch's own retention when that is
#: shorter: a key must not outlive what it names).
_IDEMPOTENCY_SECONDS = 7 * 86400
#: Gives the key the batch's expiry if that is sooner, and only while the key still names the batch.
_KEY_EXPIRES_WITH_BATCH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2], 'LT') end
return 0
"""
#: Deletes the key only if it still names the batch (not one a later request claimed).
_RELEASE_KEY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def _release_key(client: redis_async.Redis, key: str, batch_id: str) -> None:
    await client.eval(_RELEASE_KEY, 1, key, batch_id)


def _idempotency_key(owner: BatchOwner, key: str) -> str:
    """A key is the person's, not the application's: two teachers of one school app who both
    choose ``lop-10a1-hk1`` each get their own batch, and neither sees the other's."""
    digest = hashlib.sha256(f"{owner.client_id}\n{owner.subject}\n{key}".encode()).hexdigest()
    return f"batch-key:{digest}"


def _event_id(batch_id: str, index: int) -> str:
    return hashlib.sha256(f"{batch_id}:{index}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BatchOwner:
    client_id: str
    subject: str
    actor: str
    #: The owner's unit: the batch's audit events carry it, so the district's officer sees them.
    unit: str | None = None


def document_request(request: SignatureRequest, reference: str) -> SignatureRequest:
    """The batch's request for one document: its stamp's QR code points at that document's
    reference (the batch's stamp holds the verification URL up to ``ref=``)."""
    if request.stamp is None:
        return request
    stamp = dataclasses.replace(request.stamp, verify_url=request.stamp.verify_url + reference)
    return dataclasses.replace(request, stamp=stamp)


class BatchStore:
    """Batch state in Redis, documents on disk under ``folder/<batch id>/``."""

    def __init__(self, client: redis_async.Redis, folder: Path) -> None:
        self.redis = client
        self.folder = folder

    def input_path(self, batch_id: str, index: int) -> Path:
        return self.folder / batch_id / "in" / f"{index:06d}.pdf"

    def output_path(self, batch_id: str, index: int) -> Path:
        return self.folder / batch_id / "out" / f"{index:06d}.pdf"

    async def find_by_key(
        self, owner: BatchOwner, idempotency_key: str, request_fingerprint: str
    ) -> str | None:
        """The batch this key already made, if the request is the same; refuse a different one."""
        value = await self.redis.get(_idempotency_key(owner, idempotency_key))
        if not value:
            return None
        batch_id = _text(value)
        stored, subject = (
            _text(v or b"")
            for v in await self.redis.hmget(_key(batch_id), ["fingerprint", "owner_subject"])
        )
        if stored != request_fingerprint or subject != owner.subject:
            raise IdempotencyKeyReused()
        return batch_id

    async def create(
        self,
        owner: BatchOwner,
        idempotency_key: str,
        request_fingerprint: str,
        request: SignatureRequest,
        documents: Sequence[tuple[str, bytes | Upload]],
        refused: dict[int, str],
        *,
        titles: Mapping[int, str] | None = None,
        credential_id: str | None = None,
        document_type: str | None = None,
        document_type_title: str = "",
        unit_name: str = "",
    ) -> tuple[str, bool]:
        """Store a new batch; return ``(batch id, created)`` (not created: the key was used by the
        same request meanwhile; by a different one, :class:`IdempotencyKeyReused`)."""
        batch_id = uuid.uuid4().hex
        key = _idempotency_key(owner, idempotency_key)
        claimed = await self.redis.set(key, batch_id, nx=True, ex=_IDEMPOTENCY_SECONDS)
        if not claimed:
            existing = await self.find_by_key(owner, idempotency_key, request_fingerprint)
            if existing is None:
                raise IdempotencyKeyReused()  # claimed and expired meanwhile: ask for a new key
            return existing, False
        try:
            await self._store_new(
                batch_id,
                key,
                owner,
                request_fingerprint,
                request,
                documents,
                refused,
                titles=titles or {},
                credential_id=credential_id,
                document_type=document_type,
                document_type_title=document_type_title,
                unit_name=unit_name,
            )
        except BaseException:
            # Nothing of a batch that could not be stored is kept (a full disk, Redis gone): its
            # files go, and the key is given back, so that the same request sent again is taken
            # — not refused for a week as "used for a different batch".
            shutil.rmtree(self.folder / batch_id, ignore_errors=True)
            with contextlib.suppress(RedisError):
                await _release_key(self.redis, key, batch_id)
            raise
        return batch_id, True

    async def _store_new(
        self,
        batch_id: str,
        idempotency_key_name: str,
        owner: BatchOwner,
        request_fingerprint: str,
        request: SignatureRequest,
        documents: Sequence[tuple[str, bytes | Upload]],
        refused: dict[int, str],
        *,
        titles: Mapping[int, str],
        credential_id: str | None,
        document_type: str | None,
        document_type_title: str,
        unit_name: str,
    ) -> None:
        (self.folder / batch_id / "in").mkdir(parents=True)
        (self.folder / batch_id / "out").mkdir()
        states: dict[str, str] = {}
        for index, (document_id, source) in enumerate(documents):
            # An upload is copied from where it was spooled, in a thread: never whole in memory,
            # never on the event loop.
            path = self.input_path(batch_id, index)
            if isinstance(source, Upload):
                await asyncio.to_thread(source.copy_to, path)
                digest = source.sha256 if source.file is not None else sha256_hex(b"")
            else:
                await asyncio.to_thread(path.write_bytes, source)
                digest = sha256_hex(source)
            state: dict[str, Any] = {
                "id": document_id,
                "sha256": digest,
                "reference": uuid.uuid4().hex,
            }
            if titles.get(index):
                state["title"] = titles[index]
            if index in refused:
                state.update(status="failed", error=refused[index])
            else:
                state.update(status="pending")
            states[str(index)] = json.dumps(state)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                _key(batch_id),
                mapping={
                    "owner_client": owner.client_id,
                    "owner_subject": owner.subject,
                    "owner_actor": owner.actor,
                    "owner_unit": owner.unit or "",
                    # The key's Redis name (a digest): it expires with the batch.
                    "idempotency_key": idempotency_key_name,
                    "level": request.level.value,
                    "request": request.to_json(),
                    "fingerprint": request_fingerprint,
                    # A person's batch is signed with their key (approved before it was stored).
                    "credential_id": credential_id or "",
                    "document_type": document_type or "",
                    "document_type_title": document_type_title,
                    # The owner's unit as people read it (the verification page of each document).
                    "unit_name": unit_name,
                    "total": str(len(documents)),
                    "status": "running",
                    "created_at": datetime.now(UTC).isoformat(),
                },
            )
            for index_key, state_json in states.items():
                pipe.hset(_key(batch_id, "docs"), index_key, state_json)
            pipe.sadd(ACTIVE, batch_id)
            await pipe.execute()

    async def sweep(self, *, min_age_seconds: float) -> int:
        """Remove the folders of batches whose state expired (kept the retention time after they
        completed) or was never stored; a folder younger than ``min_age_seconds`` is left alone (a
        batch being stored writes its files before its state). Returns how many were removed."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        now = time.time()
        for folder in self.folder.iterdir():
            name = folder.name
            if not (folder.is_dir() and len(name) == 32 and all(c in _HEX for c in name)):
                continue
            if now - folder.stat().st_mtime < min_age_seconds:
                continue
            if await self.redis.exists(_key(name)):
                continue
            await asyncio.to_thread(shutil.rmtree, folder, True)
            removed += 1
        if removed:
            _log.info("batch.swept", folders=removed)
        return removed

    async def header(self, batch_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(_key(batch_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def documents(self, batch_id: str) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(_key(batch_id, "docs"))
        states = {int(k): json.loads(v) for k, v in raw.items()}
        return [states[i] for i in sorted(states)]

    async def set_document(self, batch_id: str, index: int, state: dict[str, Any]) -> None:
        await self.redis.hset(_key(batch_id, "docs"), str(index), json.dumps(state))

    async def status(self, batch_id: str) -> dict[str, Any] | None:
        header = await self.header(batch_id)
        if not header:
            return None
        documents = await self.documents(batch_id)
        counts = {"pending": 0, "signed": 0, "failed": 0}
        for document in documents:
            counts[document["status"]] = counts.get(document["status"], 0) + 1
        return {
            "batch_id": batch_id,
            "status": header["status"],
            "level": header["level"],
            "total": int(header["total"]),
            **counts,
            "created_at": header["created_at"],
            "documents": documents,
        }


class BatchRunner:
    """Signs the documents of active batches; safe to run in every service process at once."""

    def __init__(
        self,
        store: BatchStore,
        signer: DocumentSigner,
        trail: AuditTrail,
        records: DocumentRecords,
        *,
        personal_signer: Callable[[str], Awaitable[DocumentSigner]] | None = None,
        poll_seconds: float = 1.0,
        lock_seconds: float = _LOCK_SECONDS,
        retention_seconds: float = 30 * 86400,
    ) -> None:
        self._lock_seconds = lock_seconds
        self._retention = retention_seconds
        self._swept_at = 0.0
        self._store = store
        self._signer = signer
        self._personal_signer = personal_signer
        self._trail = trail
        self._records = records
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Set by :meth:`stop`: the loop ends at its next step even if the cancellation was lost
        #: (Python 3.11's ``wait_for`` can swallow one that lands as its wait ends, and a batch
        #: whose lock was just lost swallows it on purpose); a CI run hung 600 s on it (2026-12-04).
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="batch-runner")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _auditor(self, owner: Actor, unit: str | None) -> Auditor:
        """Events of a batch are the owner's, outside any request, in the owner's unit."""
        return Auditor(trail=self._trail, service=SERVICE, actor=owner, unit=unit)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for raw in await self._store.redis.smembers(ACTIVE):
                    if self._stopping.is_set():
                        return
                    try:
                        await self._try_batch(_text(raw))
                    except RedisError:
                        raise  # Redis is every batch's: the round ends, and is tried again
                    except Exception as exc:  # noqa: BLE001 - one batch's failure ends no runner
                        # An audit outage at the batch's end (AuditUnavailable), a token failing
                        # over, a file of its own missing: the batch stays active and is tried
                        # again next round; the other batches go on.
                        _log.warning(
                            "batch.round_failed", batch_id=_text(raw), error=type(exc).__name__
                        )
                if time.monotonic() - self._swept_at > _SWEEP_SECONDS:
                    self._swept_at = time.monotonic()
                    await self._store.sweep(min_age_seconds=_SWEEP_SECONDS)
            except (RedisError, OSError) as exc:
                _log.warning("batch.runner_retry", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()

    async def _try_batch(self, batch_id: str) -> None:
        lock = Lock(
            self._store.redis, _key(batch_id, "lock"), timeout=self._lock_seconds, blocking=False
        )
        if not await lock.acquire():
            return  # another process is on it
        work = asyncio.create_task(self._process(batch_id), name=f"batch-{batch_id}")
        keeper = asyncio.create_task(self._keep(lock, work, batch_id), name="batch-lock-keeper")
        try:
            await work
        except asyncio.CancelledError:
            if not keeper.done() or keeper.result() is not False:
                raise  # the runner itself is being stopped
            # The lock was lost (this process stalled past it): another process has the batch;
            # what this one finished is on disk and in Redis, what it had under way is redone there.
            _log.warning("batch.lock_lost", batch_id=batch_id)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LockError, RedisError):
                await lock.release()

    async def _keep(self, lock: Lock, work: asyncio.Task[None], batch_id: str) -> bool:
        """Renew the batch's lock every third of its time while ``work`` runs (a document may take
        longer than the lock: the sandbox's limit, a slow TSA); if it was lost, stop ``work`` and
        answer False."""
        while not work.done():
            await asyncio.sleep(self._lock_seconds / 3)
            try:
                await lock.extend(self._lock_seconds, replace_ttl=True)
            except LockError:
                work.cancel()
                return False
            except RedisError as exc:  # Redis failing over: the next renewal may pass
                _log.warning(
                    "batch.lock_renewal_failed", batch_id=batch_id, error=type(exc).__name__
                )
        return True

    async def _process(self, batch_id: str) -> None:
        header = await self._store.header(batch_id)
        if not header or header.get("status") != "running":
            await self._store.redis.srem(ACTIVE, batch_id)
            return
        owner = Actor(
            name=header["owner_actor"],
            client_id=header["owner_client"],
            subject=header["owner_subject"],
        )
        auditor = self._auditor(owner, header.get("owner_unit") or None)
        request = SignatureRequest.from_json(header["request"])
        signer = self._signer
        if header.get("credential_id"):
            if self._personal_signer is None:
                return  # this process cannot sign with personal keys; another one will
            try:
                signer = await self._personal_signer(header["credential_id"])
            except GatewayError as exc:
                # The key is gone (revoked, removed): its documents fail with the reason.
                for index, state in enumerate(await self._store.documents(batch_id)):
                    if state["status"] == "pending":
                        await self._store.set_document(
                            batch_id, index, {**state, "status": "failed", "error": exc.code}
                        )
        documents = await self._store.documents(batch_id)
        pending = [i for i, d in enumerate(documents) if d["status"] == "pending"]
        _log.info("batch.processing", batch_id=batch_id, pending=len(pending))
        gate = asyncio.Semaphore(_CONCURRENCY)
        large_gate = asyncio.Semaphore(_LARGE_CONCURRENCY)

        async def one(index: int) -> None:
            async with gate:
                try:
                    large = self._store.input_path(batch_id, index).stat().st_size > _LARGE_BYTES
                except OSError:  # signed already (resumed): its input may be gone
                    large = False
                async with large_gate if large else contextlib.nullcontext():
                    await self._sign_one(
                        batch_id, index, documents[index], auditor, request, signer, header
                    )

        await asyncio.gather(*(one(i) for i in pending))
        documents = await self._store.documents(batch_id)
        if any(d["status"] == "pending" for d in documents):
            return  # an audit outage left some for the next round
        signed = sum(d["status"] == "signed" for d in documents)
        await auditor.record(
            EventTag.SIGNING_BATCH_COMPLETE,
            target={"batch_id": batch_id, "signed": str(signed), "total": str(len(documents))},
            outcome=Outcome.SUCCESS if signed == len(documents) else Outcome.FAILURE,
            event_id=_event_id(batch_id, -1),
        )
        async with self._store.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(batch_id), "status", "completed")
            pipe.srem(ACTIVE, batch_id)
            # Kept for fetching for the retention time, then forgotten (its folder swept).
            pipe.expire(_key(batch_id), int(self._retention))
            pipe.expire(_key(batch_id, "docs"), int(self._retention))
            # Its Idempotency-Key goes with it: a key naming a forgotten batch would refuse the
            # same request sent again as "used for a different one".
            if key_name := header.get("idempotency_key"):
                pipe.eval(_KEY_EXPIRES_WITH_BATCH, 1, key_name, batch_id, int(self._retention))
            await pipe.execute()
        _log.info("batch.completed", batch_id=batch_id, signed=signed, total=len(documents))

    async def _sign_one(
        self,
        batch_id: str,
        index: int,
        state: dict[str, Any],
        auditor: Auditor,
        request: SignatureRequest,
        signer: DocumentSigner,
        header: dict[str, str],
    ) -> None:
        output = self._store.output_path(batch_id, index)
        if not output.exists():
            document = UntrustedDocument(self._store.input_path(batch_id, index).read_bytes())
            try:
                signed = await signer.sign(
                    document, document_request(request, state.get("reference", ""))
                )
            except GatewayError as exc:
                if exc.status_code >= 500:
                    _log.warning("batch.document_retry", batch_id=batch_id, code=exc.code)
                    return  # transient (TSA, revocation): stays pending for the next round
                await self._store.set_document(
                    batch_id, index, {**state, "status": "failed", "error": exc.code}
                )
                return
            temporary = output.with_suffix(f".{uuid.uuid4().hex}.tmp")  # never a shared one
            temporary.write_bytes(signed.content)
            with temporary.open("rb") as handle:
                os.fsync(handle.fileno())
            temporary.replace(output)
        content = output.read_bytes()
        reference = state.get("reference", "")
        if reference:
            await self._records.keep(
                DocumentRecord(
                    reference=reference,
                    sha256=sha256_hex(content),
                    signer=signer.signer_name,
                    seal=not header.get("credential_id"),
                    signed_at=datetime.now(UTC).isoformat(),
                    level=request.level.value,
                    document_type=header.get("document_type", ""),
                    document_type_title=header.get("document_type_title", ""),
                    # As read when the batch was uploaded (none in a batch stored before then).
                    title=state.get("title", ""),
                    # A batch stored before units came from accounts: what its stamps say.
                    unit=header.get(
                        "unit_name", request.stamp.unit if request.stamp is not None else ""
                    ),
                    credential_id=header.get("credential_id", ""),
                ),
                signed_from_sha256=state["sha256"],
            )
        try:
            await auditor.record(
                EventTag.SIGNING_DOCUMENT_SIGN,
                target={
                    "batch_id": batch_id,
                    "index": str(index),
                    "document_sha256": state["sha256"],
                    "signed_sha256": sha256_hex(content),
                    "key_label": signer.key_label,
                    "level": request.level.value,
                    "reference": state.get("reference", ""),
                },
                event_id=_event_id(batch_id, index),
            )
        except AuditUnavailable:
            return  # not marked: the next round records it (same event id) before release
        await self._store.set_document(
            batch_id, index, {**state, "status": "signed", "signed_sha256": sha256_hex(content)}
        )
