"""Direct SQL on an audit store's database, for the tests that tamper with it."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

#: The migration role's URL of each test database, by the runtime role's URL the store opens it
#: with (``tests.conftest.new_postgres_database`` fills it).
OWNER_URLS: dict[str, str] = {}


class Raw:
    """Direct SQL on the store's database, as someone with database access could run it: on
    PostgreSQL, the owner of the tables (the migration role, who may drop or disable the triggers;
    the runtime role may not — ``test_audit_database_roles.py``); the SQLite file as it is."""

    def __init__(self, location: str) -> None:
        self.postgres = location.startswith("postgresql://")
        self.db: Any = (
            psycopg.connect(OWNER_URLS.get(location, location), autocommit=True)
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
