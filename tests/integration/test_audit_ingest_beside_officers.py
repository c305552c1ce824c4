"""The ingest never waits for a thread: officers' searches filling the routes' pool, and asyncio's
default pool taken by other work, leave the ingestor's commits going (they have a thread of their own)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring, decode_key
from audit.routes.threads import read_in_thread
from audit.store import READERS, open_store
from devstack import Stack, StackInfo


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="signing",
        actor=Actor(name=f"teacher{n}"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    )


def test_commits_go_on_while_every_shared_thread_is_busy(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "events.sqlite3")
    key = decode_key(stack.producer_key(Producer.SIGNING))
    stream = f"audit:test:beside-officers:{time.monotonic_ns()}"
    release = threading.Event()

    async def run() -> int:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        trail = RedisAuditTrail(client, HmacSealer(Producer.SIGNING, key), stream=stream)
        ingestor = StreamIngestor(
            client, store, ProducerKeyring({Producer.SIGNING.value: key}), stream=stream
        )
        # Every thread of the routes' pool held by an officer's long search, and every thread
        # of asyncio's default pool by other work (a checkpoint, the words' index).
        held = [asyncio.ensure_future(read_in_thread(release.wait, 60)) for _ in range(READERS + 2)]
        held += [asyncio.ensure_future(asyncio.to_thread(release.wait, 60)) for _ in range(32)]
        try:
            await asyncio.sleep(0.2)
            await ingestor.ensure_group()
            for n in range(20):
                await trail.record(_event(n))
            return await asyncio.wait_for(ingestor.drain_once(), timeout=15)
        finally:
            release.set()
            await asyncio.gather(*held)
            await client.aclose()

    try:
        taken = asyncio.run(run())
    finally:
        release.set()
    assert taken == 20
    assert store.count() == 20 and store.verify_chain() == 20
    store.close()
