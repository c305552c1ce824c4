"""The audit store's two PostgreSQL roles, on the real PostgreSQL (issue 18).

Attack class: **a database holder with the service's credentials** — whoever reads
``AUDIT_DATABASE_URL`` from the audit host, its environment or a leaked ``.env`` and connects with it.
That role (the runtime role) must be unable to rewrite or remove the log, or to change what guards
it: every such statement is refused by PostgreSQL's privileges (SQLSTATE 42501), before any trigger
is asked — not merely by the triggers, which the tables' owner could drop. The same role runs the
store normally: ingest, verification, checkpoints with their Merkle nodes and cosignatures,
quarantine, and retention's prune. The owner (the migration role) is another credential, used only
by ``gateway-audit migrate``; what it can do is caught by the chain and the signed checkpoints
(``test_audit_insider_tampering.py``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.checkpoints import Checkpointer, MemoryCheckpointSigner
from audit.errors import ChainBroken
from audit.retention import apply_retention, verify_archive
from audit.store import RUNTIME_GRANTS, QuarantinedEntry, StoreError, migrate, open_store
from audit.tree import NODE_LEVEL
from audit.verification import verify_log
from devstack import postgres
from tests.audit_cli import run_audit_cli
from tests.conftest import new_postgres_database
from tests.raw_database import OWNER_URLS

pytestmark = [pytest.mark.postgres]

NOW = datetime.now(UTC).replace(microsecond=0)
POLICY = {"authentication": 365, "api_activity": 3650, "account_change": 1825, "finding": 1095}
RECORDS = 600  # more than two tiles of 256 leaves: the checkpointer stores Merkle nodes
EXPIRED = 40  # old logins, archived and pruned by retention
INSUFFICIENT_PRIVILEGE = "42501"


def _event(n: int, *, days_ago: float) -> AuditEvent:
    tag = EventTag.IDP_LOGIN_FAILURE if n < EXPIRED else EventTag.SIGNING_DOCUMENT_SIGN
    return AuditEvent.build(
        tag=tag,
        service="keycloak" if n < EXPIRED else "signing",
        actor=Actor(name=f"gv{n:05d}"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    ).model_copy(update={"time": NOW - timedelta(days=days_ago)})


@dataclass(frozen=True)
class ServiceLog:
    runtime_url: str
    owner_url: str
    public_key: bytes
    archive: Path


@pytest.fixture(scope="module")
def service_log(
    postgres_server: postgres.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> ServiceLog:
    """A log written and kept only through the runtime role, every path of the service: appends
    (with a quarantined entry), a signed checkpoint with its Merkle nodes, a cosignature,
    retention (archive, then prune), a second checkpoint."""
    runtime_url = new_postgres_database(postgres_server)
    store = open_store(runtime_url)
    try:
        forged = QuarantinedEntry("1-0", NOW.isoformat(), "signing", "bad-seal", '{"forged":1}')
        events = [_event(n, days_ago=400 if n < EXPIRED else 1) for n in range(RECORDS)]
        assert store.append(events[:300], quarantine=[forged]) == 300
        assert store.append(events[250:]) == RECORDS - 300  # redelivered ones skipped
        signer = MemoryCheckpointSigner()
        first = Checkpointer(store, signer).checkpoint()
        assert first is not None and first.tree_size == RECORDS
        assert store.nodes_cover(NODE_LEVEL) == 512  # two tiles of 256, by the runtime role
        store.add_cosignature(RECORDS, "witness.example", "— witness.example AAAA", NOW.isoformat())
        archives = tmp_path_factory.mktemp("archives")
        run = apply_retention(store, POLICY, archives, now=NOW)
        assert run.archived == EXPIRED  # archived, then pruned by UPDATE (body, actor, digest)
        store.append([_event(RECORDS, days_ago=0)])
        assert Checkpointer(store, signer).checkpoint() is not None
        assert verify_log(store, signer.public_key_pem).records == RECORDS + 1
        [archive] = archives.iterdir()
        assert verify_archive(archive, signer.public_key_pem, store=store).records == EXPIRED
        assert store.quarantined() == [forged]
        assert store.cosignatures(RECORDS) == {"witness.example": "— witness.example AAAA"}
    finally:
        store.close()
    return ServiceLog(runtime_url, OWNER_URLS[runtime_url], signer.public_key_pem, archive)


def _guarded(table: str, column: str) -> list[str]:
    return [
        f"UPDATE {table} SET {column} = {column}",  # noqa: S608 - names from this file
        f"DELETE FROM {table}",  # noqa: S608 - names from this file
        f"TRUNCATE {table}",
        f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        f"ALTER TABLE {table} DISABLE TRIGGER USER",
        f"ALTER TABLE {table} ADD COLUMN forged TEXT",
        f"ALTER TABLE {table} OWNER TO audit_service",
        f"DROP TABLE {table}",
        f"CREATE TRIGGER forged BEFORE INSERT ON {table} FOR EACH ROW"
        " EXECUTE FUNCTION audit_refuse_change('x')",
    ]


#: Every column of events but the three retention empties: what a reader is shown or the chain is.
_EVENT_COLUMNS = [
    "seq", "event_id", "tag", "time", "outcome", "unit", "document", "received_at", "leaf_hash",
    "chain_hash",
]  # fmt: skip
REFUSED = [
    *(f"UPDATE events SET {column} = {column}" for column in _EVENT_COLUMNS),  # noqa: S608 - fixed
    *_guarded("events", "tag")[1:],
    "DROP TRIGGER events_no_change ON events",
    "DROP TRIGGER events_no_truncate ON events",
    *_guarded("checkpoints", "root_hash"),
    "DROP TRIGGER checkpoints_no_change ON checkpoints",
    *_guarded("archived", "archive"),
    "DROP TRIGGER archived_no_change ON archived",
    *_guarded("quarantine", "reason"),
    *_guarded("merkle_nodes", "hash"),
    *_guarded("cosignatures", "line"),
    *_guarded("store_meta", "value"),
    # The guard itself, replaced by one that lets anything through.
    "CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NEW; END $$",
    "DROP FUNCTION audit_events_guard() CASCADE",
    # Nothing new anywhere: a shadowing table, a schema, a temporary table, a function.
    "CREATE TABLE public.forged (a INT)",
    "CREATE TEMPORARY TABLE forged (a INT)",
    "CREATE SCHEMA forged",
    "CREATE FUNCTION public.forged() RETURNS INT LANGUAGE sql AS 'SELECT 1'",
    # Nor become someone who could.
    "SET ROLE audit_owner",
    "ALTER ROLE audit_service SUPERUSER",
    "ALTER ROLE audit_service BYPASSRLS",
    "CREATE ROLE forged LOGIN",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_service_credentials_cannot_change_the_log_or_its_guards(
    service_log: ServiceLog, statement: str
) -> None:
    """Attack: a database holder with the service's credentials rewrites, removes, truncates, or
    disarms the triggers first. PostgreSQL refuses for lack of privilege (42501), not the trigger."""
    with (
        psycopg.connect(service_log.runtime_url, autocommit=True) as db,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as refused,
    ):
        db.execute(statement)
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE


def test_what_the_service_may_update_is_only_retentions_prune(service_log: ServiceLog) -> None:
    """Attack: the one column UPDATE the role has (body, actor, personal_digest) used for anything
    but emptying an archived record. The privilege lets it reach the trigger, which refuses."""
    with psycopg.connect(service_log.runtime_url, autocommit=True) as db:
        for statement in (
            "UPDATE events SET actor = 'gv99999' WHERE seq = 100",  # a record never archived
            "UPDATE events SET body = NULL, actor = '-' WHERE seq = 100",  # emptied unarchived
            "UPDATE events SET personal_digest = NULL WHERE seq = 1",  # an archived one restored
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute(statement)
        # It cannot give itself more: without a grant option, GRANT gives nothing.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            db.execute("GRANT ALL ON events TO audit_service")
        row = db.execute(
            "SELECT has_table_privilege('events', 'UPDATE'), has_table_privilege('events', 'DELETE')"
        ).fetchone()
    assert row == (False, False)


def test_a_record_emptied_before_its_retention_ended_is_named(
    postgres_server: postgres.Postgres, tmp_path: Path
) -> None:
    """Attack: early erasure through retention's own path. The runtime role may archive and empty
    any record older than a year (the database refuses no less): it empties a signature made two
    years ago, which the policy keeps ten, exactly as retention would, digest and all. The chain
    and every checkpoint still hold; ``verify`` names the record all the same, by the retention
    rule it judges with (the verifier's clock, the deployment's days per class). The same erasure
    of a login past its year is retention, and verifies."""
    runtime_url = new_postgres_database(postgres_server)
    store = open_store(runtime_url)
    try:
        old_login = _event(0, days_ago=400)  # authentication: kept a year
        old_signature = _event(EXPIRED, days_ago=800)  # api_activity: kept ten years
        store.append([old_login, old_signature, _event(EXPIRED + 1, days_ago=1)])
        signer = MemoryCheckpointSigner()
        assert Checkpointer(store, signer).checkpoint() is not None
        stamp = NOW.isoformat()
        assert store.prune([1], archive="forged.jsonl.gz sha256:00", archived_at=stamp) == 1
        assert verify_log(store, signer.public_key_pem).records == 3  # the control: retention's due

        assert store.prune([2], archive="forged.jsonl.gz sha256:00", archived_at=stamp) == 1
        with pytest.raises(ChainBroken) as named:
            verify_log(store, signer.public_key_pem)
        assert "record seq 2 was emptied before its retention ended" in str(named.value)
        assert "api_activity events are kept 3650 days" in str(named.value)
        # A deployment that keeps signatures two years only (AUDIT_RETENTION_DAYS) judges by that.
        two_years = {**POLICY, "api_activity": 730}
        assert verify_log(store, signer.public_key_pem, retention_days=two_years).records == 3
    finally:
        store.close()
    key = tmp_path / "checkpoint.pem"
    key.write_bytes(signer.public_key_pem)
    cli = run_audit_cli("verify", "--public-key", str(key), env={"AUDIT_DATABASE_URL": runtime_url})
    assert cli.returncode == 1 and "record seq 2 was emptied before" in cli.stdout, cli.stdout
    shorter = run_audit_cli(
        "verify",
        "--public-key",
        str(key),
        env={"AUDIT_DATABASE_URL": runtime_url, "AUDIT_RETENTION_DAYS": '{"api_activity": 730}'},
    )
    assert shorter.returncode == 0, shorter.stdout


def test_after_every_attempt_the_log_is_whole_and_guarded(service_log: ServiceLog) -> None:
    """The control: the refusals above changed nothing, and the triggers are all still enabled."""
    store = open_store(service_log.runtime_url)
    try:
        assert verify_log(store, service_log.public_key).records == RECORDS + 1
    finally:
        store.close()
    with psycopg.connect(service_log.owner_url, autocommit=True) as db:
        triggers = db.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal"
            " ORDER BY 1, 2"
        ).fetchall()
        owners = {
            str(owner)
            for (owner,) in db.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                " WHERE relnamespace = 'public'::regnamespace"
            )
        }
    assert {t for t, _, _ in triggers} == set(RUNTIME_GRANTS) - {"store_meta"}
    assert all(enabled == "O" for _, _, enabled in triggers), triggers
    assert owners == {postgres.OWNER_ROLE}


def test_the_runtime_role_holds_exactly_its_grants(
    service_log: ServiceLog, postgres_server: postgres.Postgres
) -> None:
    """Read from the catalogue (the ACLs themselves): table and column privileges of the runtime
    role are RUNTIME_GRANTS and nothing else; PUBLIC holds nothing on the store's tables."""
    with psycopg.connect(service_log.owner_url, autocommit=True) as db:
        tables = db.execute(
            "SELECT c.relname, a.privilege_type, pg_get_userbyid(a.grantee) FROM pg_class c,"
            " aclexplode(c.relacl) a WHERE c.relnamespace = 'public'::regnamespace"
            " AND c.relkind = 'r' AND a.grantee <> c.relowner"
        ).fetchall()
        columns = db.execute(
            "SELECT c.relname, t.attname, a.privilege_type, pg_get_userbyid(a.grantee)"
            " FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a"
            " WHERE c.relnamespace = 'public'::regnamespace AND a.grantee <> c.relowner"
        ).fetchall()
    granted: dict[str, set[str]] = {}
    for table, privilege, grantee in tables:
        assert grantee == postgres.RUNTIME_ROLE, (table, privilege, grantee)
        granted.setdefault(table, set()).add(privilege)
    for table, column, privilege, grantee in columns:
        assert grantee == postgres.RUNTIME_ROLE, (table, column, privilege, grantee)
        granted.setdefault(table, set()).add(f"{privilege} ({column})")
    expected: dict[str, set[str]] = {}
    for table, privileges in RUNTIME_GRANTS.items():
        for privilege in privileges:
            if "(" in privilege:
                name, names = privilege.split(" (")
                expected.setdefault(table, set()).update(
                    f"{name} ({column.strip()})" for column in names.rstrip(")").split(",")
                )
            else:
                expected.setdefault(table, set()).add(privilege)
    assert granted == expected


