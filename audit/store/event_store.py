"""The append-only store of audit events: writing, retention, and reading the log in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from audit.errors import ChainBroken
from audit.events import AuditEvent
from audit.records import (
    PRUNED_ACTOR,
    RecordColumns,
    personal_digest,
    record_leaf,
)
from audit.store.queries import DashboardQueries
from audit.store.rows import GENESIS, LogRecord, QuarantinedEntry, chain_step, to_record
from audit.store.sql import RECORD_COLUMNS
from audit.store.tree import TreeTables
from audit.tree_head import SignedTreeHead

if TYPE_CHECKING:
    from audit.store.checking import RetentionRule


class EventStore(DashboardQueries, TreeTables):
    """The append-only store, whatever the database (:mod:`audit.store.backends`)."""

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
        forgotten: list[tuple[int, str]] = []
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
                    f"{RECORD_COLUMNS} WHERE seq IN ({marks}) AND body IS NOT NULL",
                    chunk,
                ):
                    if record.computed_leaf() != record.leaf_hash or record.body is None:
                        raise ChainBroken(record.fault())
                    updates.append((personal_digest(record.columns.actor, record.body), record.seq))
                    forgotten.append((record.seq, record.body))
                self._executemany(
                    f"UPDATE events SET body = NULL, actor = '{PRUNED_ACTOR}', personal_digest = ?"  # noqa: S608 - a constant
                    " WHERE seq = ? AND body IS NOT NULL",
                    updates,
                )
            self._forget_words(forgotten)
        return len(seqs)

    # -- the free-text index (audit.store.words) ------------------------------------------------
    def index_words(self, batch: int = 2000) -> int:
        """Index the words of up to ``batch`` records not indexed yet; how many were read (0: the
        index is complete). PostgreSQL's index is kept by the database itself: always 0."""
        return 0

    def _forget_words(self, records: Sequence[tuple[int, str]]) -> None:
        """Take the words of records being pruned out of the index (in the prune's transaction)."""

    def compact_words(self) -> None:
        """After a retention run: rewrite the words' index so that no trace of the pruned words
        stays in it (SQLite; PostgreSQL's index holds no pruned body)."""

    # -- reading ------------------------------------------------------------------------------
    def _record_rows(self, sql: str, params: Sequence[Any]) -> list[LogRecord]:
        """Records (the caller holds the lock)."""
        return [to_record(row) for row in self._execute(sql, params).fetchall()]

    def count(self) -> int:
        """How many records the log holds (its positions run 1..count)."""
        [(newest,)] = self._read("SELECT MAX(seq) FROM events")
        return int(newest or 0)

    def records(self, *, after: int = 0, upto: int | None = None) -> Iterator[LogRecord]:
        """Records in store order from position ``after + 1`` (to ``upto``), streamed."""
        sql = f"{RECORD_COLUMNS} WHERE seq > ?"
        params: list[Any] = [after]
        if upto is not None:
            sql += " AND seq <= ?"
            params.append(upto)
        for row in self._stream(sql + " ORDER BY seq", params):
            yield to_record(row)

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
                    f"{RECORD_COLUMNS} WHERE seq IN ({marks}) AND body IS NOT NULL",
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

    def verify_chain(self, retention: RetentionRule | None = None) -> int:
        """Recompute the chain over every record; return the count, or raise :class:`ChainBroken`
        (with ``retention``, also for a record emptied before its class's retention ended)."""
        from audit.store.checking import check_log  # checking reads stores: imported when used

        return check_log(self, retention=retention)
