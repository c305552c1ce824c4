"""Audit ingest throughput: events recorded through the trail and stored durably, against raw XADD.

Starts its own Redis (appendfsync always, as the gateway runs it) in a temporary folder, then measures:

* raw ``XADD`` of the same entry (event, producer, seal) from concurrent producers (the reference);
* ``RedisAuditTrail.record`` from the same producers (each event sealed with the producer's HMAC key),
  *and* the ingestor checking every seal and moving every event into the SQLite store with its hash
  chain — the rate counts only events committed to the store;
* the ingestor alone, draining a backlog already in the stream (the audit service's own capacity when
  the producers run on other machines);
* ``verify_chain`` over the stored events.

The producers run in their own process, as the services that record events do (the signing service,
the scanners, account issuing); the ingestor runs in this one, as in the audit service. Both measured
rows use the same producer process.

Redis runs with the gateway's ACL users (``devstack/redis_server.py``): the producers log in as the
signing service's user (XADD to the stream only), the ingestor as the audit service's.

Run: ``.venv/bin/python -m bench.audit_ingest [--events 80000] [--producers 64]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring
from audit.store import SqliteEventStore
from audit.trail import FIELD, MAC_FIELD, PRODUCER_FIELD, STREAM
from devstack import Ports, redis_server
from devstack.process import ManagedProcess

#: The signing service's key in this run (in the service it is in the token; the seal is the same).
KEY = secrets.token_bytes(32)


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="bench",
        actor=Actor(name=f"teacher{n % 500}", client_id="demo-eoffice"),
        outcome=Outcome.SUCCESS,
        target={"document_sha256": f"{n:064x}", "level": "B-T"},
        source={"ip": "127.0.0.1", "user_agent": "bench"},
    )


async def _produce(count: int, producers: int, send: object) -> float:
    queue = list(range(count))
    started = time.perf_counter()

    async def worker(offset: int) -> None:
        for n in queue[offset::producers]:
            await send(n)  # type: ignore[operator]

    await asyncio.gather(*(worker(i) for i in range(producers)))
    return time.perf_counter() - started


def _producer_process(
    url: str,
    passwords: dict[str, str],
    key: bytes,
    mode: str,
    events: int,
    producers: int,
    ready: Any,
    start: Any,
) -> None:
    """In a child process: send ``events`` (raw XADD or through the trail) from ``producers`` tasks,
    once the parent says go (the events are built before, outside the measured time)."""

    async def go() -> None:
        # Raw XADD as the audit service's user (the signing user may write the stream only; the
        # reference writes a stream of its own, with entries of the same size).
        user = "audit" if mode == "raw" else "signing"
        client = redis_async.Redis.from_url(url, username=user, password=passwords[user])
        sealer = HmacSealer(Producer.SIGNING, key)
        payload = _event(0).canonical_json().encode()
        entry: dict[Any, Any] = {
            FIELD: payload,
            PRODUCER_FIELD: "signing",
            MAC_FIELD: sealer.seal_one(payload).hex(),
        }
        trail = RedisAuditTrail(client, sealer)
        prepared = [_event(n) for n in range(events)] if mode == "trail" else []

        async def raw(n: int) -> None:
            await client.xadd("audit:bench-raw", entry)

        async def record(n: int) -> None:
            await trail.record(prepared[n])

        await client.ping()
        ready.set()
        await asyncio.to_thread(start.wait)
        await _produce(events, producers, raw if mode == "raw" else record)
        await client.aclose()

    asyncio.run(go())


def _alive(process: Any) -> None:
    """A producer that died (an error in it) ends the run with its exit code, not a silent wait."""
    if process.exitcode not in (None, 0):
        raise SystemExit(f"the producer process failed (exit code {process.exitcode}); see above")


async def _spawn(
    url: str, passwords: dict[str, str], mode: str, events: int, producers: int
) -> Any:
    """Start the producer process, wait until it is ready, let it go; the clock starts now."""
    context = multiprocessing.get_context("spawn")
    ready, start = context.Event(), context.Event()
    process = context.Process(
        target=_producer_process,
        args=(url, passwords, KEY, mode, events, producers, ready, start),
    )
    process.start()
    await asyncio.to_thread(ready.wait)
    start.set()
    return process


async def run(events: int, producers: int, folder: Path) -> list[tuple[str, float]]:
    port = Ports.free_block(1)
    passwords = {user: secrets.token_urlsafe(16) for user in redis_server.ACL_RULES}
    url = redis_server.start(folder, port=port, passwords=passwords)
    client = redis_async.Redis.from_url(url, username="audit", password=passwords["audit"])
    keyring = ProducerKeyring({Producer.SIGNING.value: KEY})
    rows: list[tuple[str, float]] = []
    try:
        process = await _spawn(url, passwords, "raw", events, producers)
        started = time.perf_counter()
        while await client.xlen("audit:bench-raw") < events:
            _alive(process)
            await asyncio.sleep(0.01)
        rows.append(("raw XADD (reference)", events / (time.perf_counter() - started)))
        await asyncio.to_thread(process.join)

        store = SqliteEventStore(folder / "events.sqlite3")
        ingestor = StreamIngestor(client, store, keyring)
        ingestor.start()
        process = await _spawn(url, passwords, "trail", events, producers)
        started = time.perf_counter()
        while store.count() < events:
            _alive(process)
            await asyncio.sleep(0.05)
        await asyncio.to_thread(process.join)
        rows.append(
            (
                "trail.record + seals checked + ingest to SQLite",
                events / (time.perf_counter() - started),
            )
        )
        await ingestor.stop()

        # The audit service's own capacity: a backlog already in the stream (producers elsewhere).
        backlog = SqliteEventStore(folder / "backlog.sqlite3")
        sealer = HmacSealer(Producer.SIGNING, KEY)
        payloads = [_event(n).canonical_json().encode() for n in range(events)]
        for start in range(0, events, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for payload in payloads[start : start + 1000]:
                    pipe.xadd(
                        STREAM,
                        {
                            FIELD: payload,
                            PRODUCER_FIELD: "signing",
                            MAC_FIELD: sealer.seal_one(payload).hex(),
                        },
                    )
                await pipe.execute()
        drainer = StreamIngestor(client, backlog, keyring, consumer="audit-backlog")
        started = time.perf_counter()
        drainer.start()
        while backlog.count() < events:  # noqa: ASYNC110 - the store count is what is measured
            await asyncio.sleep(0.05)
        rows.append(
            (
                "ingest of a backlog only (producers elsewhere)",
                events / (time.perf_counter() - started),
            )
        )
        await drainer.stop()
        backlog.close()

        started = time.perf_counter()
        checked = store.verify_chain()
        rows.append(("verify_chain", checked / (time.perf_counter() - started)))
        store.close()
    finally:
        await client.aclose()
        ManagedProcess("redis", folder).stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--producers",
        type=int,
        default=64,
        help="concurrent producers (at most 100: redis-py's connection pool, for raw XADD)",
    )
    args = parser.parse_args()
    if not 1 <= args.producers <= 100:
        parser.error("--producers: 1 to 100")
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        rows = asyncio.run(run(args.events, args.producers, Path(folder)))
    reference = rows[0][1]
    print(f"\n{args.events} events, {args.producers} producers\n")
    print(f"| {'what':48} | events/s | x raw XADD |")
    print(f"|{'-' * 50}|---------:|-----------:|")
    for name, rate in rows:
        print(f"| {name:48} | {rate:8.0f} | {rate / reference:10.2f} |")


if __name__ == "__main__":
    main()
