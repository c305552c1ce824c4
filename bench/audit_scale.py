"""The audit log at province scale: ``audit verify`` and the dashboard's queries over 10 million events.

Builds (once, cached under ``.work/bench/``) a store of N events spread over a year, shaped like the
sector's traffic: logins of 60,000 people of 600 schools in 30 districts, a share of failures, tokens,
signatures and verifications of documents, account changes, scan findings and alerts; every record
with its leaf hash and chain hash, exactly as the ingestor writes them, and a signed checkpoint every
million events (a key in memory: checkpoint *signing* is not what is measured).

Then measures, in the same run:

* ``verify_log`` (hash chain, leaf hashes, Merkle roots of every checkpoint, signatures) against the
  reference of reading every record once (``SELECT`` of the same columns, nothing checked);
* each common dashboard query (overview charts, searches by tag, person, document, outcome, date
  range, a district's scope, timelines, words over a year through the free-text index), the worst
  of 3 runs, against the goal of 1 second.

Run: ``.venv/bin/python -m bench.audit_scale [--events 10000000] [--database sqlite|postgresql]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit.checkpoints import MemoryCheckpointSigner, issue_checkpoint
from audit.merkle import TreeBuilder
from audit.records import RecordColumns, record_leaf
from audit.reports import period_summary
from audit.store import GENESIS, EventSearch, EventStore, chain_step, open_store
from audit.verification import verify_log
from bench import run_stopping_cleanly

CACHE = Path(__file__).resolve().parent.parent / ".work" / "bench"
END = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
CHECKPOINT_EVERY = 1_000_000
BATCH = 50_000
DISTRICTS = [f"phong-{760 + d}" for d in range(30)]
SCHOOLS = [f"79{760 + d:03d}{s:03d}" for d in range(30) for s in range(20)]
#: (tag, event class, share of the traffic, outcome failure rate)
MIX = [
    ("idp:login:success", "authentication", 0.50, 0.0),
    ("idp:login:failure", "authentication", 0.08, 1.0),
    ("idp:token:issue", "authentication", 0.14, 0.0),
    ("signing:document:sign", "api_activity", 0.15, 0.0),
    ("signing:document:verify", "api_activity", 0.08, 0.05),
    ("idp:account:issue", "account_change", 0.03, 0.0),
    ("scan:finding:open", "finding", 0.015, 1.0),
    ("audit:alert:raise", "finding", 0.005, 1.0),
]


def _bodies(
    count: int, seed: int = 13
) -> Iterator[tuple[str, str, str, str, str, str, str | None, str]]:
    """(event_id, tag, time, actor, outcome, unit, document, body) of ``count`` events, oldest first."""
    rng = random.Random(seed)  # noqa: S311 - synthetic traffic, not a secret
    start = END - timedelta(days=365)
    step = (END - start) / count
    tags = [m[0] for m in MIX]
    weights = [m[2] for m in MIX]
    classes = {m[0]: m[1] for m in MIX}
    failure = {m[0]: m[3] for m in MIX}
    for n in range(count):
        tag = rng.choices(tags, weights)[0]
        school = SCHOOLS[rng.randrange(len(SCHOOLS))]
        person = f"gv{rng.randrange(60_000):05d}"
        outcome = "failure" if rng.random() < failure[tag] else "success"
        when = (start + step * n).isoformat(timespec="microseconds")
        event_id = hashlib.md5(f"{seed}:{n}".encode(), usedforsecurity=False).hexdigest()
        document = None
        target: dict[str, str] = {}
        if tag.startswith("signing:document"):
            document = hashlib.sha256(f"doc{rng.randrange(count // 4)}".encode()).hexdigest()
            target = {"document_sha256": document, "level": "B-LT"}
        elif tag == "audit:alert:raise":
            target = {"rule": "brute-force", "severity": rng.choice(["high", "medium", "low"])}
        elif tag == "scan:finding:open":
            target = {"rule": "IDP-008", "severity": "high", "subject": f"user {person}"}
        body = json.dumps(
            {
                "actor": {"client_id": "school-management", "name": person, "subject": None},
                "correlation_id": None,
                "event_class": classes[tag],
                "event_id": event_id,
                "outcome": outcome,
                "reason": "invalid_user_credentials" if outcome == "failure" else None,
                "service": "keycloak" if tag.startswith("idp") else "signing",
                "source_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
                "tag": tag,
                "target": target,
                "time": when,
                "unit": school,
                "user_agent": "Mozilla/5.0 (Linux; Android 14) Chrome/131.0",
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        yield event_id, tag, when, person, outcome, school, document, body


def build(location: str, count: int, signer: MemoryCheckpointSigner) -> None:
    """Write ``count`` events straight into the store's tables (as ``append`` would, in bulk)."""
    store = open_store(location)
    store.close()
    sqlite = not location.startswith("postgresql://")
    if sqlite:
        db: Any = sqlite3.connect(location, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")  # building the fixture, not measuring it
        mark = "?"
    else:
        import psycopg

        db = psycopg.connect(location, autocommit=True)
        mark = "%s"
    indexes = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
        if sqlite
        else "SELECT indexdef FROM pg_indexes WHERE tablename = 'events'"
        " AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%key'"
    ).fetchall()
    for (sql,) in indexes:  # rebuilt after the bulk load
        name = sql.split(" ON ")[0].split()[-1]
        db.execute(f"DROP INDEX {name}")
    insert = (
        "INSERT INTO events (seq, event_id, tag, time, actor, outcome, unit, document, leaf_hash,"  # noqa: S608 - placeholders only
        f" chain_hash, body) VALUES ({','.join([mark] * 11)})"
    )
    head, rows = GENESIS, []
    tree = TreeBuilder()
    started = time.perf_counter()
    for seq, (event_id, tag, when, actor, outcome, unit, document, body) in enumerate(
        _bodies(count), start=1
    ):
        columns = RecordColumns(event_id, tag, when, actor, outcome, unit, document)
        leaf = record_leaf(columns, body)
        head = chain_step(head, leaf)
        tree.append_leaf_hash(leaf)
        rows.append((seq, event_id, tag, when, actor, outcome, unit, document, leaf, head, body))
        if len(rows) == BATCH:
            _flush(db, insert, rows, sqlite)
            rows = []
        if seq % CHECKPOINT_EVERY == 0 or seq == count:
            _flush(db, insert, rows, sqlite)
            rows = []
            made = issue_checkpoint(signer, seq, tree.root())
            db.execute(
                "INSERT INTO checkpoints (tree_size, root_hash, issued_at, key_id, signature)"  # noqa: S608 - placeholders only
                f" VALUES ({','.join([mark] * 5)})",
                (made.tree_size, made.root_hash, made.issued_at, made.key_id, made.signature),
            )
            rate = seq / (time.perf_counter() - started)
            print(f"  built {seq:,} events ({rate:,.0f}/s)", flush=True)
    for (sql,) in indexes:
        print(f"  index: {sql.split(' ON ')[0].split()[-1]}", flush=True)
        db.execute(sql)
    db.execute("ANALYZE")
    db.close()
    if sqlite:  # the words' index, kept as the audit service keeps it: a batch at a time
        store = open_store(location)
        started = time.perf_counter()
        done = 0
        while read := store.index_words(batch=50_000):
            done += read
            if done % 1_000_000 < 50_000:
                rate = done / (time.perf_counter() - started)
                print(f"  words indexed: {done:,} ({rate:,.0f}/s)", flush=True)
        print(f"  words index: {time.perf_counter() - started:.0f} s", flush=True)
        store.close()


