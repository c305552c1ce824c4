"""PostgreSQL from Debian's ``postgresql`` package, as the audit store's production database in tests.

A throw-away cluster on loopback: ``initdb`` with a generated password (SCRAM), TCP on one port, no
Unix socket in a shared place. PostgreSQL refuses to run as root, so when this process is root the
cluster belongs to (and runs as) the ``postgres`` system user the package creates, in a folder of its
own that user can reach (pytest's temporary folders are private to root).

The roles are production's: the superuser made by ``initdb`` only runs ``deploy/audit-db/init-roles.sh``
(as the postgres image does in ``compose.yaml``) and creates databases for tests; the migration role
``audit_owner`` (not a superuser) owns the database and migrates it; the store runs as the runtime
role ``audit_service``. Each has its own generated password.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from audit.store import migrate
from devstack.errors import InstallFailed, ServiceDidNotStart
from devstack.process import ManagedProcess

#: The roles and the database ``deploy/audit-db/init-roles.sh`` creates (compose.yaml's names too).
OWNER_ROLE = "audit_owner"
RUNTIME_ROLE = "audit_service"
DATABASE = "audit"
INIT_ROLES = Path(__file__).resolve().parent.parent / "deploy" / "audit-db" / "init-roles.sh"
_SUPERUSER = "postgres"

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _binary(name: str) -> str:
    for folder in _BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise InstallFailed(f"{name} not found; the setup script installs Debian's postgresql")
    return found


@dataclass(frozen=True)
class Postgres:
    #: The runtime role's URL of database ``audit`` (what the audit service connects as).
    url: str
    #: The migration role's URL of the same database (the owner of its tables).
    migration_url: str
    #: The cluster's superuser, for making databases in tests; never given to the store.
    admin_url: str
    data_dir: Path
    process: ManagedProcess
    argv: tuple[str, ...]
    ready: Callable[[], bool]

    def create_database(self, name: str) -> tuple[str, str]:
        """A new empty database owned by the migration role: (runtime URL, migration URL)."""
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                )
            )
        return _with_database(self.url, name), _with_database(self.migration_url, name)

    def halt(self) -> None:
        """Stop the server, keeping its data (a crash or a restart, in a test)."""
        self.process.stop()

    def resume(self, timeout: float = 60.0) -> None:
        self.process.start(self.argv, ready=self.ready, timeout=timeout)

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return f"{url.rsplit('/', 1)[0]}/{name}"


def _as_cluster_owner(argv: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


def start(stack_dir: Path, *, port: int, timeout: float = 60.0) -> Postgres:
    """Create and start a cluster with the audit store's two roles and its database ``audit``,
    migrated by the migration role; return its URLs."""
    home = Path(tempfile.mkdtemp(prefix="edu-gateway-pg-"))
    home.chmod(0o700)
    data = home / "data"
    password = secrets.token_urlsafe(24)
    pwfile = home / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(home, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    pwfile.chmod(0o600)
    result = subprocess.run(
        _as_cluster_owner(
            [
                _binary("initdb"),
                "--pgdata",
                str(data),
                "--username",
                _SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    pwfile.unlink()
    if result.returncode != 0:
        raise ServiceDidNotStart(f"initdb failed: {result.stderr.strip()[-500:]}")
    admin_url = f"postgresql://{_SUPERUSER}:{password}@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        try:
            with psycopg.connect(admin_url, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    process = ManagedProcess("postgres", stack_dir)
    argv = tuple(
        _as_cluster_owner(
            [
                _binary("postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={home}",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ]
        )
    )
    process.start(argv, ready=ready, timeout=timeout)
    owner_password, runtime_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    server = Postgres(
        url=f"postgresql://{RUNTIME_ROLE}:{runtime_password}@127.0.0.1:{port}/{DATABASE}",
        migration_url=f"postgresql://{OWNER_ROLE}:{owner_password}@127.0.0.1:{port}/{DATABASE}",
        admin_url=admin_url,
        data_dir=data,
        process=process,
        argv=argv,
        ready=ready,
    )
    try:
        _create_roles(password, port, owner_password, runtime_password)
        migrate(server.migration_url, RUNTIME_ROLE)
    except BaseException:
        server.stop()  # no cluster left running behind a failed start
        raise
    return server


def _create_roles(password: str, port: int, owner_password: str, runtime_password: str) -> None:
    """Run production's ``init-roles.sh`` against the cluster, as its superuser (over TCP; the
    passwords in the environment of psql alone)."""
    result = subprocess.run(
        ["sh", str(INIT_ROLES)],
        env={
            "PATH": f"{Path(_binary('psql')).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "POSTGRES_USER": _SUPERUSER,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(port),
            "PGPASSWORD": password,
            "AUDIT_DB_OWNER_PASSWORD": owner_password,
            "AUDIT_DB_RUNTIME_PASSWORD": runtime_password,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceDidNotStart(f"init-roles.sh failed: {result.stderr.strip()[-500:]}")
