"""The audit store's schema on PostgreSQL: made by its owner, used by a role that cannot change it.

Two roles (docs/architecture.md, "Threat model"). The **migration role** owns the tables, their
triggers and their indexes; :func:`migrate` runs as it (``gateway-audit migrate``, once per release,
idempotent). The **runtime role** is the one the audit service connects as: it gets what the store
runs at runtime and nothing more — SELECT and INSERT, and UPDATE of the three columns retention's
prune sets (``event_store.py``) — so that whoever holds the service's database credentials cannot
UPDATE any other column, DELETE, TRUNCATE, drop or disable the triggers, or create anything: the
database refuses before the triggers are even asked. The owner still can (it owns the triggers):
what catches it is the hash chain and the signed checkpoints.

This module must never run as, or grant anything to, the runtime role beyond :data:`RUNTIME_GRANTS`;
after granting, it reads the runtime role's effective privileges back and refuses (rolls back) if
they are anything else — a role granted more elsewhere (a predefined ``pg_write_all_data``, a
membership of the owner) is named, not silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.store.rows import SCHEMA_VERSION, StoreError, old_schema
from audit.store.sql import POSTGRES, TABLES

#: What the runtime role may do, table by table: every statement the store runs (``event_store.py``,
#: ``tree.py``, ``queries.py``, ``connection.py``) and no more. ``INSERT … ON CONFLICT DO NOTHING``
#: needs INSERT only; the tables have no sequences (positions are written by the store); the
#: writers' lock is an advisory lock (``backends.py``), which needs no privilege on a table.
RUNTIME_GRANTS: dict[str, tuple[str, ...]] = {
    "events": ("SELECT", "INSERT", "UPDATE (body, actor, personal_digest)"),
    "archived": ("SELECT", "INSERT"),
    "checkpoints": ("SELECT", "INSERT"),
    "quarantine": ("SELECT", "INSERT"),
    "merkle_nodes": ("SELECT", "INSERT"),
    "cosignatures": ("SELECT", "INSERT"),
    "store_meta": ("SELECT",),  # the schema version: written by the migration only
}

#: Predefined roles that reach past any grant (the server's files, programs, every table's data).
_DANGEROUS_ROLES = (
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_write_all_data",
    "pg_read_all_data",
    "pg_signal_backend",
)

#: The schema the store lives in (the runtime role's default search path finds it).
SCHEMA = "public"
_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")
_TRIGGER_FUNCTIONS = ("audit_refuse_change", "audit_events_guard")
#: One migration at a time (a transaction-scoped advisory lock; the writers take another key).
_MIGRATION_LOCK = 7106001


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did."""

    schema_version: int
    #: True when the store's tables were created by this run (False: they were there, checked).
    created: bool
    runtime_role: str


def not_migrated(role: str) -> StoreError:
    """The service opened a PostgreSQL store whose schema its migration has not made."""
    return StoreError(
        "the audit database has no audit store schema yet, and the service's role "
        f"({role}) may not create one: run `gateway-audit migrate --runtime-role {role}` with the "
        "migration role's URL in AUDIT_MIGRATION_DATABASE_URL first (compose.yaml's audit-migrate "
        "does it before the service starts)"
    )


