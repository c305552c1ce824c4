"""Batches shared by several service processes, and batches that fail on the way in.

Real Redis (one of this test's own, with the gateway's ACL users, so that the stack's signing service
does not take these batches), the real token and the real signer; the runners are the service's.

Attack classes: a *slow document* (longer than the batch's lock: the sandbox allows 30 s, a TSA 10 s
more) must not let a second process sign it again; an *idempotency key chosen by another person* of
the same application must neither be refused nor show that person's batch; a *submission that failed
half-way* (disk full) must not lock its own retry out for a week; an *audit outage at a batch's end*
must not stop the runner for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async
from redis.exceptions import RedisError

from audit import RedisAuditTrail
from audit.errors import AuditUnavailable
from audit.producers import HmacSealer, Producer
from devstack import Ports, Stack, StackInfo, redis_server
from devstack.process import ManagedProcess
from signing_service.batches import BatchOwner, BatchRunner, BatchStore
from signing_service.document_records import DocumentRecords
from signing_service.documents import UntrustedDocument
from signing_service.errors import IdempotencyKeyReused
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from tests.signing_app import seal_signer

pytestmark = [pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]

TEACHER = BatchOwner("demo-sign-app", "subject-teacher", "gv.hoa", "thpt-a")
PRINCIPAL = BatchOwner("demo-sign-app", "subject-principal", "ht.lan", "thpt-a")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("batch-redis")
    passwords = {user: secrets.token_urlsafe(16) for user in redis_server.ACL_RULES}
    url = redis_server.start(folder, port=Ports.free_block(1), passwords=passwords)
    yield url, passwords
    ManagedProcess("redis", folder).stop()


@pytest.fixture
def signer(stack: Stack, stack_info: StackInfo) -> Iterator[DocumentSigner]:
    """The seal's signer (its HTTP clients belong to the event loop of the test that uses it)."""
    with seal_signer(stack, stack_info) as document_signer:
        yield document_signer