def _flush(db: Any, insert: str, rows: list[Any], sqlite: bool) -> None:
    if not rows:
        return
    if sqlite:
        db.execute("BEGIN")
        db.executemany(insert, rows)
        db.execute("COMMIT")
    else:
        with db.cursor() as cursor:
            cursor.executemany(insert, rows)


def _timed(run: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    worst, result = 0.0, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        worst = max(worst, time.perf_counter() - started)
    return worst, result


def queries(store: EventStore) -> list[tuple[str, Callable[[], object]]]:
    now = END
    district = frozenset({DISTRICTS[0], *(s for s in SCHOOLS if s.startswith("79760"))})
    signed = store.search(EventSearch(tag="signing:document:sign"), limit=1)
    some_document = signed[0].event["target"]["document_sha256"] if signed else "0" * 64
    newest = store.search(EventSearch(), limit=1)
    an_address = newest[0].event["source_ip"] if newest else "10.0.0.1"
    a_year_ago = now - timedelta(days=366)
    return [
        (
            "overview: logins per hour, 24 h",
            lambda: store.histogram(
                ["idp:login:success", "idp:login:failure"],
                since=now - timedelta(hours=24),
                bucket="hour",
            ),
        ),
        (
            "overview: signatures per day, 14 days",
            lambda: store.histogram(
                ["signing:document:sign", "signing:hash:sign", "signing:document:verify"],
                since=now - timedelta(days=14),
                bucket="day",
            ),
        ),
        (
            "overview: latest 1,000 alerts (by severity)",
            lambda: store.search(EventSearch(tag="audit:alert:raise"), limit=1000),
        ),
        ("overview: events in the log", store.count),
        ("events: newest 50", lambda: store.search(EventSearch(), limit=51)),
        (
            "events: by tag, newest 50",
            lambda: store.search(EventSearch(tag="signing:document:sign"), limit=51),
        ),
        (
            "events: by tag, page 100",
            lambda: store.search(EventSearch(tag="idp:login:failure"), limit=51, offset=5000),
        ),
        (
            "events: one person, newest 50",
            lambda: store.search(EventSearch(actor="gv01234"), limit=51),
        ),
        (
            "events: one person's failures",
            lambda: store.search(EventSearch(actor="gv01234", outcome="failure"), limit=51),
        ),
        (
            "events: one day (date range)",
            lambda: store.search(
                EventSearch(since=now - timedelta(days=30), until=now - timedelta(days=29)),
                limit=51,
            ),
        ),
        (
            "events: by tag and date range",
            lambda: store.search(
                EventSearch(
                    tag="idp:login:failure",
                    since=now - timedelta(days=30),
                    until=now - timedelta(days=29),
                ),
                limit=51,
            ),
        ),
        (
            "timeline: one person (500)",
            lambda: store.search(EventSearch(actor="gv04321"), limit=500),
        ),
        (
            "timeline: one document",
            lambda: store.search(EventSearch(document=some_document), limit=500),
        ),
        (
            "district officer: newest 50",
            lambda: store.search(EventSearch(units=district), limit=51),
        ),
        (
            "district officer: logins per hour, 24 h",
            lambda: store.histogram(
                ["idp:login:success", "idp:login:failure"],
                since=now - timedelta(hours=24),
                bucket="hour",
                units=district,
            ),
        ),
        (
            "report: last 30 days (counted, no sample)",
            lambda: period_summary(store, now - timedelta(days=30), now).total,
        ),
        (
            "report: last 7 days, a district",
            lambda: period_summary(store, now - timedelta(days=7), now, district).total,
        ),
        (
            "words: one person, over a year (the dashboard's default for text)",
            lambda: store.search(EventSearch(words="gv04217", since=a_year_ago), limit=51),
        ),
        (
            "words: a document's SHA-256, over a year",
            lambda: store.search(EventSearch(words=some_document, since=a_year_ago), limit=51),
        ),
        (
            "words: an address, over a year",
            lambda: store.search(EventSearch(words=an_address, since=a_year_ago), limit=51),
        ),
        (
            "words: in no event, over a year",
            lambda: store.search(
                EventSearch(words="no such text anywhere", since=a_year_ago), limit=51
            ),
        ),
        (
            "words: in every event, newest 50 of a year",
            lambda: store.search(
                EventSearch(words="school-management", since=a_year_ago), limit=51
            ),
        ),
        (
            "words: one person, the whole log",
            lambda: store.search(EventSearch(words="gv04217"), limit=51),
        ),
        (
            "free text as written (no index), last 7 days",
            lambda: store.search(
                EventSearch(text="no-such-text-anywhere", since=now - timedelta(days=7)),
                limit=51,
            ),
        ),
        (
            "free text as written (no index), last 30 days",
            lambda: store.search(
                EventSearch(text="no-such-text-anywhere", since=now - timedelta(days=30)),
                limit=51,
            ),
        ),
        (
            "free text as written over the whole log (no index: a full scan)",
            lambda: store.search(EventSearch(text="no-such-text-anywhere"), limit=51),
        ),
        (
            "district officer: failures by tag",
            lambda: store.search(EventSearch(tag="idp:login:failure", units=district), limit=51),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached store")
    args = parser.parse_args()

    CACHE.mkdir(parents=True, exist_ok=True)
    signer = MemoryCheckpointSigner()
    pg = None
    if args.database == "sqlite":
        location = str(CACHE / f"audit-{args.events}.sqlite3")
        key_file = CACHE / f"audit-{args.events}.key.pem"
        if args.fresh or not Path(location).exists() or not key_file.exists():
            for path in CACHE.glob(f"audit-{args.events}.sqlite3*"):
                path.unlink()
            print(f"building {args.events:,} events in {location}", flush=True)
            started = time.perf_counter()
            build(location, args.events, signer)
            print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
            key_file.write_bytes(signer.public_key_pem)
        public_key = key_file.read_bytes()
    else:
        from devstack import Ports, postgres

        folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        pg = postgres.start(folder, port=Ports.free_block(1))
        location = pg.url  # read as the service would: the runtime role
        print(f"building {args.events:,} events in PostgreSQL", flush=True)
        build(pg.migration_url, args.events, signer)  # indexes dropped and rebuilt: the owner
        public_key = signer.public_key_pem

    store = open_store(location)
    try:
        print(f"\n{store.count():,} events, {len(store.checkpoints())} signed checkpoints")
        started = time.perf_counter()
        read = sum(1 for _ in store.records())
        reference = time.perf_counter() - started
        started = time.perf_counter()
        result = verify_log(store, public_key)
        verify_seconds = time.perf_counter() - started
        assert result.records == read
        print("\n| what | seconds | x reading every record |")
        print("|---|---:|---:|")
        print(f"| reference: read every record once | {reference:.1f} | 1.00 |")
        print(
            f"| **audit verify** (chain, leaves, {result.checkpoints} Merkle roots, signatures) "
            f"| **{verify_seconds:.1f}** | {verify_seconds / reference:.2f} |"
        )
        print(f"\ngoal: under 60 s -> {'met' if verify_seconds < 60 else 'NOT met'}\n")
        print("| dashboard query | worst of 3 (ms) | rows | goal 1 s |")
        print("|---|---:|---:|---|")
        for name, run in queries(store):
            seconds, rows = _timed(run)
            size = len(rows) if isinstance(rows, list | dict) else rows
            print(f"| {name} | {seconds * 1000:.0f} | {size} | {'ok' if seconds < 1 else 'SLOW'} |")
    finally:
        store.close()
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    run_stopping_cleanly(main)