def test_migrate_twice_changes_nothing_and_the_service_cannot_migrate(
    service_log: ServiceLog,
) -> None:
    again = migrate(service_log.owner_url, postgres.RUNTIME_ROLE)
    assert (again.schema_version, again.created) == (3, False)
    # The runtime role's URL cannot stand in for the owner's.
    with pytest.raises(StoreError, match="is the migration role, or a member of it"):
        migrate(service_log.runtime_url, postgres.RUNTIME_ROLE)


def test_a_runtime_role_that_could_do_more_is_refused_and_nothing_changes(
    postgres_server: postgres.Postgres,
) -> None:
    """A runtime role given more elsewhere — a predefined role such as ``pg_write_all_data`` (UPDATE
    and DELETE on any table) or ``pg_execute_server_program`` — is named, and nothing is created;
    ``migrate`` also reads the effective privileges back after granting. Roles that would own or
    bypass the grants are refused."""
    runtime_url = new_postgres_database(postgres_server, migrated=False)
    owner_url = OWNER_URLS[runtime_url]
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as admin:
        for predefined in ("pg_write_all_data", "pg_execute_server_program"):
            admin.execute(f"GRANT {predefined} TO audit_service")
            try:
                with pytest.raises(StoreError, match=f"member of {predefined}"):
                    migrate(owner_url, postgres.RUNTIME_ROLE)
            finally:
                admin.execute(f"REVOKE {predefined} FROM audit_service")
    with pytest.raises(StoreError, match="no audit store schema yet"):  # rolled back: no tables
        open_store(runtime_url)
    for role, refusal in (
        (postgres.OWNER_ROLE, "is the migration role, or a member of it"),
        ("postgres", "superuser"),
        ("nobody_here", "does not exist"),
    ):
        with pytest.raises(StoreError, match=refusal):
            migrate(owner_url, role)


