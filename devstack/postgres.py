"""PostgreSQL from Debian's ``postgresql`` package, as the audit store's production database in tests.

A throw-away cluster on loopback: ``initdb`` with a generated password (SCRAM), TCP on one port, no
Unix socket in a shared place. PostgreSQL refuses to run as root, so when this process is root the
cluster belongs to (and runs as) the ``postgres`` system user the package creates, in a folder of its
own that user can reach (pytest's temporary folders are private to root).
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

from devstack.errors import InstallFailed, ServiceDidNotStart
from devstack.process import ManagedProcess

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
    url: str
    data_dir: Path
    process: ManagedProcess
    argv: tuple[str, ...]
    ready: Callable[[], bool]

    def halt(self) -> None:
        """Stop the server, keeping its data (a crash or a restart, in a test)."""
        self.process.stop()

    def resume(self, timeout: float = 60.0) -> None:
        self.process.start(self.argv, ready=self.ready, timeout=timeout)

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _as_cluster_owner(argv: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


def start(
    stack_dir: Path, *, port: int, database: str = "audit", timeout: float = 60.0
) -> Postgres:
    """Create and start a cluster; return its URL (``postgresql://audit:…@127.0.0.1:port/audit``)."""
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
                "audit",
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
    url = f"postgresql://audit:{password}@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        try:
            with psycopg.connect(url, connect_timeout=2):
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
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return Postgres(
        url=f"postgresql://audit:{password}@127.0.0.1:{port}/{database}",
        data_dir=data,
        process=process,
        argv=argv,
        ready=ready,
    )
