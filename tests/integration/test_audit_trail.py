"""The trail's group commit against the real Redis: concurrent records share writes, each one still
returns only once its own event is in the stream, and each one fails when it is not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.errors import AuditUnavailable
from devstack import Stack, StackInfo

pytestmark = [pytest.mark.redis]


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_VERIFY,
        service="test",
        actor=Actor(name="trail-test"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    )


def test_concurrent_records_all_land_once_and_in_full(stack: Stack, stack_info: StackInfo) -> None:
    async def run() -> list[Any]:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, password=stack.secrets.get("redis")
        )
        stream = "test:group-commit"
        await client.delete(stream)
        trail = RedisAuditTrail(client, stream=stream, max_batch=64)
        events = [_event(n) for n in range(700)]
        await asyncio.gather(*(trail.record(e) for e in events))
        entries: Any = await client.xrange(stream)
        await client.delete(stream)
        await client.aclose()
        return [fields[b"event"] for _, fields in entries]

    bodies = asyncio.run(run())
    assert len(bodies) == 700
    assert sorted(int(json.loads(b)["target"]["n"]) for b in bodies) == list(range(700))


def test_every_record_fails_closed_when_redis_cannot_be_reached(stack: Stack) -> None:
    async def run() -> list[BaseException | None]:
        client = redis_async.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
        trail = RedisAuditTrail(client)
        results = await asyncio.gather(
            *(trail.record(_event(n)) for n in range(5)), return_exceptions=True
        )
        await client.aclose()
        return list(results)

    results = asyncio.run(run())
    assert all(isinstance(r, AuditUnavailable) for r in results), results