def test_the_service_refuses_a_database_not_migrated_and_the_command_migrates_it(
    postgres_server: postgres.Postgres,
) -> None:
    """The store opened as the runtime role never tries DDL: an empty database is a clear error
    naming the command; ``gateway-audit migrate`` (the owner's URL from the environment, never the
    command line) makes the schema, and then the store runs."""
    runtime_url = new_postgres_database(postgres_server, migrated=False)
    owner_url = OWNER_URLS[runtime_url]
    with pytest.raises(StoreError) as caught:
        open_store(runtime_url)
    assert "gateway-audit migrate --runtime-role audit_service" in caught.value.diagnostics()
    missing = run_audit_cli("migrate", "--runtime-role", "audit_service")
    assert missing.returncode == 2 and "AUDIT_MIGRATION_DATABASE_URL" in missing.stdout
    done = run_audit_cli(
        "migrate",
        "--runtime-role",
        "audit_service",
        env={"AUDIT_MIGRATION_DATABASE_URL": owner_url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "schema 3 created" in done.stdout
    assert "events: SELECT, INSERT, UPDATE (body, actor, personal_digest)" in done.stdout
    assert owner_url.split("@")[0] not in done.stdout + done.stderr  # no password printed
    again = run_audit_cli(
        "migrate",
        "--runtime-role",
        "audit_service",
        env={"AUDIT_MIGRATION_DATABASE_URL": owner_url},
    )
    assert again.returncode == 0 and "schema 3 up to date" in again.stdout, again.stdout
    store = open_store(runtime_url)
    try:
        assert store.append([_event(1, days_ago=0)]) == 1
    finally:
        store.close()
