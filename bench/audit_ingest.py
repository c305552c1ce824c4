"""Audit ingest throughput: events recorded through the trail and stored durably, against raw XADD.

Starts its own Redis (appendfsync always, as the gateway runs it) in a temporary folder, then measures:

* raw ``XADD`` of the same payload from concurrent producers (the reference);
* ``RedisAuditTrail.record`` from the same producers, *and* the ingestor moving every event into the
  SQLite store with its hash chain — the rate counts only events committed to the store;
* ``verify_chain`` over the stored events.

Run: ``.venv/bin/python -m bench.audit_ingest [--events 50000] [--producers 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import redis.asyncio as redis_async

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail
from audit.ingest import StreamIngestor
from audit.store import SqliteEventStore
from devstack import Ports, redis_server
from devstack.process import ManagedProcess


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


async def run(events: int, producers: int, folder: Path) -> list[tuple[str, float]]:
    port = Ports.free_block(1)
    password = secrets.token_urlsafe(16)
    url = redis_server.start(folder, port=port, password=password)
    client = redis_async.Redis.from_url(url, password=password)
    rows: list[tuple[str, float]] = []
    try:
        payload = _event(0).canonical_json()

        async def raw(n: int) -> None:
            await client.xadd("bench:raw", {"event": payload})

        elapsed = await _produce(events, producers, raw)
        rows.append(("raw XADD (reference)", events / elapsed))
        await client.delete("bench:raw")

        store = SqliteEventStore(folder / "events.sqlite3")
        ingestor = StreamIngestor(client, store)
        ingestor.start()
        trail = RedisAuditTrail(client)
        prepared = [_event(n) for n in range(events)]

        async def record(n: int) -> None:
            await trail.record(prepared[n])

        started = time.perf_counter()
        await _produce(events, producers, record)
        while store.count() < events:  # noqa: ASYNC110 - the store count is what is measured
            await asyncio.sleep(0.05)
        rows.append(
            ("trail.record + ingest to SQLite (durable)", events / (time.perf_counter() - started))
        )
        await ingestor.stop()

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
    parser.add_argument("--producers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        rows = asyncio.run(run(args.events, args.producers, Path(folder)))
    reference = rows[0][1]
    print(f"\n{args.events} events, {args.producers} producers\n")
    print(f"| {'what':44} | events/s | x raw XADD |")
    print(f"|{'-' * 46}|---------:|-----------:|")
    for name, rate in rows:
        print(f"| {name:44} | {rate:8.0f} | {rate / reference:10.2f} |")


if __name__ == "__main__":
    main()
