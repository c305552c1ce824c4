"""The trail's group commit against the real Redis: concurrent records share writes, each one still
returns only once its own event is in the stream, and each one fails when it is not."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail, trail_client
from audit.errors import AuditUnavailable
from audit.producers import HmacSealer, Producer, decode_key
from audit.trail import MAC_FIELD, PRODUCER_FIELD, stream_of
from devstack import Ports, Stack, StackInfo, redis_server
from devstack.process import ManagedProcess
from gateway_runtime.redis_connection import RedisAddress

pytestmark = [pytest.mark.redis]


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_VERIFY,
        service="test",
        actor=Actor(name="trail-test"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    )


def _sealer(stack: Stack) -> HmacSealer:
    return HmacSealer(Producer.AUDIT, decode_key(stack.producer_key(Producer.AUDIT)))


def test_concurrent_records_all_land_once_in_full_and_sealed(
    stack: Stack, stack_info: StackInfo
) -> None:
    sealer = _sealer(stack)

    async def run() -> list[Any]:
        # The audit service's user: the only one that may read a stream (a test stream here).
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        stream = f"audit:test:group-commit:{time.monotonic_ns()}"
        trail = RedisAuditTrail(client, sealer, stream=stream, max_batch=64)
        events = [_event(n) for n in range(700)]
        await asyncio.gather(*(trail.record(e) for e in events))
        entries: Any = await client.xrange(stream_of(sealer.producer, stream))  # its own
        await client.aclose()
        return [fields for _, fields in entries]

    entries = asyncio.run(run())
    assert len(entries) == 700
    bodies = [fields[b"event"] for fields in entries]
    assert sorted(int(json.loads(b)["target"]["n"]) for b in bodies) == list(range(700))
    for fields in entries:  # each entry carries its producer's seal over exactly its event
        assert fields[PRODUCER_FIELD.encode()] == b"audit"
        assert fields[MAC_FIELD.encode()].decode() == sealer.seal_one(fields[b"event"]).hex()


def test_every_record_fails_closed_when_redis_cannot_be_reached(stack: Stack) -> None:
    async def run() -> list[BaseException | None]:
        client = redis_async.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
        trail = RedisAuditTrail(client, _sealer(stack))
        results = await asyncio.gather(
            *(trail.record(_event(n)) for n in range(5)), return_exceptions=True
        )
        await client.aclose()
        return list(results)

    results = asyncio.run(run())
    assert all(isinstance(r, AuditUnavailable) for r in results), results


def test_a_redis_that_stops_answering_fails_the_write_at_its_deadline(tmp_path: Path) -> None:
    """Attack class: a stalled store (Redis frozen, its connections open: SIGSTOP). The trail's
    connections read replies without a timeout each (``trail_client``), so the write's own deadline
    is all that stops the wait: every record of the write fails closed by then, and once Redis
    answers again the same trail records (the stalled connection was dropped, not reused)."""
    passwords = {user: secrets.token_urlsafe(16) for user in redis_server.ACL_RULES}
    url = redis_server.start(tmp_path, port=Ports.free_block(1), passwords=passwords)
    redis = ManagedProcess("redis", tmp_path)
    pid = redis.pid()
    assert pid is not None
    sealer = HmacSealer(Producer.SIGNING, secrets.token_bytes(32))

    async def run() -> tuple[list[BaseException | None], float, int]:
        client = trail_client(
            RedisAddress.parse(url), username="signing", password=passwords["signing"]
        )
        trail = RedisAuditTrail(client, sealer, write_timeout=2.5)
        try:
            await trail.record(_event(0))  # connected and answering
            os.kill(pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                stalled = await asyncio.gather(
                    *(trail.record(_event(n)) for n in range(1, 6)), return_exceptions=True
                )
                waited = time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
            await trail.record(_event(6))
        finally:
            await client.aclose()
        reader = redis_async.Redis.from_url(url, username="audit", password=passwords["audit"])
        length = int(await reader.xlen(stream_of(Producer.SIGNING)))
        await reader.aclose()
        return list(stalled), waited, length

    try:
        stalled, waited, length = asyncio.run(run())
    finally:
        redis.stop()
    assert all(isinstance(r, AuditUnavailable) for r in stalled), stalled
    # The write's deadline (2.5 s), not redis-py's reply timeout (5 s) nor for ever.
    assert 2.4 <= waited < 4.5, waited
    # The first and the last record are in the stream. The stalled ones were reported not
    # recorded; Redis may still append them when it wakes (they were sent): a producer that is
    # told "not recorded" does not complete its operation, and the store keeps each id once.
    assert 2 <= length <= 7
