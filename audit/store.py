"""The durable, append-only store of audit events, with a hash chain over every record.

Each record keeps its RFC 9162 leaf hash, ``SHA-256(0x00 || body)``, and its ``chain_hash``,
``SHA-256(previous chain_hash || leaf hash)`` starting from 32 zero bytes, so that altering, removing or
inserting any record breaks every hash after it. Database triggers refuse UPDATE and DELETE, with one
exception: retention may empty the body of a record that was first archived (``archived`` table), and
the record's leaf and chain hashes stay, so the log still verifies after old bodies leave it.

One code, two databases: :class:`SqliteEventStore` (embedded, a single machine) and
:class:`PostgresEventStore` (production). They differ only in the few lines of SQL that databases
spell differently (:class:`_Dialect`); :func:`open_store` picks one from a path or a URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from audit.checkpoints import SignedTreeHead
from audit.errors import AuditError, ChainBroken
from audit.events import AuditEvent
from audit.merkle import leaf_hash

GENESIS = bytes(32)
SCHEMA_VERSION = 2
#: Placeholder for the actor of a record whose body retention removed.
PRUNED_ACTOR = "-"


def leaf_of(body: str) -> bytes:
    """The RFC 9162 leaf hash of a stored event body."""
    return leaf_hash(body.encode("utf-8"))


def chain_step(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def _document_of(event: AuditEvent) -> str | None:
    return event.target.get("document_sha256") or event.target.get("signed_sha256") or None


@dataclass(frozen=True)
class _Dialect:
    name: str
    blob: str
    integer_key: str
    text_contains: str  # one bound value: the text to find in body
    time_index_hint: str
    unit_index_hint: str
    triggers: str

    def sql(self, statement: str) -> str:
        return statement if self.name == "sqlite" else statement.replace("?", "%s")


_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    seq {integer_key},
    event_id TEXT NOT NULL UNIQUE,
    tag TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    unit TEXT,
    document TEXT,
    leaf_hash {blob} NOT NULL,
    chain_hash {blob} NOT NULL,
    body TEXT
);
CREATE INDEX IF NOT EXISTS events_tag_time ON events(tag, time, outcome);
CREATE INDEX IF NOT EXISTS events_actor_time ON events(actor, time);
CREATE INDEX IF NOT EXISTS events_time ON events(time, tag, outcome, actor);
CREATE INDEX IF NOT EXISTS events_unit_tag_time ON events(unit, tag, time);
CREATE INDEX IF NOT EXISTS events_document ON events(document);
CREATE TABLE IF NOT EXISTS archived (
    seq {integer_key},
    archive TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size {integer_key},
    root_hash {blob} NOT NULL,
    issued_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS cosignatures (
    tree_size BIGINT NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tree_size, witness)
);
"""

#: The one UPDATE allowed: retention empties a body (and the actor) of a record archived first.
_PRUNE_ONLY = (
    "NEW.body IS NULL AND OLD.body IS NOT NULL AND NEW.actor = '-'"
    " AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id AND NEW.tag = OLD.tag"
    " AND NEW.time = OLD.time AND NEW.outcome = OLD.outcome"
    " AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash"
    " AND EXISTS (SELECT 1 FROM archived WHERE archived.seq = OLD.seq)"
)

_SQLITE = _Dialect(
    name="sqlite",
    blob="BLOB",
    integer_key="INTEGER PRIMARY KEY",
    text_contains="instr(body, ?) > 0",
    time_index_hint="INDEXED BY events_time",
    unit_index_hint="INDEXED BY events_unit_tag_time",
    triggers=f"""
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events WHEN NOT ({_PRUNE_ONLY})
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS archived_no_change BEFORE UPDATE ON archived
BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS archived_no_delete BEFORE DELETE ON archived
BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS merkle_nodes_no_change BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'Merkle nodes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS cosignatures_no_change BEFORE UPDATE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
""",
)

