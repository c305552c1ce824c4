"""The durable, append-only store of audit events, with a hash chain over every record.

Each record keeps its RFC 9162 leaf hash and its ``chain_hash``, ``SHA-256(previous chain_hash || leaf
hash)`` starting from 32 zero bytes, so that altering, removing or inserting any record breaks every hash
after it. The leaf covers the record's columns as well as its body (``audit/records.py``): what the
dashboard counts and shows is what the chain and the signed checkpoints cover. Database triggers refuse
UPDATE and DELETE, with one exception: retention may replace the body and actor of a record that was
first archived (``archived`` table) by their digest, and the record's leaf and chain hashes stay, so the
log still verifies after old bodies leave it.

Events that fail their producer's authentication at ingest are not records of the log: they are kept
apart in ``quarantine`` (append-only too), as evidence.

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from pydantic import ValidationError

from audit.errors import AuditError, ChainBroken
from audit.events import AuditEvent
from audit.records import (
    LEAF_PREFIX_STATE,
    PRUNED_ACTOR,
    RecordColumns,
    leaf_from_parts,
    personal_digest,
    record_leaf,
)
from audit.tree_head import SignedTreeHead

GENESIS = bytes(32)
#: 3: leaves cover the columns (``audit/records.py``); ``received_at``, ``personal_digest``,
#: ``quarantine``. 2: leaves of the body alone. 1: no leaves.
SCHEMA_VERSION = 3


def chain_step(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def _old_schema(found: str | int) -> StoreError:
    return StoreError(
        f"the audit store has schema {found} and this version reads schema {SCHEMA_VERSION} "
        "(its records commit to their columns too): keep it (verify it with the release that wrote "
        "it), move it aside or point the service at a new database, and a new log starts"
    )


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
    received_at TEXT,
    leaf_hash {blob} NOT NULL,
    chain_hash {blob} NOT NULL,
    body TEXT,
    personal_digest {blob}
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
CREATE TABLE IF NOT EXISTS quarantine (
    entry_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    producer TEXT,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
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

#: The one UPDATE allowed: retention replaces the body and the actor of a record archived first
#: by their digest; every other column stays as it was.
_PRUNE_ONLY = (
    "NEW.body IS NULL AND OLD.body IS NOT NULL AND NEW.actor = '-'"
    " AND OLD.personal_digest IS NULL AND NEW.personal_digest IS NOT NULL"
    " AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id AND NEW.tag = OLD.tag"
    " AND NEW.time = OLD.time AND NEW.outcome = OLD.outcome"
    " AND NEW.unit IS NOT DISTINCT FROM OLD.unit AND NEW.document IS NOT DISTINCT FROM OLD.document"
    " AND NEW.received_at IS NOT DISTINCT FROM OLD.received_at"
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
CREATE TRIGGER IF NOT EXISTS quarantine_no_update BEFORE UPDATE ON quarantine
BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
CREATE TRIGGER IF NOT EXISTS quarantine_no_delete BEFORE DELETE ON quarantine
BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
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
CREATE OR REPLACE TRIGGER quarantine_no_change BEFORE UPDATE OR DELETE ON quarantine
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('quarantined entries');
""",
)


_GROUPABLE = frozenset({"tag", "outcome", "actor", "unit"})

#: Everything a record's leaf is computed from, in :func:`_to_record`'s order.
_RECORD_COLUMNS = (
    "SELECT seq, event_id, tag, time, actor, outcome, unit, document, received_at, leaf_hash,"
    " chain_hash, body, personal_digest FROM events"
)
#: What readers of events take: the body and its place in the chain.
_EVENT_COLUMNS = "SELECT seq, chain_hash, body, leaf_hash, received_at FROM events"


def _to_record(row: Sequence[Any]) -> LogRecord:
    seq, event_id, tag, time, actor, outcome, unit, document, received_at = row[:9]
    leaf, chain, body, personal = row[9:]
    return LogRecord(
        int(seq),
        bytes(leaf),
        bytes(chain),
        body,
        RecordColumns(event_id, tag, time, actor, outcome, unit, document, received_at),
        bytes(personal) if personal is not None else None,
    )


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
    #: Hex of the record's leaf hash (what the chain step after ``seq - 1`` added).
    leaf_hash: str = ""
    #: When the log received it, if that was far from the event's own time (a flagged event).
    received_at: str | None = None
    #: The event exactly as stored (what the leaf covers), ``event`` parsed from it.
    body: str = ""