def migrate(owner_url: str, runtime_role: str) -> Migration:
    """Create or bring up to date the store's schema as its owner (``owner_url``), and grant
    ``runtime_role`` exactly :data:`RUNTIME_GRANTS`. Idempotent; all or nothing (one transaction).

    Refused with :class:`StoreError`, leaving the database as it was: a schema of another release
    (the same refusal as the service's), tables that another role owns, a runtime role that does
    not exist, is a superuser, may create roles or is the owner (or a member of it), and a runtime
    role that would end with any privilege other than those granted here.
    """
    if not owner_url.startswith(("postgresql://", "postgres://")):
        raise StoreError(
            "migrate is for a PostgreSQL store (a postgresql:// URL): the SQLite store makes its "
            "own schema"
        )
    import psycopg

    try:
        connection = psycopg.connect(owner_url, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the audit database as the migration role ({type(exc).__name__})"
        ) from exc
    try:
        with connection:  # committed whole, or rolled back on any error
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            connection.execute(f"SET LOCAL search_path = {SCHEMA}")
            _check_runtime_role(connection, runtime_role)
            created = _make_schema(connection)
            _grant(connection, runtime_role)
            excess = _privileges_beyond_grants(connection, runtime_role)
            if excess:
                raise StoreError(
                    f"the runtime role {runtime_role} would not hold exactly its grants: "
                    + "; ".join(excess)
                    + ". Nothing was changed. As a superuser, revoke what it should not have (or "
                    "the membership that gives it), make the migration role the database's owner, "
                    "then migrate again"
                )
    except psycopg.Error as exc:
        raise StoreError(
            f"the migration of the audit database failed ({type(exc).__name__}: "
            f"{exc.diag.message_primary or ''})"
        ) from exc
    finally:
        connection.close()
    return Migration(SCHEMA_VERSION, created, runtime_role)


def _check_runtime_role(connection: Any, role: str) -> None:
    row = connection.execute(
        "SELECT rolsuper OR rolbypassrls OR rolreplication OR rolcreatedb, rolcreaterole,"
        " pg_has_role(rolname, current_user, 'MEMBER'),"
        " ARRAY(SELECT d FROM unnest(%s::text[]) AS d WHERE pg_has_role(rolname, d, 'MEMBER'))"
        " FROM pg_roles WHERE rolname = %s",
        (list(_DANGEROUS_ROLES), role),
    ).fetchone()
    if row is None:
        raise StoreError(
            f"the runtime role {role} does not exist: a superuser creates it first "
            "(deploy/audit-db/init-roles.sh)"
        )
    superuser, create_role, member_of_owner, dangerous = row
    if superuser or create_role:
        raise StoreError(
            f"the runtime role {role} is a superuser, may create roles or databases, bypass row "
            "security or replicate: no grant would bind it"
        )
    if dangerous:
        raise StoreError(
            f"the runtime role {role} is a member of {', '.join(dangerous)}: it could read or "
            "write the server's files or run programs on it. Revoke that membership"
        )
    if member_of_owner:
        raise StoreError(
            f"the runtime role {role} is the migration role, or a member of it: it would own the "
            "tables it must not change. Give the service a role of its own"
        )


def _make_schema(connection: Any) -> bool:
    """Make the tables, indexes and triggers (every statement idempotent); True if new."""
    store_meta, events = connection.execute(
        "SELECT to_regclass('store_meta'), to_regclass('events')"
    ).fetchone()
    if store_meta is None and events is not None:
        raise old_schema(1)
    if store_meta is not None:
        row = connection.execute("SELECT value FROM store_meta WHERE name = 'schema'").fetchone()
        if row is not None and int(row[0]) != SCHEMA_VERSION:
            raise old_schema(row[0])  # before anything is created in another release's store
    others = connection.execute(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) AND pg_get_userbyid(c.relowner) <> current_user",
        (SCHEMA, list(RUNTIME_GRANTS)),
    ).fetchall()
    if others:
        owned = ", ".join(f"{table} (owner {owner})" for table, owner in others)
        raise StoreError(
            f"tables of the audit store belong to another role: {owned}. The migration role must "
            "own them: as a superuser, ALTER TABLE … OWNER TO the migration role (docs/"
            "architecture.md, 'Production')"
        )
    connection.execute(TABLES.format(blob=POSTGRES.blob, integer_key=POSTGRES.integer_key))
    connection.execute(POSTGRES.triggers)  # no parameters: PL/pgSQL bodies hold '%'
    connection.execute(POSTGRES.words_index)  # the free-text search's (audit.store.words)
    connection.execute(
        "INSERT INTO store_meta (name, value) VALUES ('schema', %s) ON CONFLICT (name) DO NOTHING",
        (str(SCHEMA_VERSION),),
    )
    return store_meta is None