_POSTGRES = _Dialect(
    name="postgresql",
    blob="BYTEA",
    integer_key="BIGINT PRIMARY KEY",
    text_contains="strpos(body, ?) > 0",
    time_index_hint="",
    unit_index_hint="",
    triggers=f"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% are append-only', TG_ARGV[0]; END $$;
CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({_PRUNE_ONLY}) THEN RETURN NEW; END IF;
  RAISE EXCEPTION 'audit events are append-only';
END $$;
CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change('audit events');
CREATE OR REPLACE TRIGGER archived_no_change BEFORE UPDATE OR DELETE ON archived
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('archive records');
CREATE OR REPLACE TRIGGER checkpoints_no_change BEFORE UPDATE OR DELETE ON checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('checkpoints');
CREATE OR REPLACE TRIGGER merkle_nodes_no_change BEFORE UPDATE ON merkle_nodes
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('Merkle nodes');
CREATE OR REPLACE TRIGGER cosignatures_no_change BEFORE UPDATE ON cosignatures
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('cosignatures');
""",
)


_GROUPABLE = frozenset({"tag", "outcome", "actor", "unit"})


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
    #: Only events of these units (a district officer's scope); ``None`` means every event.
    units: frozenset[str] | None = None

    def where(self, dialect: _Dialect = _SQLITE) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("tag", self.tag),
            ("actor", self.actor),
            ("outcome", self.outcome),
            ("document", self.document),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since:
            clauses.append("time >= ?")
            params.append(self.since.isoformat())
        if self.until:
            clauses.append("time < ?")
            params.append(self.until.isoformat())
        if self.text:
            clauses.append(dialect.text_contains)
            params.append(self.text)
        if self.units is not None:
            if not self.units:
                clauses.append("1 = 0")  # a scope of no unit sees nothing
            else:
                clauses.append(f"unit IN ({','.join('?' * len(self.units))})")
                params.extend(sorted(self.units))
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    chain_hash: str
    event: dict[str, Any]


@dataclass(frozen=True)
class LogRecord:
    """One record as the verifier reads it: the body is ``None`` once retention archived it."""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    body: str | None


class StoreError(AuditError):
    code = "audit-store"
    status_code = 503
    message_vi = "Kho nhật ký kiểm toán không dùng được."
    message_en = "The audit store cannot be used."


class EventStore:
    """The append-only store, whatever the database. One connection, one lock (writes are batched).

    Subclasses open the connection and say how their database streams a large result.
    """

    dialect: ClassVar[_Dialect]

    def __init__(self, connection: Any) -> None:
        self._db = connection
        self._lock = threading.Lock()
        with self._lock:
            self._create_schema()

    # -- the database's own ways ------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not params:  # no placeholder processing at all (PL/pgSQL bodies hold '%')
            return self._db.execute(self.dialect.sql(sql))
        return self._db.execute(self.dialect.sql(sql), tuple(params))

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._db.cursor().executemany(self.dialect.sql(sql), rows)

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """A long read (the whole log) on a connection of its own, without the store's lock: the
        ingestor and the dashboard go on while ``audit verify`` or a checkpoint reads 10 million
        records (SQLite's WAL and PostgreSQL's snapshots keep the reader consistent)."""
        raise NotImplementedError

    def _begin_writing(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        self._db.commit()

    def _rollback(self) -> None:
        self._db.rollback()

    def _create_schema(self) -> None:
        raise NotImplementedError

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One writer's transaction: committed whole, or rolled back and reported as StoreError
        (the database down, locked, or refusing), so that callers retry rather than crash."""
        with self._lock:
            try:
                self._begin_writing()
                yield
                self._commit()
            except BaseException as exc:
                self._rollback_quietly()
                if isinstance(exc, self._database_errors()):
                    raise StoreError(
                        f"the audit store refused the write ({type(exc).__name__})"
                    ) from exc
                raise

    def _rollback_quietly(self) -> None:
        """Roll back; on a connection that broke, there is nothing to roll back."""
        with contextlib.suppress(*self._database_errors()):
            self._rollback()

    def _check_version(self) -> None:
        row = self._execute("SELECT value FROM store_meta WHERE name = 'schema'").fetchone()
        if row is None:
            self._execute(
                "INSERT INTO store_meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"the audit store has schema {row[0]}, this version reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    # -- writing ------------------------------------------------------------------------------
    def append(self, events: Iterable[AuditEvent], bodies: Sequence[str] | None = None) -> int:
        """Store ``events`` in one transaction; return how many were new (duplicates are skipped).

        ``bodies``: the JSON each event arrived as (the ingestor validated it into the event), stored
        and chained as it is instead of serialising the event again; by default the canonical JSON.
        """
        batch = list(events)
        texts = list(bodies) if bodies is not None else None
        if texts is not None and len(texts) != len(batch):
            raise ValueError("one body per event")
        rows: list[tuple[Any, ...]] = []
        with self._transaction():
            known: set[str] = set()
            ids = [event.event_id for event in batch]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(
                    row[0]
                    for row in self._execute(
                        f"SELECT event_id FROM events WHERE event_id IN ({marks})",  # noqa: S608 - placeholders only
                        chunk,
                    )
                )
            last = self._execute(
                "SELECT seq, chain_hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, head = (int(last[0]), bytes(last[1])) if last else (0, GENESIS)
            for position, event in enumerate(batch):
                if event.event_id in known:
                    continue
                known.add(event.event_id)  # a duplicate within the batch too
                body = texts[position] if texts is not None else event.canonical_json()
                leaf = leaf_of(body)
                head = chain_step(head, leaf)
                seq += 1
                rows.append(
                    (
                        seq,
                        event.event_id,
                        event.tag.value,
                        event.time.isoformat(),
                        event.actor.name,
                        event.outcome.value,
                        event.unit,
                        _document_of(event),
                        leaf,
                        head,
                        body,
                    )
                )
            self._executemany(
                "INSERT INTO events (seq, event_id, tag, time, actor, outcome, unit, document,"
                " leaf_hash, chain_hash, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def prune(self, seqs: Sequence[int], archive: str, archived_at: str) -> int:
        """Record that ``seqs`` are kept in ``archive``, then empty their bodies (retention).

        The leaf and chain hashes stay, so the log keeps verifying; the triggers refuse to empty a
        body that was not archived first.
        """
        with self._transaction():
            self._executemany(
                "INSERT INTO archived (seq, archive, archived_at) VALUES (?, ?, ?)",
                [(seq, archive, archived_at) for seq in seqs],
            )
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                self._execute(
                    f"UPDATE events SET body = NULL, actor = '{PRUNED_ACTOR}'"  # noqa: S608 - placeholders only
                    f" WHERE seq IN ({marks}) AND body IS NOT NULL",
                    chunk,
                )
        return len(seqs)

    def add_checkpoint(self, checkpoint: SignedTreeHead) -> None:
        with self._lock:
            self._execute(
                "INSERT INTO checkpoints (tree_size, root_hash, issued_at, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
                (
                    checkpoint.tree_size,
                    checkpoint.root_hash,
                    checkpoint.issued_at,
                    checkpoint.key_id,
                    checkpoint.signature,
                ),
            )
            self._commit()

    # -- the stored Merkle tree and witnesses' cosignatures (audit/tree.py, audit/witnessing.py) --
    # Nodes are a cache of perfect subtree roots that proofs read instead of the leaves; nothing
    # trusts them: every proof made from them is checked against a signed root.
    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store perfect subtree roots ``(level, index, hash)``; ones already stored are kept."""
        with self._transaction():
            self._executemany(
                "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)"
                " ON CONFLICT (level, idx) DO NOTHING",
                list(nodes),
            )

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        with self._lock:
            for level, idx in keys:
                row = self._execute(
                    "SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?", (level, idx)
                ).fetchone()
                if row is not None:
                    found[(level, idx)] = bytes(row[0])
            self._commit()
        return found

    def nodes_cover(self, level: int) -> int:
        """How many leaves the stored nodes of ``level`` cover from the start (their count times 2**level)."""
        with self._lock:
            row = self._execute(
                "SELECT MAX(idx) FROM merkle_nodes WHERE level = ?", (level,)
            ).fetchone()
            self._commit()
        return 0 if row is None or row[0] is None else (int(row[0]) + 1) << level

    def leaf_hash_range(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes of leaf indices ``lo..hi-1`` (positions ``lo+1..hi``), a short range."""
        with self._lock:
            rows = self._execute(
                "SELECT leaf_hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", (lo, hi)
            ).fetchall()
            self._commit()
        return [bytes(r[0]) for r in rows]

    def latest_checkpoint(self) -> SignedTreeHead | None:
        with self._lock:
            row = self._execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " ORDER BY tree_size DESC LIMIT 1"
            ).fetchone()
            self._commit()
        if row is None:
            return None
        return SignedTreeHead(int(row[0]), bytes(row[1]), str(row[2]), str(row[3]), bytes(row[4]))

    def checkpoint_at(self, tree_size: int) -> SignedTreeHead | None:
        with self._lock:
            row = self._execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " WHERE tree_size = ?",
                (tree_size,),
            ).fetchone()
            self._commit()
        if row is None:
            return None
        return SignedTreeHead(int(row[0]), bytes(row[1]), str(row[2]), str(row[3]), bytes(row[4]))

    def add_cosignature(self, tree_size: int, witness: str, line: str, received_at: str) -> None:
        with self._transaction():
            self._execute(
                "INSERT INTO cosignatures (tree_size, witness, line, received_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, witness) DO NOTHING",
                (tree_size, witness, line, received_at),
            )

    def cosignatures(self, tree_size: int) -> dict[str, str]:
        """The cosignature line of each witness that cosigned the checkpoint of ``tree_size``."""
        with self._lock:
            rows = self._execute(
                "SELECT witness, line FROM cosignatures WHERE tree_size = ?", (tree_size,)
            ).fetchall()
            self._commit()
        return {str(w): str(line) for w, line in rows}

    # -- reading ------------------------------------------------------------------------------
    def _events(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        with self._lock:
            rows = self._execute(sql, params).fetchall()
            self._commit()
        return [
            StoredEvent(int(seq), bytes(h).hex(), json.loads(body))
            for seq, h, body in rows
            if body is not None
        ]

    def query(
        self,
        *,
        tag: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> Sequence[StoredEvent]:
        where, params = EventSearch(tag=tag, actor=actor, since=since, text=correlation_id).where(
            self.dialect
        )
        rows = self._events(
            f"SELECT seq, chain_hash, body FROM events {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608 - clauses are fixed strings; values are bound
            (*params, limit if not correlation_id else max(limit, 1000)),
        )
        if correlation_id:  # the text match narrows; the field decides
            rows = [r for r in rows if r.event.get("correlation_id") == correlation_id][:limit]
        return rows

    def search(self, search: EventSearch, *, limit: int = 50, offset: int = 0) -> list[StoredEvent]:
        """Events matching ``search``, newest first (the dashboard's table and exports)."""
        where, params = search.where(self.dialect)
        if search.text and search.since and not (search.tag or search.actor or search.document):
            # Text is matched in bodies: read the period's stretch of the table in order (positions
            # follow time closely) instead of looking each row up from the time index, 5x slower.
            span = self.positions_between(
                search.since, search.until or datetime.max.replace(tzinfo=UTC)
            )
            if span is None:
                return []
            where += " AND seq >= ? AND seq <= ?"
            params += [span[0], span[1]]
        return self._events(
            f"SELECT seq, chain_hash, body FROM events {where} ORDER BY seq DESC LIMIT ? OFFSET ?",  # noqa: S608 - clauses are fixed strings; values are bound
            (*params, limit, offset),
        )

    def histogram(
        self,
        tags: Sequence[str],
        *,
        since: datetime,
        bucket: str,
        units: frozenset[str] | None = None,
    ) -> dict[tuple[str, str, str], int]:
        """Counts by (time bucket, tag, outcome) since ``since``; ``bucket`` is ``hour`` or ``day``."""
        width = {"hour": 13, "day": 10}[bucket]
        results: dict[tuple[str, str, str], int] = {}
        for tag in tags:  # one index range per tag
            where, params = EventSearch(tag=tag, since=since, units=units).where(self.dialect)
            sql = (
                f"SELECT substr(time, 1, {width}) AS b, outcome, COUNT(*) FROM events {where}"  # noqa: S608 - width is from a fixed table; values are bound
                " GROUP BY b, outcome"
            )
            with self._lock:
                rows = self._execute(sql, params).fetchall()
                self._commit()
            for b, outcome, n in rows:
                results[(str(b), tag, str(outcome))] = int(n)
        return results

    def count_by(
        self, search: EventSearch, columns: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """Counts of the events matching ``search`` grouped by ``columns`` (of tag, outcome, actor,
        unit), largest first: the reports' numbers, counted by the database, not by reading events."""
        if not columns or any(c not in _GROUPABLE for c in columns):
            raise ValueError(f"group by {', '.join(sorted(_GROUPABLE))} only")
        where, params = search.where(self.dialect)
        group = ", ".join(columns)
        # A period's counts read the (time, tag, outcome, actor) index alone; SQLite's planner
        # prefers a skip-scan of the actor index for them, 20 times slower on 10 million events.
        hint = ""
        if search.since and not (search.actor or search.document):
            hint = self.dialect.unit_index_hint if search.units else self.dialect.time_index_hint
        sql = (
            f"SELECT {group}, COUNT(*) AS n FROM events {hint} {where} GROUP BY {group} ORDER BY n DESC"  # noqa: S608 - columns from a fixed set; values are bound
            + (" LIMIT ?" if limit else "")
        )
        with self._lock:
            rows = self._execute(sql, (*params, limit) if limit else params).fetchall()
            self._commit()
        return [(tuple(str(v) for v in row[:-1]), int(row[-1])) for row in rows]

    def positions_between(self, since: datetime, until: datetime) -> tuple[int, int] | None:
        """The first and last position (seq) of the records with ``since <= time < until``."""
        with self._lock:
            row = self._execute(
                # "+ 0": find the period through the time index, not by walking the primary key
                # from one end (PostgreSQL's MIN/MAX shortcut: seconds on 10 million events).
                "SELECT MIN(seq + 0), MAX(seq + 0) FROM events WHERE time >= ? AND time < ?",
                (since.isoformat(), until.isoformat()),
            ).fetchone()
            self._commit()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def count(self) -> int:
        """How many records the log holds (its positions run 1..count)."""
        with self._lock:
            row = self._execute("SELECT MAX(seq) FROM events").fetchone()
            self._commit()
        return int(row[0] or 0)

    def records(self, *, after: int = 0, upto: int | None = None) -> Iterator[LogRecord]:
        """Records in store order from position ``after + 1`` (to ``upto``), streamed."""
        sql = "SELECT seq, leaf_hash, chain_hash, body FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        for seq, leaf, chain, body in self._stream(sql + " ORDER BY seq", params):
            yield LogRecord(int(seq), bytes(leaf), bytes(chain), body)

    def leaf_hashes(self, upto: int) -> Iterator[bytes]:
        """The Merkle leaf hashes of positions 1..``upto``, streamed (as stored)."""
        for (leaf,) in self._stream(
            "SELECT leaf_hash FROM events WHERE seq <= ? ORDER BY seq", (upto,)
        ):
            yield bytes(leaf)

    def chain_hash_at(self, seq: int) -> bytes:
        with self._lock:
            row = self._execute("SELECT chain_hash FROM events WHERE seq = ?", (seq,)).fetchone()
            self._commit()
        if row is None:
            raise ChainBroken(f"record seq {seq} is missing")
        return bytes(row[0])

    def archived_positions(self, seqs: Sequence[int]) -> set[int]:
        """Which of ``seqs`` have an archive record."""
        found: set[int] = set()
        with self._lock:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(
                    int(row[0])
                    for row in self._execute(
                        f"SELECT seq FROM archived WHERE seq IN ({marks})",  # noqa: S608 - placeholders only
                        chunk,
                    )
                )
            self._commit()
        return found

    def expired(self, tags: Sequence[str], before: datetime, *, upto: int) -> list[int]:
        """Positions (≤ ``upto``) of the records of ``tags`` older than ``before`` still holding a body."""
        marks = ",".join("?" * len(tags))
        with self._lock:
            rows = self._execute(
                f"SELECT seq FROM events WHERE tag IN ({marks}) AND time < ? AND seq <= ?"  # noqa: S608 - placeholders only
                " AND body IS NOT NULL ORDER BY seq",
                (*tags, before.isoformat(), upto),
            ).fetchall()
            self._commit()
        return [int(r[0]) for r in rows]

    def bodies_at(self, seqs: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        with self._lock:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for seq, body in self._execute(
                    f"SELECT seq, body FROM events WHERE seq IN ({marks}) AND body IS NOT NULL",  # noqa: S608 - placeholders only
                    chunk,
                ):
                    found[int(seq)] = str(body)
            self._commit()
        return found

    def locate(self, event_id: str) -> tuple[int, str] | None:
        """(leaf index, canonical body) of an event still holding its body, or None."""
        with self._lock:
            row = self._execute(
                "SELECT seq, body FROM events WHERE event_id = ? AND body IS NOT NULL", (event_id,)
            ).fetchone()
            self._commit()
        return (int(row[0]) - 1, str(row[1])) if row else None

    def checkpoints(self) -> list[SignedTreeHead]:
        with self._lock:
            rows = self._execute(
                "SELECT tree_size, root_hash, issued_at, key_id, signature FROM checkpoints"
                " ORDER BY tree_size"
            ).fetchall()
            self._commit()
        return [
            SignedTreeHead(int(s), bytes(r), str(t), str(k), bytes(sig)) for s, r, t, k, sig in rows
        ]

    def verify_chain(self) -> int:
        """Recompute the chain over every record; return the count, or raise :class:`ChainBroken`."""
        return check_records(self.records(), self)


def check_records(
    records: Iterable[LogRecord],
    store: EventStore,
    *,
    previous: bytes = GENESIS,
    after: int = 0,
    on_leaf: Any = None,
) -> int:
    """Check records' positions, leaf hashes (from their bodies) and chain; raise ChainBroken at the
    first that fails. ``on_leaf(leaf)`` sees every leaf hash in order (the Merkle tree's input)."""
    head = previous
    expected = after + 1
    pruned: list[int] = []
    for record in records:
        if record.seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {record.seq}")
        if record.body is None:
            pruned.append(record.seq)
            leaf = record.leaf_hash
        else:
            leaf = leaf_of(record.body)
            if leaf != record.leaf_hash:
                raise ChainBroken(f"first altered record: seq {record.seq}")
        head = chain_step(head, leaf)
        if head != record.chain_hash:
            raise ChainBroken(f"first altered record: seq {record.seq}")
        if on_leaf is not None:
            on_leaf(leaf)
        expected += 1
    if pruned:
        archived = store.archived_positions(pruned)
        missing = [seq for seq in pruned if seq not in archived]
        if missing:
            raise ChainBroken(f"record seq {missing[0]} lost its body without being archived")
    return expected - 1 - after


class SqliteEventStore(EventStore):
    """The embedded store: one SQLite file (WAL, full fsync)."""

    dialect = _SQLITE

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        super().__init__(connection)

    def _create_schema(self) -> None:
        legacy = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'events'"
            " AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'store_meta')"
        ).fetchone()
        if legacy:
            raise StoreError(
                f"the audit store {self._path} has schema 1 and this version reads schema 2: keep it "
                "(verify it with the release that wrote it), move it aside, and a new log starts"
            )
        self._db.executescript(
            _TABLES.format(blob=self.dialect.blob, integer_key=self.dialect.integer_key)
            + _SQLITE.triggers
        )
        self._check_version()

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        reader = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            yield from reader.execute(sql, tuple(params))
        finally:
            reader.close()

    def _begin_writing(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


class PostgresEventStore(EventStore):
    """The production store: PostgreSQL (``postgresql://`` URL)."""

    dialect = _POSTGRES

    def __init__(self, url: str) -> None:
        self._url = url
        super().__init__(self._connect())

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the audit database ({type(exc).__name__})"
            ) from exc

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def _live(self) -> Any:
        if self._db.closed or self._db.broken:  # the server restarted: a new session
            self._db = self._connect()
        return self._db

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._live()
        return super()._execute(sql, params)

    def _create_schema(self) -> None:
        # One schema creation at a time across processes (a transaction-scoped advisory lock).
        self._db.execute("SELECT pg_advisory_xact_lock(7106001)")
        self._db.execute(
            _TABLES.format(blob=self.dialect.blob, integer_key=self.dialect.integer_key)
        )
        self._db.execute(_POSTGRES.triggers)
        self._check_version()
        self._db.commit()

    def _begin_writing(self) -> None:
        # One writer at a time: positions and the chain head are read, then extended.
        self._execute("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        reader = self._connect()
        try:
            with reader.cursor(name="audit_stream") as cursor:
                cursor.itersize = 20_000
                cursor.execute(self.dialect.sql(sql), tuple(params))
                yield from cursor
        finally:
            reader.close()


def open_store(location: str | Path) -> EventStore:
    """The store at ``location``: a ``postgresql://`` URL, or the path of an SQLite file."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresEventStore(text)
    return SqliteEventStore(Path(text))
