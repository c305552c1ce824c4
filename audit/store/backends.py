"""The two databases of the audit store: SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from audit.store.event_store import EventStore
from audit.store.migration import not_migrated
from audit.store.queries import stored_events
from audit.store.rows import SCHEMA_VERSION, EventSearch, StoredEvent, StoreError, old_schema
from audit.store.sql import EVENT_COLUMNS, POSTGRES, SQLITE, TABLES, WORDS_INDEXED
from audit.store.words import fts5_phrase, phrase_in, words_of

#: Positions read from the words' index at a time, newest first: few for the first page of a
#: common word, more while the other filters keep rejecting (under SQLite's 32,766 parameters).
_FIRST_WINDOW = 500
_LAST_WINDOW = 30_000

#: The writers' advisory lock (the migration takes another key).
_WRITER_LOCK = 7106002


class SqliteEventStore(EventStore):
    """The embedded store: one SQLite file (WAL, full fsync)."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        # Freed pages are overwritten: a pruned body or its words do not stay in the file.
        connection.execute("PRAGMA secure_delete=ON")
        connection.create_function("words_phrase_in", 2, phrase_in, deterministic=True)
        super().__init__(connection)

    def _prepare_schema(self) -> None:
        tables = {
            str(name)
            for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "events" in tables and "store_meta" not in tables:
            raise old_schema(1)
        if "store_meta" in tables:
            self._check_version()  # before anything is created in an older store
        self._db.executescript(
            TABLES.format(blob=self.dialect.blob, integer_key=self.dialect.integer_key)
            + SQLITE.triggers
            + f"{SQLITE.words_index};\n"
        )
        if not self._check_version():
            self._execute(
                "INSERT INTO store_meta (name, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
            )

    def index_words(self, batch: int = 2000) -> int:
        with self._transaction():
            rows = self._execute(
                f"SELECT seq, body FROM events WHERE seq > ({WORDS_INDEXED}) ORDER BY seq LIMIT ?",  # noqa: S608 - a constant
                (batch,),
            ).fetchall()
            if not rows:
                return 0
            self._executemany(
                "INSERT INTO events_words (rowid, words) VALUES (?, ?)",
                [(seq, words_of(body)) for seq, body in rows if body is not None],
            )
            self._execute(
                "INSERT INTO store_meta (name, value) VALUES ('words_indexed', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(rows[-1][0]),),
            )
        return len(rows)

    def _newest_with_words(self, search: EventSearch, wanted: int) -> list[StoredEvent] | None:
        phrase = fts5_phrase(search.words or "")
        if phrase is None:
            return None  # no word: the plain query answers (nothing)
        where, params = replace(search, words=None).where(self.dialect)
        where = f"{where} AND" if where else "WHERE"
        [(indexed, newest)] = self._read(
            f"SELECT ({WORDS_INDEXED}), (SELECT COALESCE(MAX(seq), 0) FROM events)"  # noqa: S608 - constants
        )
        low, high = 1, int(newest)
        indexed = int(indexed)
        # The period (its time filter is in ``where``): the walk stops at the first window that
        # reaches back before it (positions follow time closely; finding the period's positions
        # through the time index would read a year of it first).
        since = search.since.isoformat() if search.since else None
        found: list[StoredEvent] = []
        if high > indexed:
            # The newest records, not indexed yet, matched in Python: on a reader of its own, not
            # under the store's lock (a store opened with a long unindexed history must not hold
            # the ingestor up while its index is being built).
            found += stored_events(
                self._stream(
                    f"{EVENT_COLUMNS} {where} seq > ? AND seq <= ? AND words_phrase_in(body, ?)"
                    " ORDER BY seq DESC LIMIT ?",
                    (*params, max(indexed, low - 1), high, phrase, wanted),
                )
            )
        top, window = min(high, indexed), _FIRST_WINDOW
        while len(found) < wanted and top >= low:
            positions = [
                int(seq)
                for (seq,) in self._read(
                    "SELECT rowid FROM events_words WHERE events_words MATCH ?"
                    " AND rowid >= ? AND rowid <= ? ORDER BY rowid DESC LIMIT ?",
                    (phrase, low, top, window),
                )
            ]
            if not positions:
                break
            marks = ",".join("?" * len(positions))
            found += self._events(
                f"{EVENT_COLUMNS} {where} seq IN ({marks}) ORDER BY seq DESC LIMIT ?",
                (*params, *positions, wanted - len(found)),
            )
            if len(positions) < window or (since and self._time_of(positions[-1]) < since):
                break
            top, window = positions[-1] - 1, min(window * 4, _LAST_WINDOW)
        return found

    def _time_of(self, seq: int) -> str:
        rows = self._read("SELECT time FROM events WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else ""

    def _forget_words(self, records: Sequence[tuple[int, str]]) -> None:
        # A contentless index forgets a record when told the words it was given.
        indexed = int(self._execute(WORDS_INDEXED).fetchone()[0])
        self._executemany(
            "INSERT INTO events_words (events_words, rowid, words) VALUES ('delete', ?, ?)",
            [(seq, words_of(body)) for seq, body in records if seq <= indexed],
        )

    def compact_words(self) -> None:
        # FTS5 marks deleted words and drops them when it merges its segments: merge them all now
        # (once a retention run), so that no pruned name stays in the index; secure_delete
        # overwrites the pages it frees.
        with self._transaction():
            self._execute("INSERT INTO events_words (events_words) VALUES ('optimize')")

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _open_reader(self) -> sqlite3.Connection:
        reader = sqlite3.connect(
            f"{self._path.resolve().as_uri()}?mode=ro",
            uri=True,
            check_same_thread=False,  # closed by close(), from whichever thread
            isolation_level=None,  # no transaction left open: each read sees the last commit
        )
        reader.create_function("words_phrase_in", 2, phrase_in, deterministic=True)
        return reader

    def _stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        reader = self._open_reader()
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
    """The production store: PostgreSQL (``postgresql://`` URL).

    It connects as the runtime role, which may not change the schema: the migration role makes it
    (:func:`audit.store.migrate`, ``gateway-audit migrate``), and the store only checks that it is
    there at this release's version.
    """

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        self._url = url
        super().__init__(self._connect())

    def _connect(self, *, autocommit: bool = False) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, connect_timeout=10, autocommit=autocommit)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the audit database ({type(exc).__name__})"
            ) from exc

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def _open_reader(self) -> Any:
        return self._connect(autocommit=True)  # each read its own snapshot, no open transaction

    def _reader_usable(self, reader: Any) -> bool:
        return not (reader.closed or reader.broken)

    def _live(self) -> Any:
        if self._db.closed or self._db.broken:  # the server restarted: a new session
            with contextlib.suppress(Exception):
                self._db.close()
            self._db = self._connect()
        return self._db

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._live()
        return super()._execute(sql, params)

    def _prepare_schema(self) -> None:
        import psycopg

        role = "<the service's role>"
        try:
            store_meta, events, role = self._db.execute(
                "SELECT to_regclass('store_meta'), to_regclass('events'), current_user"
            ).fetchone()
            if store_meta is None:
                raise old_schema(1) if events is not None else not_migrated(role)
            if not self._check_version():
                raise not_migrated(role)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"the service's database role ({role}) may not read the audit store: run "
                f"`gateway-audit migrate --runtime-role {role}` with the migration role's URL in "
                "AUDIT_MIGRATION_DATABASE_URL"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"the audit database could not be read ({type(exc).__name__})"
            ) from exc
        finally:
            self._rollback_quietly()  # nothing was written: no transaction left open

    def _begin_writing(self) -> None:
        # One writer at a time: positions and the chain head are read, then extended. An advisory
        # lock, held to the end of the transaction: LOCK TABLE in a mode that excludes other
        # writers needs table-level UPDATE, DELETE or TRUNCATE, which the runtime role must not have.
        self._execute("SELECT pg_advisory_xact_lock(?)", (_WRITER_LOCK,))

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