class _SlowSigner:
    """The real signer, each signature taking ``seconds`` longer (a hostile or huge document, a
    slow TSA), counting what it signs."""

    def __init__(self, inner: DocumentSigner, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self.signed: Counter[bytes] = Counter()
        self.signer_name = inner.signer_name
        self.key_label = inner.key_label

    async def sign(self, document: UntrustedDocument, request: SignatureRequest) -> Any:
        await asyncio.sleep(self._seconds)
        result = await self._inner.sign(document, request)
        self.signed[bytes(document)] += 1
        return result


class _FailingAt:
    """A real audit trail whose ``n``-th write fails as an outage would."""

    def __init__(self, inner: RedisAuditTrail, n: int) -> None:
        self._inner = inner
        self._n = n
        self.calls = 0

    async def record(self, event: Any) -> None:
        self.calls += 1
        if self.calls == self._n:
            raise AuditUnavailable("the audit stream is failing over")
        await self._inner.record(event)


async def _client(url: str, passwords: dict[str, str]) -> redis_async.Redis:
    return redis_async.Redis.from_url(url, username="signing", password=passwords["signing"])


def _documents(demo_pdf: bytes, count: int) -> list[tuple[str, bytes]]:
    # Distinct documents (a comment appended after %%EOF changes the bytes, not the PDF).
    return [(f"hs-{i:02d}.pdf", demo_pdf + f"\n%{i}\n".encode()) for i in range(count)]


async def _wait_completed(store: BatchStore, batch_id: str, seconds: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status = await store.status(batch_id)
        assert status is not None
        if status["status"] == "completed" or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _session(
    redis_url: tuple[str, dict[str, str]], signer: DocumentSigner | None = None
) -> AsyncIterator[redis_async.Redis]:
    """A client of the test's Redis. At the end, a failure included: no batch of the test is left
    active for the next test's runners, and the signer's and the client's connections are closed
    (left open, they fail a later test when collected)."""
    url, passwords = redis_url
    client = await _client(url, passwords)
    try:
        yield client
    finally:
        with contextlib.suppress(RedisError):
            active = await client.smembers("batches:active")
            if active:
                await client.srem("batches:active", *active)
        if signer is not None:
            await signer.aclose()
        await client.aclose()


async def _new_batch(store: BatchStore, name: str, documents: list[tuple[str, bytes]]) -> str:
    """A teacher's B-B batch of ``documents`` under a fresh key."""
    batch_id, created = await store.create(
        TEACHER,
        f"{name}-{secrets.token_hex(4)}",
        "fp",
        SignatureRequest(level=SignatureLevel.B_B),
        documents,
        {},
    )
    assert created
    return batch_id


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_document_slower_than_the_lock_is_signed_once_by_two_processes(
    redis_url: tuple[str, dict[str, str]], signer: DocumentSigner, demo_pdf: bytes, tmp_path: Path
) -> None:
    """Attack class: slow document. Two runners (two service processes) share the batches; each
    document takes three times the lock's time. Before, the lock was renewed only when a document
    was done: the second process took the batch and signed the same document again, and the audit
    log kept the first signature while the file delivered was the second."""

    async def scenario() -> tuple[dict[str, Any], Counter[bytes], int]:
        async with _session(redis_url, signer) as client:
            store = BatchStore(client, tmp_path / "batches")
            trail = RedisAuditTrail(client, HmacSealer(Producer.SIGNING, secrets.token_bytes(32)))
            records = DocumentRecords(client, tmp_path / "records.jsonl")
            slow = _SlowSigner(signer, seconds=3.0)
            runners = [
                BatchRunner(store, slow, trail, records, poll_seconds=0.2, lock_seconds=1.0)  # type: ignore[arg-type]
                for _ in range(2)
            ]
            documents = _documents(demo_pdf, 3)
            batch_id = await _new_batch(store, "slow", documents)
            for runner in runners:
                runner.start()
            try:
                status = await _wait_completed(store, batch_id, seconds=90)
            finally:
                for runner in runners:
                    await runner.stop()
            return status, slow.signed, len(documents)

    status, signed, total = _run(scenario())
    assert (status["status"], status["signed"]) == ("completed", total), status
    assert sorted(signed.values()) == [1] * total, "a document was signed twice"


def test_the_same_key_chosen_by_two_people_of_one_application_makes_two_batches(
    redis_url: tuple[str, dict[str, str]], demo_pdf: bytes, tmp_path: Path
) -> None:
    """Attack class: borrowed idempotency key. A teacher and a principal of the same school app
    both name their batch ``lop-10a1-hk1``. Before, the key was the application's: the principal
    was refused (422, a key "used for a different batch") or, with the same files, handed the
    teacher's batch — its file names (students' names) and references."""

    async def scenario() -> None:
        async with _session(redis_url) as client:
            store = BatchStore(client, tmp_path / "batches")
            request = SignatureRequest(level=SignatureLevel.B_B)
            key = f"lop-10a1-hk1-{secrets.token_hex(3)}"
            documents = _documents(demo_pdf, 2)
            teachers, created = await store.create(TEACHER, key, "same", request, documents, {})
            assert created
            assert await store.find_by_key(PRINCIPAL, key, "same") is None
            principals, created = await store.create(PRINCIPAL, key, "same", request, documents, {})
            assert created and principals != teachers
            assert await store.find_by_key(TEACHER, key, "same") == teachers
            assert await store.find_by_key(PRINCIPAL, key, "same") == principals
            with pytest.raises(IdempotencyKeyReused):
                await store.find_by_key(TEACHER, key, "different files")

    _run(scenario())


def test_a_submission_that_failed_half_way_can_be_sent_again(
    redis_url: tuple[str, dict[str, str]],
    demo_pdf: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack class: partial submission. The disk fills while a batch's files are written. Before,
    the key stayed claimed for seven days with nothing behind it: every retry of the same request
    was refused as a key "used for a different batch", and the written files stayed."""

    async def scenario() -> None:
        async with _session(redis_url) as client:
            folder = tmp_path / "batches"
            store = BatchStore(client, folder)
            request = SignatureRequest(level=SignatureLevel.B_B)
            key = f"retry-{secrets.token_hex(4)}"
            documents = _documents(demo_pdf, 3)
            write_bytes = Path.write_bytes
            written: list[Path] = []

            def disk_full_on_the_third(path: Path, data: Any) -> int:
                if len(written) == 2:
                    raise OSError(errno.ENOSPC, "No space left on device")
                written.append(path)
                return write_bytes(path, data)

            with monkeypatch.context() as patch:
                patch.setattr(Path, "write_bytes", disk_full_on_the_third)
                with pytest.raises(OSError, match="No space left"):
                    await store.create(TEACHER, key, "fp", request, documents, {})
            assert written and not any(p.exists() for p in written), "the half-written batch stays"
            assert await store.find_by_key(TEACHER, key, "fp") is None
            batch_id, created = await store.create(TEACHER, key, "fp", request, documents, {})
            assert created
            status = await store.status(batch_id)
            assert status is not None and status["total"] == 3

    _run(scenario())


def test_an_audit_outage_at_a_batchs_end_does_not_stop_the_runner(
    redis_url: tuple[str, dict[str, str]], signer: DocumentSigner, demo_pdf: bytes, tmp_path: Path
) -> None:
    """Attack class: audit outage. The batch's completion event cannot be recorded once (the audit
    path failing over). Before, the runner's task ended on that error: every batch of the process
    stayed "running" until a restart, and nothing said so."""

    async def scenario() -> dict[str, Any]:
        async with _session(redis_url, signer) as client:
            store = BatchStore(client, tmp_path / "batches")
            inner = RedisAuditTrail(client, HmacSealer(Producer.SIGNING, secrets.token_bytes(32)))
            documents = _documents(demo_pdf, 1)
            # The document's own event is recorded; the batch's completion, the second, fails once.
            trail = _FailingAt(inner, 2)
            runner = BatchRunner(
                store,
                signer,
                trail,
                DocumentRecords(client, tmp_path / "records.jsonl"),
                poll_seconds=0.2,
            )
            batch_id = await _new_batch(store, "outage", documents)
            runner.start()
            try:
                status = await _wait_completed(store, batch_id, seconds=60)
            finally:
                await runner.stop()
            assert trail.calls >= 3, "the completion was not tried again"
            return status

    status = _run(scenario())
    assert (status["status"], status["signed"]) == ("completed", 1), status


def _kept_for(
    store: BatchStore, signer: DocumentSigner, folder: Path, *, seconds: float
) -> BatchRunner:
    """A runner of ``store``'s batches whose completed batches are kept ``seconds``."""
    trail = RedisAuditTrail(store.redis, HmacSealer(Producer.SIGNING, secrets.token_bytes(32)))
    return BatchRunner(
        store,
        signer,
        trail,
        DocumentRecords(store.redis, folder / "records.jsonl"),
        poll_seconds=0.2,
        retention_seconds=seconds,
    )


def test_a_completed_batch_is_kept_its_retention_time_then_swept(
    redis_url: tuple[str, dict[str, str]], signer: DocumentSigner, demo_pdf: bytes, tmp_path: Path
) -> None:
    """Batches used to stay for ever (Redis state and every signed file): a province's terms of
    transcripts filled the disk. A completed batch expires after the retention time (set when it
    completes, then made short here: a 2 s retention expired before a loaded machine could look),
    and its folder goes at the next sweep; a batch being stored (a young folder, no state yet) and
    a batch still running are left alone."""

    async def scenario() -> None:
        async with _session(redis_url, signer) as client:
            folder = tmp_path / "batches"
            store = BatchStore(client, folder)
            runner = _kept_for(store, signer, tmp_path, seconds=60)
            request = SignatureRequest(level=SignatureLevel.B_B)
            done, _ = await store.create(
                TEACHER, f"kept-{secrets.token_hex(4)}", "fp", request, _documents(demo_pdf, 1), {}
            )
            runner.start()
            try:
                assert (await _wait_completed(store, done, seconds=60))["status"] == "completed"
            finally:
                await runner.stop()
            for key in (f"batch:{done}", f"batch:{done}:docs"):
                assert 0 < await client.ttl(key) <= 60
                await client.pexpire(key, 500)  # the retention time, made short
            running, _ = await store.create(
                TEACHER,
                f"running-{secrets.token_hex(4)}",
                "fp",
                request,
                _documents(demo_pdf, 1),
                {},
            )
            await asyncio.sleep(2.5)  # the completed batch's state expires in Redis
            being_stored = folder / ("f" * 32)
            (being_stored / "in").mkdir(parents=True)
            assert await store.status(done) is None
            assert await store.sweep(min_age_seconds=1.0) == 1  # the running one is 2.5 s old too
            assert not (folder / done).exists()
            assert (folder / running).is_dir() and being_stored.is_dir()
            assert await store.sweep(min_age_seconds=3600.0) == 0

    _run(scenario())


def test_a_key_expires_with_its_batch_when_the_retention_is_shorter_than_a_week(
    redis_url: tuple[str, dict[str, str]], signer: DocumentSigner, demo_pdf: bytes, tmp_path: Path
) -> None:
    """Attack class: *a stale idempotency key*. An Idempotency-Key names its batch for a week; with
    a retention shorter than that (``SIGNING_BATCH_RETENTION_DAYS``), the batch was forgotten while
    its key still named it, and the same request sent again was refused as "used for a different
    request" until the week ended. The key now expires with its batch; the request is then a new
    batch, as the IETF Idempotency-Key draft has it for an expired key."""

    async def scenario() -> None:
        async with _session(redis_url, signer) as client:
            store = BatchStore(client, tmp_path / "batches")
            runner = _kept_for(store, signer, tmp_path, seconds=2)
            request = SignatureRequest(level=SignatureLevel.B_B)
            key = f"short-{secrets.token_hex(4)}"
            first, created = await store.create(
                TEACHER, key, "fp", request, _documents(demo_pdf, 1), {}
            )
            assert created
            runner.start()
            try:
                deadline = asyncio.get_running_loop().time() + 90
                while await store.status(first) is not None:  # completed, then forgotten
                    assert asyncio.get_running_loop().time() < deadline, "never completed"
                    await asyncio.sleep(0.2)
            finally:
                await runner.stop()
            again, created = await store.create(
                TEACHER, key, "fp", request, _documents(demo_pdf, 1), {}
            )
            assert created and again != first
            # A key whose batch is still kept keeps naming it (the same request, the same batch).
            assert await store.create(TEACHER, key, "fp", request, [], {}) == (again, False)

    _run(scenario())
