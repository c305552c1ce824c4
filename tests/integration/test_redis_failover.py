"""The audit trail through a Redis failover: Debian's Redis and Sentinel (a primary, two replicas,
three sentinels), the primary killed (SIGKILL) while producers record events without pause.

Attack class: loss of the Redis primary (availability and integrity of the audit log). Redis replicates
asynchronously: an event the primary acknowledged and died with would be lost at failover, and a
retried one stored twice. The trail counts an event as recorded only once a replica holds it too
(``WAIT``), the store keeps each event once, so: every event a producer was told was recorded is
stored, exactly once; a producer with a spool (the signing service) never fails; one without (the
audit service's own events) fails closed only while the sentinels have no primary to give.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.errors import AuditUnavailable
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring
from audit.spool import SpoolingAuditTrail
from audit.store import EventSearch, open_store
from devstack import redis_sentinel
from devstack.layout import Ports
from gateway_runtime.redis_connection import RedisAddress

pytestmark = pytest.mark.redis

PASSWORDS = {user: secrets.token_urlsafe(16) for user in redis_sentinel.USERS}


def _event(producer: str, n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="test",
        actor=Actor(name=f"failover-{n % 5}"),
        outcome=Outcome.SUCCESS,
        target={"producer": producer, "n": str(n)},
    )


@dataclass
class Outcomes:
    """What one producer was told, event by event, with the time (monotonic) of each answer."""

    recorded: list[tuple[int, float]] = field(default_factory=list)
    refused: list[tuple[int, float]] = field(default_factory=list)


def _start(folder: Path) -> redis_sentinel.ReplicatedRedis:
    base = Ports.free_block(6)
    return redis_sentinel.start(
        folder,
        server_ports=(base, base + 1, base + 2),
        sentinel_ports=(base + 3, base + 4, base + 5),
        passwords=PASSWORDS,
    )


def _primary_port(replicated: redis_sentinel.ReplicatedRedis) -> int:
    view = redis_sentinel.sentinel_view(
        replicated.sentinel_ports[0], PASSWORDS[redis_sentinel.SENTINEL_USER]
    )
    return int(view["port"])


def test_killing_the_primary_loses_and_doubles_no_event(tmp_path: Path) -> None:
    replicated = _start(tmp_path / "redis")
    address = RedisAddress.parse(replicated.url)
    assert address.replicas == 1
    key = secrets.token_bytes(32)
    store = open_store(tmp_path / "events.sqlite3")
    first_primary = _primary_port(replicated)
    victim = replicated.servers[replicated.server_ports.index(first_primary)]
    spooled, direct = Outcomes(), Outcomes()

    async def produce(
        trail: SpoolingAuditTrail | RedisAuditTrail,
        name: str,
        into: Outcomes,
        until: asyncio.Event,
        start: int,
    ) -> None:
        n = start
        while not until.is_set():
            try:
                await trail.record(_event(name, n))
            except AuditUnavailable:
                into.refused.append((n, time.monotonic()))
            else:
                into.recorded.append((n, time.monotonic()))
            n += 10  # ten writers per producer, each its own numbers
            await asyncio.sleep(0.01)

    async def run() -> tuple[float, float]:
        signing = address.async_client(username="signing", password=PASSWORDS["signing"])
        audit = address.async_client(username="audit", password=PASSWORDS["audit"])
        sealer = HmacSealer(Producer.SIGNING, key)
        with_spool = SpoolingAuditTrail(
            RedisAuditTrail(signing, sealer, replicas=address.replicas),
            tmp_path / "spool",
            replay_seconds=0.5,
        )
        without = RedisAuditTrail(audit, sealer, replicas=address.replicas)
        ingestor = StreamIngestor(
            audit, store, ProducerKeyring({Producer.SIGNING.value: key}), block_ms=200
        )
        ingestor.start()
        with_spool.start()
        stop = asyncio.Event()
        writers = [
            *(produce(with_spool, "spooled", spooled, stop, n) for n in range(10)),
            *(produce(without, "direct", direct, stop, n) for n in range(10)),
        ]
        tasks = [asyncio.create_task(writer) for writer in writers]
        await asyncio.sleep(2.0)
        pid = victim.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        killed = time.monotonic()
        # Writing goes on through the failover; then the dead server comes back (as the
        # supervisor would start it) and the sentinels make it a replica of the new primary.
        await asyncio.sleep(8.0)
        await asyncio.to_thread(victim.relaunch)
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 30
        while list((tmp_path / "spool").glob("*.jsonl")) and time.monotonic() < deadline:  # noqa: ASYNC110 - files, not an event
            await asyncio.sleep(0.2)
        await with_spool.stop()
        expected = len(spooled.recorded) + len(direct.recorded)
        while store.count() < expected and time.monotonic() < deadline:  # noqa: ASYNC110 - a store, not an event
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything stored beyond what was recorded shows now
        await ingestor.stop()
        await signing.aclose()
        await audit.aclose()
        return killed, time.monotonic()

    try:
        killed, _ = asyncio.run(run())
        new_primary = _primary_port(replicated)
    finally:
        replicated.stop()

    assert new_primary != first_primary  # the sentinels failed over
    stored = Counter(
        (r.event["target"]["producer"], int(r.event["target"]["n"]))
        for r in store.search(EventSearch(), limit=100_000)
    )
    assert stored and max(stored.values()) == 1  # nothing stored twice
    for name, outcomes in (("spooled", spooled), ("direct", direct)):
        recorded = {n for n, _ in outcomes.recorded}
        missing = {n for n in recorded if (name, n) not in stored}
        assert not missing, f"{len(missing)} events of {name} reported recorded and lost"
    # Nothing stored that no producer tried: an event that was refused may be stored all the
    # same (written, then the answer or the replica's acknowledgement was lost): a refusal means
    # "not known to be recorded", and the caller did not complete its operation.
    refused = {("direct", n) for n, _ in direct.refused}
    tried = {("spooled", n) for n, _ in spooled.recorded} | {
        ("direct", n) for n, _ in direct.recorded
    }
    assert set(stored) <= tried | refused
    assert store.verify_chain() == sum(stored.values())

    # The signing service's shape never failed: what Redis could not take went to its spool.
    assert spooled.refused == []
    # The trail without a spool failed closed, and only around the failover: its refusals all
    # fall between the kill and the promotion (the sentinels take 2 s to call the primary down,
    # then elect and promote), and it recorded again afterwards.
    assert direct.refused, "the primary's death went unnoticed: was it the primary?"
    first_refusal = min(t for _, t in direct.refused)
    last_refusal = max(t for _, t in direct.refused)
    assert first_refusal >= killed - 0.5
    outage = last_refusal - killed
    print(f"refused for {outage:.1f} s after the kill; {len(direct.refused)} refusals")
    assert outage < 8.0
    assert any(t > last_refusal for _, t in direct.recorded)
    store.close()


def test_an_event_only_the_primary_holds_is_not_recorded(tmp_path: Path) -> None:
    """Attack class: acknowledged but not replicated. Both replicas frozen (SIGSTOP: connected, not
    answering): the primary still takes the write, and a trail that did not wait for a replica
    would report recorded an event that a failover now would lose. The trail waits and refuses."""
    replicated = _start(tmp_path / "redis")
    address = RedisAddress.parse(replicated.url)
    primary = _primary_port(replicated)
    replicas = [
        process
        for port, process in zip(replicated.server_ports, replicated.servers, strict=True)
        if port != primary
    ]
    sealer = HmacSealer(Producer.SIGNING, secrets.token_bytes(32))

    async def run() -> dict[int, str]:
        client = address.async_client(username="signing", password=PASSWORDS["signing"])
        outcomes: dict[int, str] = {}
        try:
            for wait_for in (address.replicas, 0):
                trail = RedisAuditTrail(client, sealer, replicas=wait_for, replica_timeout_ms=300)
                try:
                    await trail.record(_event("frozen", wait_for))
                    outcomes[wait_for] = "recorded"
                except AuditUnavailable as exc:
                    outcomes[wait_for] = str(exc)
        finally:
            await client.aclose()
        return outcomes

    frozen = [pid for process in replicas if (pid := process.pid()) is not None]
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        outcomes = asyncio.run(run())
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        replicated.stop()
    assert outcomes[1] == "not replicated to 1 replica(s)"
    # The control: without the wait the same write is "recorded" while only the primary has it.
    assert outcomes[0] == "recorded"
