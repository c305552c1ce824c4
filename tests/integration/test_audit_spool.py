"""The local spool against the real Redis: an event reported as spooled is never lost to a replay
running at the same moment, writers in several processes race replays without losing or doubling
anything, and a Redis outage under a steady 100 events/s loses and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring, decode_key
from audit.spool import SpoolingAuditTrail
from audit.store import EventSearch, open_store
from audit.trail import STREAM, SealedEvent, stream_of
from devstack import Ports, Stack, StackInfo, redis_server
from devstack.process import ManagedProcess
from tests.conftest import free_port

pytestmark = [pytest.mark.redis]


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="signing",
        actor=Actor(name="spool-test"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    )


def _dead_trail(key: bytes) -> RedisAuditTrail:
    """A trail whose Redis is not there: every record goes to the spool (at once: redis-py's
    default retries with backoff would make each record wait seconds first)."""
    client = redis_async.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    return RedisAuditTrail(client, HmacSealer(Producer.SIGNING, key))


async def _stream_numbers(client: redis_async.Redis, prefix: str) -> list[int]:
    """The numbers of the events the signing producer appended under ``prefix``."""
    entries: Any = await client.xrange(stream_of(Producer.SIGNING, prefix))
    return sorted(int(json.loads(fields[b"event"])["target"]["n"]) for _, fields in entries)


class _HeldTrail(RedisAuditTrail):
    """The real trail, held in the middle of a replay: the moment the race needs."""

    def __init__(self, *args: Any, gate: threading.Event, inside: threading.Event, **kw: Any):
        super().__init__(*args, **kw)
        self.gate, self.inside = gate, inside

    async def send(self, sealed: SealedEvent) -> None:
        self.inside.set()
        await asyncio.to_thread(self.gate.wait)
        await super().send(sealed)


def test_an_event_spooled_while_a_replay_runs_is_not_lost(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    """Attack (a race, no attacker needed): a writer that opened the spool file waits for its lock
    while a replay holds it; the replay then deletes the file by name. The writer must not append
    to the deleted file (the event it reports as spooled would be lost)."""
    key = decode_key(stack.producer_key(Producer.SIGNING))
    folder = tmp_path / "spool"
    stream = f"audit:test:spool-race:{time.monotonic_ns()}"

    async def run() -> list[int]:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        sealer = HmacSealer(Producer.SIGNING, key)
        writer = SpoolingAuditTrail(_dead_trail(key), folder)
        gate, inside = threading.Event(), threading.Event()
        held = _HeldTrail(client, sealer, stream=stream, gate=gate, inside=inside)
        await writer.record(_event(1))  # spooled
        replay = asyncio.create_task(SpoolingAuditTrail(held, folder).replay_once())
        await asyncio.to_thread(inside.wait)  # the replay holds the file's lock now
        second = asyncio.create_task(writer.record(_event(2)))
        await asyncio.sleep(0.5)  # the writer has opened its spool file by now
        gate.set()
        assert await replay == 1
        await second  # reported as spooled
        replayer = SpoolingAuditTrail(RedisAuditTrail(client, sealer, stream=stream), folder)
        await replayer.replay_once()
        numbers = await _stream_numbers(client, stream)
        await client.aclose()
        return numbers

    assert asyncio.run(run()) == [1, 2]
    assert list(folder.iterdir()) == []


def _writer_process(folder: str, key: bytes, start: int, count: int) -> None:
    async def go() -> None:
        writer = SpoolingAuditTrail(_dead_trail(key), Path(folder))
        for n in range(start, start + count):
            await writer.record(_event(n))

    asyncio.run(go())


def test_writers_in_several_processes_racing_replays_lose_and_double_nothing(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    """Four processes spool 300 events each while this one replays every 10 ms: every event
    reaches the stream exactly once."""
    key = decode_key(stack.producer_key(Producer.SIGNING))
    folder = tmp_path / "spool"
    folder.mkdir()
    stream = f"audit:test:spool-writers:{time.monotonic_ns()}"
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_writer_process, args=(str(folder), key, p * 300, 300))
        for p in range(4)
    ]

    async def run() -> list[int]:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        replayer = SpoolingAuditTrail(
            RedisAuditTrail(client, HmacSealer(Producer.SIGNING, key), stream=stream), folder
        )
        for process in writers:
            process.start()
        while any(p.is_alive() for p in writers):
            await replayer.replay_once()
            await asyncio.sleep(0.01)
        assert all(p.exitcode == 0 for p in writers)
        while await replayer.replay_once():
            pass
        numbers = await _stream_numbers(client, stream)
        await client.aclose()
        return numbers

    assert asyncio.run(run()) == list(range(1200))
    assert list(folder.iterdir()) == []


def test_a_redis_outage_under_100_events_per_second_loses_and_doubles_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """Redis stopped for 10 s while a producer records 100 events/s for 20 s (the signing
    service's shape: its trail, its spool, its replay task), then started again."""
    key = decode_key(stack.producer_key(Producer.SIGNING))
    passwords = {user: secrets.token_urlsafe(12) for user in redis_server.ACL_RULES}
    port = Ports.free_block(1)
    url = redis_server.start(tmp_path / "redis", port=port, passwords=passwords)
    folder = tmp_path / "spool"

    store = open_store(tmp_path / "events.sqlite3")

    async def run() -> tuple[list[int], int]:
        producer = redis_async.Redis.from_url(
            url, username="signing", password=passwords["signing"], socket_timeout=2
        )
        trail = SpoolingAuditTrail(
            RedisAuditTrail(producer, HmacSealer(Producer.SIGNING, key)), folder, replay_seconds=0.5
        )
        trail.start()
        spooled = 0
        started = time.monotonic()
        for n in range(2000):
            if n == 500:  # 5 s in: Redis goes away for 10 s
                await asyncio.to_thread(ManagedProcess("redis", tmp_path / "redis").stop)
            if n == 1500:
                await asyncio.to_thread(
                    redis_server.start, tmp_path / "redis", port=port, passwords=passwords
                )
            await trail.record(_event(n))
            if list(folder.glob("*.jsonl")):
                spooled += 1
            await asyncio.sleep(max(0.0, started + (n + 1) / 100 - time.monotonic()))
        deadline = time.monotonic() + 30
        while list(folder.glob("*.jsonl")) and time.monotonic() < deadline:  # noqa: ASYNC110 - files, not an event
            await asyncio.sleep(0.2)
        await trail.stop()
        reader = redis_async.Redis.from_url(url, username="audit", password=passwords["audit"])
        numbers = await _stream_numbers(reader, STREAM)
        # Into a store, as the audit service does: each event once, sealed as the producer sealed it.
        ingestor = StreamIngestor(
            reader, store, ProducerKeyring({Producer.SIGNING.value: key}), block_ms=200
        )
        await ingestor.ensure_group()
        while await ingestor.drain_once():
            pass
        await reader.aclose()
        await producer.aclose()
        return numbers, spooled

    try:
        numbers, spooled = asyncio.run(run())
    finally:
        ManagedProcess("redis", tmp_path / "redis").stop()
    assert spooled > 500  # the outage was real: events went to the spool
    assert sorted(set(numbers)) == list(range(2000))  # none lost on the way
    stored = sorted(int(r.event["target"]["n"]) for r in store.search(EventSearch(), limit=5000))
    assert stored == list(range(2000))  # every event stored, none twice
    assert store.verify_chain() == 2000
    assert store.quarantined() == []  # the spooled seals verify
    store.close()


def test_a_replay_never_waits_for_a_thread_that_waits_for_its_lock() -> None:
    """Attack class: the process stalled for good (availability of the audit trail). A replay holds
    a spool file's lock; a writer, in asyncio's shared thread pool, waits for that lock; the replay
    asked the same pool to rename the file. With the pool full — here its one thread, in CI ten
    spooling writers through a Redis failover — the rename never ran, the writer never got the
    lock, and every later ``to_thread`` of the process waited with them (the CI run hung for
    600 s). Writers and the replay now have threads of their own."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    key = secrets.token_bytes(32)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        shared = ThreadPoolExecutor(max_workers=1)
        loop.set_default_executor(shared)
        with tempfile.TemporaryDirectory() as folder:
            spool = SpoolingAuditTrail(_dead_trail(key), Path(folder))
            await spool.record(_event(0))  # a spooled file for the replay to take
            gate = threading.Event()
            busy = loop.run_in_executor(None, gate.wait)  # the shared pool's thread, taken
            writer = asyncio.create_task(spool.record(_event(1)))
            await asyncio.sleep(0.1)  # the writer's append is queued (or done)
            replay = asyncio.create_task(spool.replay_once())
            await asyncio.sleep(0.1)  # the replay holds the lock, its rename queued (or done)
            gate.set()  # the shared thread now runs what was queued behind it
            await busy
            _, pending = await asyncio.wait({writer, replay}, timeout=10)
            for task in pending:
                task.cancel()  # closes the replay's file: its lock goes, a blocked writer ends
            await asyncio.gather(*pending, return_exceptions=True)
            assert not pending, "the replay and the writer waited for each other"
            assert writer.exception() is None  # spooled
            # The replay ran to its end: Redis is not there, so it kept the file for next time.
            assert replay.exception() is not None

    asyncio.run(run())
