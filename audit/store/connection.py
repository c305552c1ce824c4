"""The audit store's connection: its lock, its transactions, and its schema version."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from audit.store.rows import SCHEMA_VERSION, StoreError, old_schema
from audit.store.sql import Dialect

#: Readers open at once per store: the dashboard's concurrent queries beyond this wait for one (each
#: is a PostgreSQL session; a few heavy searches at once are what the database should be asked).
READERS = 4


class StoreConnection:
    """One connection to the store's database and one lock (writes are batched), with the few
    operations that differ between databases; subclasses open the connection and say how their
    database streams a large result.

    The dashboard's reads (:meth:`_read`) go to connections of their own (a few, shared), without
    the writer's lock: a search that takes a second on a year of events must not hold the
    ingestor's next commit (or a checkpoint) for that second. SQLite's WAL and PostgreSQL's
    snapshots keep each read consistent, and it sees every batch committed before it began.
    """

    dialect: ClassVar[Dialect]

    def __init__(self, connection: Any) -> None:
        self._db = connection
        self._lock = threading.Lock()
        #: Idle readers (the last used first), and a slot per reader that may be open at once.
        self._idle_readers: queue.LifoQueue[Any] = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(READERS)
        self._opened_readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        with self._lock:
            try:
                self._prepare_schema()
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

    def _open_reader(self) -> Any:
        """A new connection that reads committed data, each statement on its own."""
        raise NotImplementedError

    def _reader_usable(self, reader: Any) -> bool:
        return True

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read, on one of the store's readers (at most :data:`READERS` at once: the
        others wait), not under the writer's lock. A reader that broke (the database restarted) is
        replaced and the read made once more; a read the database refuses is a StoreError (503)."""
        statement = self.dialect.sql(sql)
        with self._reader_slots:
            reader = None
            try:
                reader = self._take_reader()
                try:
                    return self._rows(reader, statement, params)
                except self._database_errors():
                    if self._reader_usable(reader):
                        raise
                self._discard_reader(reader)
                reader = None
                reader = self._take_reader()
                return self._rows(reader, statement, params)
            except self._database_errors() as exc:
                raise StoreError(
                    f"the audit store could not be read ({type(exc).__name__})"
                ) from exc
            finally:
                if reader is not None:
                    self._give_back(reader)

    def _take_reader(self) -> Any:
        """An idle reader that works, or a new one (the caller holds a slot)."""
        while True:
            with self._readers_lock:
                if self._closed:
                    raise StoreError("the audit store is closed")
                try:
                    reader = self._idle_readers.get_nowait()
                except queue.Empty:
                    break
            if self._reader_usable(reader):
                return reader
            self._discard_reader(reader)
        return self._keep_opened(self._open_reader())

    def _keep_opened(self, reader: Any) -> Any:
        with self._readers_lock:
            if self._closed:
                reader.close()
                raise StoreError("the audit store is closed")
            self._opened_readers.append(reader)
        return reader

    def _give_back(self, reader: Any) -> None:
        with self._readers_lock:
            if not self._closed:
                self._idle_readers.put(reader)
                return
        self._discard_reader(reader)  # the store was closed while it read

    def _discard_reader(self, reader: Any) -> None:
        with self._readers_lock:
            if reader in self._opened_readers:
                self._opened_readers.remove(reader)
        with contextlib.suppress(Exception):
            reader.close()

    @staticmethod
    def _rows(reader: Any, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = reader.execute(statement, tuple(params)) if params else reader.execute(statement)
        return list(cursor.fetchall())

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

    def _prepare_schema(self) -> None:
        """Make the schema (SQLite) or check the one the migration made (PostgreSQL)."""
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

    def _check_version(self) -> bool:
        """Whether the store records its schema version (refused if it is another release's)."""
        row = self._execute("SELECT value FROM store_meta WHERE name = 'schema'").fetchone()
        if row is None:
            return False
        if int(row[0]) != SCHEMA_VERSION:
            raise old_schema(row[0])
        return True

    def close(self) -> None:
        """Close the writer and the idle readers; a reader in use is closed when its read ends."""
        with self._readers_lock:
            self._closed = True
            idle = []
            while not self._idle_readers.empty():
                idle.append(self._idle_readers.get_nowait())
        for reader in idle:
            self._discard_reader(reader)
        self._db.close()