class LogRecord(NamedTuple):
    """One record as the verifier reads it: the body is ``None`` once retention archived it, and
    ``personal_digest`` then stands for the body and the actor. (A named tuple: cheap to build by
    the ten million.)"""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    body: str | None
    columns: RecordColumns
    personal_digest: bytes | None = None

    def computed_leaf(self) -> bytes | None:
        """The leaf hash its columns and body (or digest) give; None if an archived record has no
        digest."""
        if self.body is not None:
            return record_leaf(self.columns, self.body)
        if self.personal_digest is None:
            return None
        return leaf_from_parts(self.columns, self.personal_digest)

    def fault(self) -> str:
        """What is wrong with a record whose leaf does not match, as precisely as it can be told."""
        where = f"first altered record: seq {self.seq}"
        if self.body is None:
            if self.personal_digest is None:
                return f"{where} (archived without the digest of its body)"
            return f"{where} (archived; a column or its digest was changed)"
        try:
            derived = RecordColumns.of(
                AuditEvent.model_validate_json(self.body), self.columns.received_at
            )
        except ValidationError:
            return f"{where} (its body is not a valid event any more)"
        changed = derived.differences(self.columns)
        if changed:
            return f"{where} (column {', '.join(changed)} differs from the event it records)"
        return f"{where} (its body or its flag changed)"


