"""The two databases of the audit store: SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from audit.store.event_store import EventStore
from audit.store.rows import StoreError, old_schema
from audit.store.sql import POSTGRES, SQLITE, TABLES


class SqliteEventStore(EventStore):
    """The embedded store: one SQLite file (WAL, full fsync)."""

    dialect = SQLITE

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
            raise old_schema(1)
        if "store_meta" in tables:
            self._check_version()  # before anything is created in an older store
        self._db.executescript(
            TABLES.format(blob=self.dialect.blob, integer_key=self.dialect.integer_key)
            + SQLITE.triggers
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

    dialect = POSTGRES

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
            with contextlib.suppress(Exception):
                self._db.close()
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
            TABLES.format(blob=self.dialect.blob, integer_key=self.dialect.integer_key)
        )
        self._db.execute(POSTGRES.triggers)
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
