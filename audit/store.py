"""The durable, append-only store of audit events, with a hash chain over every record.

Each record's ``chain_hash`` is ``SHA-256(previous chain_hash || canonical JSON of the event)``, starting
from 32 zero bytes, so that altering, removing or inserting any record breaks every hash after it.
SQLite triggers refuse UPDATE and DELETE; an event id is stored once however often it is delivered.

This module is the embedded (single machine) store; PostgreSQL for production is the same schema.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from audit.checkpoints import SignedTreeHead
from audit.errors import ChainBroken
from audit.events import AuditEvent

GENESIS = bytes(32)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    tag TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body TEXT NOT NULL,
    chain_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tag_time ON events(tag, time);
CREATE INDEX IF NOT EXISTS events_actor_time ON events(actor, time);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB NOT NULL,
    issued_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"""


def chain_step(previous: bytes, canonical_json: str) -> bytes:
    return hashlib.sha256(previous + canonical_json.encode("utf-8")).digest()


@dataclass(frozen=True)
class EventSearch:
    """Filters of the dashboard's search; every value is bound, never formatted into SQL."""

    tag: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Matches a document's SHA-256 (input or signed output) in the event's target.
    document: str | None = None
    #: Free text, matched anywhere in the event's JSON body.
    text: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.tag:
            clauses.append("tag = ?")
            params.append(self.tag)
        if self.actor:
            clauses.append("actor = ?")
            params.append(self.actor)
        if self.outcome:
            clauses.append("outcome = ?")
            params.append(self.outcome)
        if self.since:
            clauses.append("time >= ?")
            params.append(self.since.isoformat())
        if self.until:
            clauses.append("time < ?")
            params.append(self.until.isoformat())
        if self.document:
            clauses.append(
                "(json_extract(body, '$.target.document_sha256') = ?"
                " OR json_extract(body, '$.target.signed_sha256') = ?)"
            )
            params.extend([self.document, self.document])
        if self.text:
            clauses.append("instr(body, ?) > 0")
            params.append(self.text)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    chain_hash: str
    event: dict[str, Any]


