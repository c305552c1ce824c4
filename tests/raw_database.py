"""Direct SQL on an audit store's database, for the tests that tamper with it."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg


class Raw:
    """Direct SQL on the store's database, as someone with database access could run it."""

    def __init__(self, location: str) -> None:
        self.postgres = location.startswith("postgresql://")
        self.db: Any = (
            psycopg.connect(location, autocommit=True)
            if self.postgres
            else sqlite3.connect(location, isolation_level=None)
        )

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(sql.replace("?", "%s") if self.postgres else sql, params)

    def drop_guards(self) -> None:
        if self.postgres:
            self.run("ALTER TABLE events DISABLE TRIGGER USER")
        else:
            self.run("DROP TRIGGER events_no_update")
            self.run("DROP TRIGGER events_no_delete")

    def close(self) -> None:
        self.db.close()
