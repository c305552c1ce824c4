"""Audit ingest throughput: events recorded through the trail and stored durably, against raw XADD.

Starts its own Redis (appendfsync always, as the gateway runs it) in a temporary folder, then measures:

* raw ``XADD`` of the same entry (event, producer, seal) from concurrent producers (the reference);
* ``RedisAuditTrail.record`` from the same producers (each event sealed with the producer's HMAC key),
  *and* the ingestor checking every seal and moving every event into the SQLite store with its hash
  chain — the rate counts only events committed to the store;
* the same while an officer's free-text search (the dashboard's slowest query, a scan of the
  event bodies) runs over and over in a thread, as the audit service runs it, on a log that already
  holds ``--history`` events: the ingest must not wait for it (the dashboard reads on a connection of
  its own, not under the writer's lock);
* the ingestor alone, draining a backlog already in the stream (the audit service's own capacity when
  the producers run on other machines);
* ``verify_chain`` over the stored events;
* with ``--witnessed``: the time from an event to a signed, witnessed checkpoint covering it, under
  the same load. The checkpoint key is Ed25519 in a SoftHSM2 token, the checkpointer and the witness
  collector are the audit service's own loop (``audit.background``), two witnesses run as ``gateway-witness``
  processes and both must cosign (quorum 2 of 2). Probe events are recorded every 100 ms among the
  producers' events; for each, the time until it is stored (the reference) and until a checkpoint
  covering it carries both cosignatures.

The producers run in their own process, as the services that record events do (the signing service,
the scanners, account issuing); the ingestor runs in this one, as in the audit service. Both measured
rows use the same producer process. Both processes run on uvloop, as the services do (uvicorn
``--loop uvloop``), and collect reference cycles as the services do once started
(``gateway_runtime.collector.collect_cycles_less``).

The producers' connections are the trail's, as the services open them (``audit.trail_client``: one
deadline per write, none per reply), for raw XADD too.

Redis runs with the gateway's ACL users (``devstack/redis_server.py``): the producers log in as the
signing service's user (XADD to its own stream only), the ingestor as the audit service's.

Run: ``.venv/bin/python -m bench.audit_ingest [--events 80000] [--producers 64] [--history 500000]
[--witnessed]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis.asyncio as redis_async
import uvloop

from audit import Actor, AuditEvent, EventTag, Outcome, RedisAuditTrail, trail_client
from audit.background import cancelled, index_words_continually
from audit.ingest import StreamIngestor
from audit.producers import HmacSealer, Producer, ProducerKeyring
from audit.store import EventSearch, SqliteEventStore
from audit.trail import FIELD, MAC_FIELD, PRODUCER_FIELD, stream_of
from bench import run_stopping_cleanly
from devstack import Ports, redis_server
from devstack.process import ManagedProcess
from gateway_runtime.collector import collect_cycles_less
from gateway_runtime.redis_connection import RedisAddress

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
        # The trail's own connections, as the services open them (one deadline per write).
        client = trail_client(RedisAddress.parse(url), username=user, password=passwords[user])
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
        collect_cycles_less()  # as a service does once started
        ready.set()
        await asyncio.to_thread(start.wait)
        await _produce(events, producers, raw if mode == "raw" else record)
        await client.aclose()

    uvloop.run(go())  # as the services that record events run (uvicorn --loop uvloop)


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
        daemon=True,  # ends with this process, whatever way it ends
    )
    process.start()
    # Never a wait without end: a producer that dies before it is ready (an error, or the SIGTERM
    # sent to the whole process group) ends the run with a message.
    while not await asyncio.to_thread(ready.wait, 0.5):
        _alive(process)
        if not process.is_alive():
            raise SystemExit("the producer process ended before it was ready")
    start.set()
    return process


async def run(
    events: int, producers: int, folder: Path, history: int = 500_000
) -> list[tuple[str, float]]:
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

        # The same while an officer's free-text search scans the log over and over (the dashboard's
        # slowest query, in a thread as the audit service runs it): the ingest must not wait for it.
        # The log already holds a history (``--history`` events), so that one search takes a while.
        searched = SqliteEventStore(folder / "searched.sqlite3")
        for start in range(0, history, 2000):
            searched.append(_event(events + n) for n in range(start, min(start + 2000, history)))
        ingestor = StreamIngestor(client, searched, keyring, consumer="audit-searched")
        ingestor.start()
        searching = threading.Event()
        search_times: list[float] = []

        def officer() -> None:
            while not searching.is_set():
                begun = time.perf_counter()
                searched.search(EventSearch(text="in no event"), limit=50)
                search_times.append(time.perf_counter() - begun)

        process = await _spawn(url, passwords, "trail", events, producers)
        # A daemon, stopped in ``finally``: a run that ends early (SIGTERM, a producer that died)
        # does not wait for it.
        reader = threading.Thread(target=officer, name="officer", daemon=True)
        reader.start()
        try:
            started = time.perf_counter()
            while searched.count() < history + events:
                _alive(process)
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            searching.set()
            await asyncio.to_thread(reader.join)
            await ingestor.stop()
            searched.close()
        await asyncio.to_thread(process.join)
        mean = sum(search_times) / max(len(search_times), 1)
        rows.append(
            (
                f"the same, while an officer's text search scans a log of {history:,} events"
                f" ({len(search_times)} searches, {mean:.2f} s each)",
                events / elapsed,
            )
        )

        # The same, with the words' index kept alongside as the audit service keeps it (its
        # background task: a batch per transaction, between the ingestor's); then how long the
        # index takes to reach the last event.
        indexed_store = SqliteEventStore(folder / "indexed.sqlite3")
        ingestor = StreamIngestor(client, indexed_store, keyring, consumer="audit-indexed")
        ingestor.start()
        indexing = asyncio.create_task(index_words_continually(indexed_store, pause_seconds=0.2))
        process = await _spawn(url, passwords, "trail", events, producers)
        started = time.perf_counter()
        while indexed_store.count() < events:
            _alive(process)
            await asyncio.sleep(0.05)
        stored = time.perf_counter() - started
        await asyncio.to_thread(process.join)
        rows.append(("the same, with the words' index kept alongside (stored)", events / stored))
        while await asyncio.to_thread(indexed_store.index_words, 1) > 0:  # noqa: ASYNC110 - 0: caught up
            await asyncio.sleep(0.05)
        rows.append(("… and indexed, to the last event", events / (time.perf_counter() - started)))
        await cancelled(indexing)
        await ingestor.stop()
        indexed_store.close()

        # The audit service's own capacity: a backlog already in the stream (producers elsewhere).
        backlog = SqliteEventStore(folder / "backlog.sqlite3")
        sealer = HmacSealer(Producer.SIGNING, KEY)
        payloads = [_event(n).canonical_json().encode() for n in range(events)]
        for start in range(0, events, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for payload in payloads[start : start + 1000]:
                    pipe.xadd(
                        stream_of(Producer.SIGNING),
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


async def witnessed_latency(
    events: int, producers: int, folder: Path, interval: float
) -> tuple[list[float], list[float], float]:
    """Under producer load: (event→stored, event→witnessed checkpoint) per probe, and events/s."""
    import os
    import sys

    import yaml

    from audit.background import checkpoint_periodically
    from audit.checkpoints import TokenCheckpointSigner
    from audit.witness import cosigner, generate_key
    from audit.witnessing import WitnessCollector, WitnessEndpoint, witness_status
    from devstack import softhsm
    from devstack.process import http_ready
    from gateway_runtime.keystore import TokenKeystore

    conf = softhsm.configure(folder)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(4)  # a throw-away token in the bench's temporary folder
    softhsm.ensure_token(conf, label="bench", so_pin=secrets.token_hex(4), user_pin=pin)
    keystore = TokenKeystore(module=softhsm.module_path(), token_label="bench", user_pin=pin)  # noqa: S106 - a token label
    keystore.generate_ed25519_key("log")
    origin = "bench.localhost/edu-gateway/audit"
    signer = TokenCheckpointSigner(keystore, "log", origin)
    endpoints = []
    witnesses = []
    for name in ("so.bench/witness", "phong.bench/witness"):
        home = folder / name.split(".")[0]
        home.mkdir()
        key = generate_key(home / "key.pem")
        port = Ports.free_block(1)
        config = home / "witness.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": name,
                    "key_file": "key.pem",
                    "state_file": "state.json",
                    "port": port,
                    "logs": [{"origin": origin, "vkey": signer.verifier.vkey()}],
                }
            )
        )
        process = ManagedProcess(home.name, folder)
        process.start(
            [sys.executable, "-m", "audit.witness_cli", "serve", "--config", str(config)],
            ready=http_ready(f"http://127.0.0.1:{port}/"),
            timeout=60,
        )
        witnesses.append(process)
        endpoints.append(
            WitnessEndpoint.of(f"http://127.0.0.1:{port}", cosigner(name, key).verifier.vkey())
        )

    port = Ports.free_block(1)
    passwords = {user: secrets.token_urlsafe(16) for user in redis_server.ACL_RULES}
    url = redis_server.start(folder, port=port, passwords=passwords)
    client = redis_async.Redis.from_url(url, username="audit", password=passwords["audit"])
    store = SqliteEventStore(folder / "witnessed.sqlite3")
    ingestor = StreamIngestor(client, store, ProducerKeyring({Producer.SIGNING.value: KEY}))
    producer_client = trail_client(
        RedisAddress.parse(url), username="signing", password=passwords["signing"]
    )
    collector = WitnessCollector(store, endpoints, quorum=2)
    stored_after: list[float] = []
    witnessed_after: list[float] = []
    try:
        ingestor.start()
        loop = asyncio.create_task(checkpoint_periodically(store, signer, interval, collector))
        trail = RedisAuditTrail(producer_client, HmacSealer(Producer.SIGNING, KEY))
        pending: dict[str, float] = {}
        positions: dict[str, int] = {}
        sending = True

        async def watch() -> None:
            """Concurrently: when each probe is stored, and when a witnessed checkpoint covers it."""
            witnessed_size = 0
            while sending or pending:
                now = time.perf_counter()
                for event_id in list(pending):
                    if event_id not in positions:
                        found = await asyncio.to_thread(store.locate, event_id)
                        if found is not None:
                            positions[event_id] = found[0] + 1
                            stored_after.append(now - pending[event_id])
                latest = await asyncio.to_thread(store.latest_checkpoint)
                if (
                    latest is not None
                    and latest.tree_size > witnessed_size
                    and witness_status(store, latest, endpoints, 2).witnessed
                ):
                    witnessed_size = latest.tree_size
                for event_id, seq in list(positions.items()):
                    if event_id in pending and seq <= witnessed_size:
                        witnessed_after.append(now - pending.pop(event_id))
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        process = await _spawn(url, passwords, "trail", events, producers)
        started = time.perf_counter()
        while store.count() < events * 0.9:
            _alive(process)
            probe = _event(-1)
            sent = time.perf_counter()
            await trail.record(probe)
            pending[probe.event_id] = sent
            await asyncio.sleep(0.1)
        rate = store.count() / (time.perf_counter() - started)
        sending = False
        try:
            await asyncio.wait_for(watcher, 60)
        except TimeoutError as exc:
            raise SystemExit(f"{len(pending)} probes never reached a witnessed checkpoint") from exc
        await asyncio.to_thread(process.join)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await ingestor.stop()
    finally:
        await collector.aclose()
        await client.aclose()
        await producer_client.aclose()
        store.close()
        keystore.close()
        ManagedProcess("redis", folder).stop()
        for witness in witnesses:
            witness.stop()
    return stored_after, witnessed_after, rate


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--producers",
        type=int,
        default=64,
        help="concurrent producers (at most 100: redis-py's connection pool, for raw XADD)",
    )
    parser.add_argument(
        "--witnessed",
        action="store_true",
        help="measure event → signed, witnessed checkpoint under load (token key, two witnesses)",
    )
    parser.add_argument("--checkpoint-interval", type=float, default=0.5)
    parser.add_argument(
        "--history",
        type=int,
        default=500_000,
        help="events already in the log an officer's text search scans (its own row)",
    )
    args = parser.parse_args()
    if not 1 <= args.producers <= 100:
        parser.error("--producers: 1 to 100")
    collect_cycles_less()  # the ingestor, as the audit service once started
    if args.witnessed:
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
            stored, witnessed, rate = uvloop.run(
                witnessed_latency(
                    args.events, args.producers, Path(folder), args.checkpoint_interval
                )
            )
        print(
            f"\n{args.events} events, {args.producers} producers, {rate:.0f} events/s stored; "
            f"checkpoint every {args.checkpoint_interval} s; {len(witnessed)} probes\n"
        )
        print("| event → | p50 (s) | p95 (s) | max (s) |")
        print("|---|---:|---:|---:|")
        for name, values in (
            ("stored (reference)", stored),
            ("signed checkpoint cosigned by 2 of 2 witnesses", witnessed),
        ):
            print(
                f"| {name} | {_percentile(values, 0.5):.3f} | {_percentile(values, 0.95):.3f} "
                f"| {max(values):.3f} |"
            )
        print(
            f"\nwitnessed / stored, p95: "
            f"{_percentile(witnessed, 0.95) / max(_percentile(stored, 0.95), 1e-9):.1f}x"
        )
        return
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        rows = uvloop.run(run(args.events, args.producers, Path(folder), args.history))
    reference = rows[0][1]
    print(f"\n{args.events} events, {args.producers} producers\n")
    print(f"| {'what':48} | events/s | x raw XADD |")
    print(f"|{'-' * 50}|---------:|-----------:|")
    for name, rate in rows:
        print(f"| {name:48} | {rate:8.0f} | {rate / reference:10.2f} |")


if __name__ == "__main__":
    run_stopping_cleanly(main)