class SqliteEventStore:
    """Append-only SQLite store. Thread-safe: one connection, one lock (writes are batched)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _head(self) -> bytes:
        row = self._db.execute("SELECT chain_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else GENESIS

    def append(self, events: Iterable[AuditEvent], bodies: Sequence[str] | None = None) -> int:
        """Store ``events`` in one transaction; return how many were new (duplicates are skipped).

        ``bodies``: the JSON each event arrived as (the ingestor validated it into the event), stored
        and chained as it is instead of serialising the event again; by default the canonical JSON.
        """
        batch = list(events)
        texts = list(bodies) if bodies is not None else None
        if texts is not None and len(texts) != len(batch):
            raise ValueError("one body per event")
        rows: list[tuple[str, str, str, str, str, str, bytes]] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known: set[str] = set()
                ids = [event.event_id for event in batch]
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    known.update(
                        row[0]
                        for row in self._db.execute(
                            f"SELECT event_id FROM events WHERE event_id IN ({marks})",  # noqa: S608 - placeholders only
                            chunk,
                        )
                    )
                head = self._head()
                for position, event in enumerate(batch):
                    if event.event_id in known:
                        continue
                    known.add(event.event_id)  # a duplicate within the batch too
                    body = texts[position] if texts is not None else event.canonical_json()
                    head = chain_step(head, body)
                    rows.append(
                        (
                            event.event_id,
                            event.tag.value,
                            event.time.isoformat(),
                            event.actor.name,
                            event.outcome.value,
                            body,
                            head,
                        )
                    )
                self._db.executemany(
                    "INSERT INTO events (event_id, tag, time, actor, outcome, body, chain_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def query(
        self,
        *,
        tag: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> Sequence[StoredEvent]:
        clauses: list[str] = []
        params: list[Any] = []
        if tag:
            clauses.append("tag = ?")
            params.append(tag)
        if actor:
            clauses.append("actor = ?")
            params.append(actor)
        if since:
            clauses.append("time >= ?")
            params.append(since.isoformat())
        if correlation_id:
            clauses.append("json_extract(body, '$.correlation_id') = ?")
            params.append(correlation_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT seq, chain_hash, body FROM events {where} ORDER BY seq DESC LIMIT ?"  # noqa: S608 - clauses are fixed strings; values are bound
        with self._lock:
            rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [StoredEvent(seq, bytes(h).hex(), json.loads(body)) for seq, h, body in rows]

    def search(self, search: EventSearch, *, limit: int = 50, offset: int = 0) -> list[StoredEvent]:
        """Events matching ``search``, newest first (the dashboard's table and exports)."""
        where, params = search.where()
        sql = f"SELECT seq, chain_hash, body FROM events {where} ORDER BY seq DESC LIMIT ? OFFSET ?"  # noqa: S608 - clauses are fixed strings; values are bound
        with self._lock:
            rows = self._db.execute(sql, (*params, limit, offset)).fetchall()
        return [StoredEvent(seq, bytes(h).hex(), json.loads(body)) for seq, h, body in rows]

    def histogram(
        self, tags: Sequence[str], *, since: datetime, bucket: str
    ) -> dict[tuple[str, str, str], int]:
        """Counts by (time bucket, tag, outcome) since ``since``; ``bucket`` is ``hour`` or ``day``."""
        width = {"hour": 13, "day": 10}[bucket]
        marks = ",".join("?" * len(tags))
        sql = (
            f"SELECT substr(time, 1, {width}) AS b, tag, outcome, COUNT(*) FROM events"  # noqa: S608 - width is from a fixed table; values are bound
            f" WHERE time >= ? AND tag IN ({marks}) GROUP BY b, tag, outcome"
        )
        with self._lock:
            rows = self._db.execute(sql, (since.isoformat(), *tags)).fetchall()
        return {(b, tag, outcome): int(n) for b, tag, outcome, n in rows}

    def positions_between(self, since: datetime, until: datetime) -> tuple[int, int] | None:
        """The first and last position (seq) of the records with ``since <= time < until``."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(seq), MAX(seq) FROM events WHERE time >= ? AND time < ?",
                (since.isoformat(), until.isoformat()),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def bodies(self, limit: int | None = None) -> Iterator[str]:
        """Canonical event bodies in store order (the Merkle leaves), the first ``limit`` of them."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT body FROM events ORDER BY seq LIMIT ?", (-1 if limit is None else limit,)
            )
            rows = cursor.fetchall()
        for (body,) in rows:
            yield body

    def locate(self, event_id: str) -> tuple[int, str] | None:
        """(leaf index, canonical body) of an event, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, body FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return (int(row[0]) - 1, str(row[1])) if row else None

    def add_checkpoint(self, checkpoint: SignedTreeHead) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                (
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.issued_at,
                    checkpoint.key_id,
                    checkpoint.signature,
                ),
            )

    def checkpoints(self) -> list[SignedTreeHead]:
        with self._lock:
            rows = self._db.execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " ORDER BY tree_size"
            ).fetchall()
        return [
            SignedTreeHead(int(s), bytes(r), str(t), str(k), bytes(sig)) for s, r, t, k, sig in rows
        ]

    def verify_chain(self) -> int:
        """Recompute the chain over every record; return the count, or raise :class:`ChainBroken`."""
        head = GENESIS
        checked = 0
        previous_seq = 0
        with self._lock:
            cursor = self._db.execute("SELECT seq, body, chain_hash FROM events ORDER BY seq")
            for seq, body, stored in cursor:
                if seq != previous_seq + 1:
                    raise ChainBroken(f"records removed between seq {previous_seq} and seq {seq}")
                previous_seq = seq
                head = chain_step(head, body)
                if head != bytes(stored):
                    raise ChainBroken(f"first altered record: seq {seq}")
                checked += 1
        return checked