@dataclass(frozen=True)
class QuarantinedEntry:
    """A stream entry that failed its producer's authentication (or is not an event at all)."""

    entry_id: str
    received_at: str
    producer: str | None
    reason: str
    payload: str


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
            try:
                self._create_schema()
            except BaseException:
                self._db.close()  # a store refused (an older schema) leaves no connection behind
                raise

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
            raise _old_schema(row[0])

    def close(self) -> None:
        self._db.close()

    # -- writing ------------------------------------------------------------------------------
    def append(
        self,
        events: Iterable[AuditEvent],
        bodies: Sequence[str] | None = None,
        *,
        received_at: Mapping[str, str] | None = None,
        quarantine: Sequence[QuarantinedEntry] = (),
    ) -> int:
        """Store ``events`` in one transaction; return how many were new (duplicates are skipped).

        ``bodies``: the JSON each event arrived as (the ingestor validated it into the event), stored
        and chained as it is instead of serialising the event again; by default the canonical JSON.
        ``received_at``: by event id, when the log received the events whose own time was far from
        it (flagged; the flag is part of the record). ``quarantine``: entries refused at ingest,
        kept apart in the same transaction.
        """
        batch = list(events)
        texts = list(bodies) if bodies is not None else None
        if texts is not None and len(texts) != len(batch):
            raise ValueError("one body per event")
        flags = received_at or {}
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
                columns = RecordColumns.of(event, flags.get(event.event_id))
                leaf = record_leaf(columns, body)
                head = chain_step(head, leaf)
                seq += 1
                rows.append(
                    (
                        seq,
                        columns.event_id,
                        columns.tag,
                        columns.time,
                        columns.actor,
                        columns.outcome,
                        columns.unit,
                        columns.document,
                        columns.received_at,
                        leaf,
                        head,
                        body,
                    )
                )
            self._executemany(
                "INSERT INTO events (seq, event_id, tag, time, actor, outcome, unit, document,"
                " received_at, leaf_hash, chain_hash, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._executemany(
                "INSERT INTO quarantine (entry_id, received_at, producer, reason, payload)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING",
                [(q.entry_id, q.received_at, q.producer, q.reason, q.payload) for q in quarantine],
            )
        return len(rows)

    def prune(self, seqs: Sequence[int], archive: str, archived_at: str) -> int:
        """Record that ``seqs`` are kept in ``archive``, then replace their bodies and actors by
        their digest (retention).

        Each record's leaf is checked first (a record altered in the database is not pruned, so
        that its alteration stays visible); the leaf and chain hashes stay, so the log keeps
        verifying; the triggers refuse to empty a body that was not archived first.
        """
        with self._transaction():
            self._executemany(
                "INSERT INTO archived (seq, archive, archived_at) VALUES (?, ?, ?)",
                [(seq, archive, archived_at) for seq in seqs],
            )
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                updates: list[tuple[bytes, int]] = []
                for record in self._record_rows(
                    f"{_RECORD_COLUMNS} WHERE seq IN ({marks}) AND body IS NOT NULL",
                    chunk,
                ):
                    if record.computed_leaf() != record.leaf_hash or record.body is None:
                        raise ChainBroken(record.fault())
                    updates.append((personal_digest(record.columns.actor, record.body), record.seq))
                self._executemany(
                    f"UPDATE events SET body = NULL, actor = '{PRUNED_ACTOR}', personal_digest = ?"  # noqa: S608 - a constant
                    " WHERE seq = ? AND body IS NOT NULL",
                    updates,
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
            StoredEvent(
                int(seq), bytes(h).hex(), json.loads(body), bytes(leaf).hex(), received, body
            )
            for seq, h, body, leaf, received in rows
            if body is not None
        ]

    def _record_rows(self, sql: str, params: Sequence[Any]) -> list[LogRecord]:
        """Records (the caller holds the lock)."""
        return [_to_record(row) for row in self._execute(sql, params).fetchall()]

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
            f"{_EVENT_COLUMNS} {where} ORDER BY seq DESC LIMIT ?",
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
            f"{_EVENT_COLUMNS} {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
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
        sql = f"{_RECORD_COLUMNS} WHERE seq > ?"
        params: list[Any] = [after]
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        for row in self._stream(sql + " ORDER BY seq", params):
            yield _to_record(row)

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

    def records_at(self, seqs: Sequence[int]) -> dict[int, LogRecord]:
        """The records at ``seqs`` still holding their body (retention's input)."""
        found: dict[int, LogRecord] = {}
        with self._lock:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for record in self._record_rows(
                    f"{_RECORD_COLUMNS} WHERE seq IN ({marks}) AND body IS NOT NULL",
                    chunk,
                ):
                    found[record.seq] = record
            self._commit()
        return found

    def locate(self, event_id: str) -> tuple[int, str, str | None] | None:
        """(leaf index, canonical body, received_at) of an event still holding its body, or None."""
        with self._lock:
            row = self._execute(
                "SELECT seq, body, received_at FROM events WHERE event_id = ? AND body IS NOT NULL",
                (event_id,),
            ).fetchone()
            self._commit()
        return (int(row[0]) - 1, str(row[1]), row[2]) if row else None

    def chain_neighbours(self, seqs: Sequence[int]) -> dict[int, tuple[str, str, bytes]]:
        """(event id, tag, chain hash) of the records at ``seqs`` (a SIEM's view of each record's
        predecessor in the chain)."""
        found: dict[int, tuple[str, str, bytes]] = {}
        wanted = sorted({s for s in seqs if s > 0})
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for seq, event_id, tag, chain in self._execute(
                    f"SELECT seq, event_id, tag, chain_hash FROM events WHERE seq IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ):
                    found[int(seq)] = (str(event_id), str(tag), bytes(chain))
            self._commit()
        return found

    def chain_id(self) -> str | None:
        """A stable name for this log: the first 32 hex digits of its first record's chain hash
        (unique per log, fixed for its lifetime), or None while it is empty."""
        with self._lock:
            row = self._execute("SELECT chain_hash FROM events WHERE seq = 1").fetchone()
            self._commit()
        return bytes(row[0]).hex()[:32] if row else None

    def quarantined(self, *, limit: int = 100) -> list[QuarantinedEntry]:
        """Entries refused at ingest, newest first."""
        with self._lock:
            rows = self._execute(
                "SELECT entry_id, received_at, producer, reason, payload FROM quarantine"
                " ORDER BY received_at DESC, entry_id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            self._commit()
        return [
            QuarantinedEntry(str(e), str(r), p, str(why), str(body)) for e, r, p, why, body in rows
        ]

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
        return check_log(self)


def check_records(
    records: Iterable[LogRecord],
    store: EventStore,
    *,
    previous: bytes = GENESIS,
    after: int = 0,
    on_leaf: Any = None,
) -> int:
    """Check records' positions, leaf hashes (from their columns and bodies, or the digest standing
    for an archived body) and chain; raise ChainBroken at the first that fails, naming it (and the
    column that was changed, where the body tells). ``on_leaf(leaf)`` sees every leaf hash in order
    (the Merkle tree's input)."""
    head = previous
    expected = after + 1
    pruned: list[int] = []
    for record in records:
        if record.seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {record.seq}")
        if record.body is None:
            pruned.append(record.seq)
            leaf = _archived_leaf(record, store)
        else:
            leaf = record_leaf(record.columns, record.body)
            if leaf != record.leaf_hash:
                raise ChainBroken(record.fault())
        head = hashlib.sha256(head + leaf).digest()
        if head != record.chain_hash:
            raise ChainBroken(f"first altered record: seq {record.seq}")
        if on_leaf is not None:
            on_leaf(leaf)
        expected += 1
    _check_archived(store, pruned)
    return expected - 1 - after


def check_log(store: EventStore, *, on_leaf: Any = None) -> int:
    """:func:`check_records` over the whole log, as ``audit verify`` runs it on ten million records:
    rows are read as tuples and each leaf computed inline (``audit/records.py``'s format, which the
    tests hold this to: every store they write verifies, every change is named); a row becomes a
    :class:`LogRecord` only when it is archived or at fault."""
    head = GENESIS
    expected = 1
    pruned: list[int] = []
    sha256 = hashlib.sha256
    prefix = LEAF_PREFIX_STATE
    for row in store._stream(f"{_RECORD_COLUMNS} ORDER BY seq"):
        seq, e, t, w, a, o, u, d, r, stored_leaf, stored_chain, body, _ = row
        if seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {seq}")
        if body is None:
            pruned.append(seq)
            leaf = _archived_leaf(_to_record(row), store)
        else:
            columns = (
                f"{len(e)}:{e}{len(t)}:{t}{len(w)}:{w}{len(o)}:{o}"
                f"{'~' if u is None else f'{len(u)}:{u}'}"
                f"{'~' if d is None else f'{len(d)}:{d}'}"
                f"{'~' if r is None else f'{len(r)}:{r}'}\n"
            ).encode()
            state = prefix.copy()
            state.update(columns + sha256(f"{len(a)}:{a}{body}".encode()).digest())
            leaf = state.digest()
            if leaf != stored_leaf:
                raise ChainBroken(_to_record(row).fault())
        head = sha256(head + leaf).digest()
        if head != stored_chain:
            raise ChainBroken(f"first altered record: seq {seq}")
        if on_leaf is not None:
            on_leaf(leaf)
        expected += 1
    _check_archived(store, pruned)
    return expected - 1


def _archived_leaf(record: LogRecord, store: EventStore) -> bytes:
    """The leaf of a record whose body retention archived, or ChainBroken naming what is wrong."""
    leaf = record.computed_leaf()
    if record.columns.actor != PRUNED_ACTOR or leaf != record.leaf_hash:
        if not store.archived_positions([record.seq]):
            raise ChainBroken(f"record seq {record.seq} lost its body without being archived")
        if record.columns.actor != PRUNED_ACTOR:
            raise ChainBroken(
                f"first altered record: seq {record.seq} (archived, yet its actor column "
                "names someone)"
            )
    if leaf is None or leaf != record.leaf_hash:
        raise ChainBroken(record.fault())
    return leaf


def _check_archived(store: EventStore, pruned: list[int]) -> None:
    if pruned:
        archived = store.archived_positions(pruned)
        missing = [seq for seq in pruned if seq not in archived]
        if missing:
            raise ChainBroken(f"record seq {missing[0]} lost its body without being archived")


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
        tables = {
            str(name)
            for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "events" in tables and "store_meta" not in tables:
            raise _old_schema(1)
        if "store_meta" in tables:
            self._check_version()  # before anything is created in an older store
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
        if self._db.execute("SELECT to_regclass('store_meta')").fetchone()[0] is not None:
            try:
                self._check_version()  # before anything is created in an older store
            except StoreError:
                self._db.rollback()
                raise
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
