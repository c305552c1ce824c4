"""The stream tampered with through what a producer's Redis user may do: ``XADD`` (attack classes:
trimming unread events with ``MAXLEN``/``MINID``, and an id set far in the future by hand). An ACL
cannot refuse XADD's options; the ingestor sees both in the stream's own state and alerts, and its
own deletions (of events it stored) never look like either. On the real Redis, a test stream."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.detection import Detector, load_detection_config
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring, decode_key
from audit.store import open_store
from audit.trail import stream_of
from devstack import Stack, StackInfo

pytestmark = [pytest.mark.redis]


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="test",
        actor=Actor(name=f"tamper-{n}"),
        outcome=Outcome.SUCCESS,
    )


def _tampering(stack: Stack, info: StackInfo, tmp_path: Path, tamper: list[str]) -> list[str]:
    """Record and ingest three events, check the stream (nothing to say), run ``tamper`` (a Redis
    command), check again: the alerts' keys, both checks."""
    stream = f"audit:test:tamper:{time.monotonic_ns()}"
    store = open_store(tmp_path / "events.sqlite3")
    key = decode_key(stack.producer_key(Producer.SIGNING))

    async def run() -> list[str]:
        client = redis_async.Redis.from_url(
            info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        try:
            trail = RedisAuditTrail(client, HmacSealer(Producer.SIGNING, key), stream=stream)
            ingestor = StreamIngestor(
                client,
                store,
                ProducerKeyring({Producer.SIGNING.value: key}),
                stream=stream,
                consumer="tamper-test",
                detector=Detector(load_detection_config()),
            )
            await ingestor.ensure_group()
            for n in range(3):
                await trail.record(_event(n))
            assert await ingestor.drain_once() == 3  # stored, acknowledged and deleted
            assert await ingestor.check_stream() == []  # its own deletions are no tampering
            run_command: Any = client.execute_command
            # The stream the signing producer appends to, the only one its credentials reach.
            own = stream_of(Producer.SIGNING, stream)
            await run_command(*[part.replace("{stream}", own) for part in tamper])
            keys = [str(a.target["key"]) for a in await ingestor.check_stream()]
            assert await ingestor.check_stream() == []  # said once
            return keys
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    finally:
        store.close()


def test_unread_entries_trimmed_through_xadd_are_alerted(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    keys = _tampering(
        stack, stack_info, tmp_path, ["XADD", "{stream}", "MAXLEN", "0", "*", "x", "y"]
    )
    assert len(keys) == 1 and keys[0].startswith("trimmed:signing:")


def test_an_id_set_far_in_the_future_is_alerted(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    keys = _tampering(
        stack, stack_info, tmp_path, ["XADD", "{stream}", "99999999999999-0", "x", "y"]
    )
    assert keys == ["future-id:signing:99999999999999-0"]


def test_each_producer_reads_from_its_own_stream_and_the_shared_one_is_drained(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    """Attack class: an event sealed by one producer placed in another's stream (only a holder of
    the audit service's own Redis user can write there) is quarantined as ``wrong-stream``, named
    by its stream (ids repeat across streams); events left in the stream all producers shared
    until 2026-12-04 are still stored (an upgrade loses nothing accepted)."""
    prefix = f"audit:test:streams:{time.monotonic_ns()}"
    store = open_store(tmp_path / "events.sqlite3")
    signing = decode_key(stack.producer_key(Producer.SIGNING))
    accounts = decode_key(stack.producer_key(Producer.ACCOUNTS))

    async def run() -> None:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="audit", password=stack.redis_password("audit")
        )
        try:
            ingestor = StreamIngestor(
                client,
                store,
                ProducerKeyring({Producer.SIGNING.value: signing, "accounts": accounts}),
                stream=prefix,
                consumer="streams-test",
            )
            await ingestor.ensure_group()
            # Left in the shared stream before the upgrade, and one recorded as producers now do.
            old = HmacSealer(Producer.SIGNING, signing)
            payload = _event(0).canonical_json().encode()
            add: Any = client.xadd
            await add(
                prefix,
                {"event": payload, "producer": "signing", "mac": old.seal_one(payload).hex()},
            )
            await RedisAuditTrail(client, old, stream=prefix).record(_event(1))
            # An account-issuing event, genuinely sealed, in the signing service's stream.
            foreign = AuditEvent.build(
                tag=EventTag.IDP_ACCOUNT_ISSUE,
                service="idp-config",
                actor=Actor(name="it-officer"),
                outcome=Outcome.SUCCESS,
            )
            sealed = foreign.canonical_json().encode()
            seal = HmacSealer(Producer.ACCOUNTS, accounts).seal_one(sealed).hex()
            entry = await add(
                stream_of(Producer.SIGNING, prefix),
                {"event": sealed, "producer": "accounts", "mac": seal},
            )
            taken = 0
            while taken < 3:
                taken += await ingestor.drain_once()
            [quarantined] = store.quarantined(limit=10)
            assert quarantined.entry_id == f"signing/{entry.decode()}"
            assert (quarantined.producer, quarantined.reason) == ("accounts", "wrong-stream")
            assert store.count() == 2  # the shared stream's event and the new one
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    finally:
        store.close()