def _grant(connection: Any, role: str) -> None:
    """Exactly :data:`RUNTIME_GRANTS` to ``role``: whatever it (or everyone) held on the store's
    tables before is revoked first, in the same transaction."""
    from psycopg import sql

    grantee = sql.Identifier(role)
    database = sql.Identifier(connection.execute("SELECT current_database()").fetchone()[0])
    schema = sql.Identifier(SCHEMA)
    statements = [
        # Nobody but the owner creates in the store's schema or database (PostgreSQL ≥ 15's
        # default for the schema; said here for older ones and for a database made by hand).
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC, {}").format(schema, grantee),
        sql.SQL("REVOKE CREATE, TEMPORARY ON DATABASE {} FROM PUBLIC, {}").format(
            database, grantee
        ),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, grantee),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, grantee),
    ]
    for function in _TRIGGER_FUNCTIONS:  # run by the triggers, never called by anyone
        statements.append(
            sql.SQL("REVOKE ALL ON FUNCTION {}() FROM PUBLIC").format(sql.Identifier(function))
        )
    for table, privileges in RUNTIME_GRANTS.items():
        target = sql.Identifier(SCHEMA, table)
        # Revoking a table's privileges revokes its columns' too.
        statements.append(sql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}").format(target, grantee))
        statements.append(
            sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(", ".join(privileges)), target, grantee)
        )
    for statement in statements:
        connection.execute(statement)


def _privileges_beyond_grants(connection: Any, role: str) -> list[str]:
    """What ``role`` may do, by any path (PUBLIC, memberships, predefined roles), beyond
    :data:`RUNTIME_GRANTS` — or may not do of it; empty when the grants are exact."""
    found: list[str] = []
    for table, privileges in RUNTIME_GRANTS.items():
        qualified = f"{SCHEMA}.{table}"
        whole = {p for p in privileges if "(" not in p}
        columns_of = {
            p.split(" ", 1)[0]: {c.strip() for c in p.split("(", 1)[1].rstrip(")").split(",")}
            for p in privileges
            if "(" in p
        }
        for privilege in _TABLE_PRIVILEGES:
            (has,) = connection.execute(
                "SELECT has_table_privilege(%s, %s, %s)", (role, qualified, privilege)
            ).fetchone()
            if has != (privilege in whole):
                found.append(f"{'has' if has else 'lacks'} {privilege} on {table}")
        names = [
            str(name)
            for (name,) in connection.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND NOT attisdropped",
                (qualified,),
            )
        ]
        for privilege in _COLUMN_PRIVILEGES:
            if privilege in whole:
                continue
            allowed = {
                name
                for name in names
                if connection.execute(
                    "SELECT has_column_privilege(%s, %s, %s, %s)",
                    (role, qualified, name, privilege),
                ).fetchone()[0]
            }
            if allowed != columns_of.get(privilege, set()):
                found.append(f"has {privilege} ({', '.join(sorted(allowed))}) on {table}")
    schema_create, database_create, temporary, owns = connection.execute(
        "SELECT has_schema_privilege(%s, %s, 'CREATE'),"
        " has_database_privilege(%s, current_database(), 'CREATE'),"
        " has_database_privilege(%s, current_database(), 'TEMPORARY'),"
        " EXISTS (SELECT 1 FROM pg_class WHERE pg_get_userbyid(relowner) = %s)"
        " OR EXISTS (SELECT 1 FROM pg_proc WHERE pg_get_userbyid(proowner) = %s)",
        (role, SCHEMA, role, role, role, role),
    ).fetchone()
    if schema_create:
        found.append(f"has CREATE on schema {SCHEMA}")
    if database_create or temporary:
        found.append("has CREATE or TEMPORARY on the database")
    if owns:
        found.append("owns tables or functions of the database")
    return found
