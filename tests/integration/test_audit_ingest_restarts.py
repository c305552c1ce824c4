"""The ingestor against the real Redis and the real PostgreSQL store: the database goes down in the
middle of the stream and comes back; every event recorded is stored exactly once, none is acknowledged
before it is stored, and the log verifies."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.ingest import GROUP, StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring, decode_key
from audit.store import open_store
from audit.trail import stream_of
from devstack import Stack, StackInfo, postgres
from tests.conftest import new_postgres_database

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="test",
        actor=Actor(name=f"restart-{n % 7}"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    )


def test_the_database_going_down_mid_stream_loses_and_repeats_nothing(
    stack: Stack,
    stack_info: StackInfo,
    postgres_server: postgres.Postgres,
) -> None:
    store_location = new_postgres_database(postgres_server)
    stream = f"audit:test:ingest-restart:{time.monotonic_ns()}"
    own = stream_of(Producer.SIGNING, stream)  # where the signing producer's events go
    store = open_store(store_location)
    key = decode_key(stack.producer_key(Producer.SIGNING))

    async def run() -> tuple[int, int]:
        # The audit service's user (the stream is a test one, which only it may read).
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        trail = RedisAuditTrail(client, HmacSealer(Producer.SIGNING, key), stream=stream)
        ingestor = StreamIngestor(
            client,
            store,
            ProducerKeyring({Producer.SIGNING.value: key}),
            stream=stream,
            consumer="restart-test",
            batch=50,
        )
        ingestor.start()
        try:
            for n in range(300):
                await trail.record(_event(n))
            await _until(lambda: store.count() == 300)
            postgres_server.halt()  # the database is gone; producers go on
            for n in range(300, 800):
                await trail.record(_event(n))
            await asyncio.sleep(2.5)  # the ingestor tries, fails, keeps the batches unacknowledged
            unacknowledged = (await client.xpending(own, GROUP))["pending"]
            await asyncio.to_thread(postgres_server.resume)
            await _until(lambda: store.count() == 800, seconds=60)
            await _until(lambda: ingestor.healthy)
            # The last batch is acknowledged and removed just after it is committed: wait for it
            # (boundedly) rather than read the stream at the instant the store reached 800.
            left = await client.xlen(own)
            for _ in range(200):  # at most 10 s
                if not left:
                    break
                await asyncio.sleep(0.05)
                left = await client.xlen(own)
            return int(unacknowledged), int(left)
        finally:
            await ingestor.stop()
            await client.aclose()

    try:
        unacknowledged, left = asyncio.run(run())
    finally:
        if not postgres_server.process.running():
            postgres_server.resume()
    assert unacknowledged > 0  # read while the database was down, and not acknowledged
    assert left == 0  # everything acknowledged and removed once stored
    assert store.verify_chain() == 800
    with psycopg.connect(store_location) as db:
        numbers = sorted(
            int(n)
            for (n,) in db.execute("SELECT body::json -> 'target' ->> 'n' FROM events").fetchall()
        )
    assert numbers == list(range(800))  # each exactly once
    store.close()


async def _until(check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")
