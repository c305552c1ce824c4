"""Redis from Debian's ``redis-server``, on loopback, one ACL user per service, append-only with fsync.

``appendfsync always`` makes an acknowledged XADD durable: the audit trail relies on it.

Nobody has ``+@all`` and the ``default`` user is off: each service logs in as its own user with only
what it needs (:data:`ACL_RULES`, the same rules as ``compose.yaml``'s Redis; a test compares them);
the disabled ``default`` user holds what the append-only file's replay needs (:data:`DEFAULT_USER_RULES`).
The producers of audit events may only ``XADD``, each to its own stream (write-only key permission):
they cannot read it, delete from it, add to or trim another producer's, flush the database or
reconfigure Redis. The audit service reads and acknowledges. The signing service also keeps its own
state (batches, approvals, credentials) under its own key prefixes. Passwords are written to the configuration file as SHA-256 hashes only.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import redis
from redis.exceptions import RedisError

from audit.producers import Producer
from audit.trail import stream_of
from devstack.errors import InstallFailed
from devstack.process import ManagedProcess

#: The signing service's own keys (``signing_service/``: batches, approvals, devices, credentials,
#: the public page's rate limit, the records of signed documents).
_SIGNING_KEYS = (
    "~batch:* ~batch-key:* ~batches:* ~credential:* ~credentials-of:* ~devices:* ~pairing:*"
    " ~approval:* ~approval-decision:* ~approval-wake:* ~sad:* ~sad-hashes:* ~verify-rate:*"
    " ~document-record:* ~document-by-hash:*"
)


def _append_only(producer: Producer) -> str:
    """Only XADD, and only to the producer's own audit stream, with write permission on that key
    alone (``%W~``): another producer's stream can be neither added to nor trimmed."""
    return f"%W~{stream_of(producer)} +xadd"


#: Each service's Redis user and its rules (Redis 7 ACL syntax), without the password.
ACL_RULES: Mapping[str, str] = {
    # The audit service: reads and acknowledges the stream (its consumer group), appends its own
    # events, keeps the Keycloak collector's checkpoint. ``audit:*``: the stream (and test streams).
    "audit": (
        "resetkeys ~audit:* ~keycloak-events:* resetchannels -@all +@connection"
        " +xadd +xreadgroup +xack +xdel +xgroup|create +xinfo|stream +xinfo|groups +xlen +xpending"
        " +multi +exec"
        " +xrange +get +set"
        " (~scan:requests +lpush +llen)"
    ),
    # The signing service parses untrusted PDFs: its user may append audit events, never read,
    # trim or delete them (the selector in parentheses is the only way it reaches the stream).
    "signing": (
        f"resetkeys {_SIGNING_KEYS} resetchannels -@all +@read +@write +@connection"
        f" +@transaction +@scripting -@dangerous ({_append_only(Producer.SIGNING)})"
    ),
    # Account issuing (idp-config issue-accounts) and the scanners (gateway-scan): append only.
    "accounts": f"resetkeys resetchannels -@all +@connection {_append_only(Producer.ACCOUNTS)}",
    # The scanners also take the scans the dashboard asks for (audit/scan_requests.py).
    "scanners": (
        f"resetkeys resetchannels -@all +@connection {_append_only(Producer.SCANNERS)}"
        " (~scan:requests +brpop)"
    ),
}


#: The ``default`` user: off (nobody can log in as it, and an unauthenticated connection may only
#: AUTH), yet holding what any service may write. Redis replays its append-only file as this user
#: and re-checks the ACL of every command inside MULTI/EXEC (redis/redis#14541, fixed only in later
#: releases): without these permissions the signing service's transactions and the audit service's
#: consumer-group state (XREADGROUP's effects are written as a transaction) are dropped at the first
#: restart. ``-@dangerous`` and no ``+@admin``: nothing that reconfigures or empties Redis.
DEFAULT_USER_RULES = "off resetkeys ~* resetchannels -@all +@read +@write +@transaction -@dangerous"


def acl_line(user: str, password: str, rules: str | None = None) -> str:
    """The configuration line of ``user`` (password as its SHA-256, never in clear), with ``rules``
    (a service's: :data:`ACL_RULES`)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user {user} on #{digest} {ACL_RULES[user] if rules is None else rules}"


def start(
    stack_dir: Path, *, port: int, passwords: Mapping[str, str], timeout: float = 30.0
) -> str:
    """Start Redis with one user per service (``passwords``: every user of :data:`ACL_RULES`)."""
    binary = server_binary()
    data = stack_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    write_private(conf, server_config(data, port=port, passwords=passwords))
    ManagedProcess("redis", stack_dir).start(
        [binary, str(conf)], ready=answers(port, passwords), timeout=timeout
    )
    return f"redis://127.0.0.1:{port}/0"


def server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise InstallFailed("redis-server is not installed; the setup script installs it")
    return binary


def server_config(data: Path, *, port: int, passwords: Mapping[str, str]) -> list[str]:
    """The configuration of one data server: loopback, fsynced append-only file, the ACL users."""
    return [
        "bind 127.0.0.1",
        f"port {port}",
        "protected-mode yes",
        f"dir {data}",
        "appendonly yes",
        "appendfsync always",
        'save ""',
        f"user default {DEFAULT_USER_RULES}",
        *(acl_line(user, passwords[user]) for user in ACL_RULES),
        "daemonize no",
    ]


def write_private(path: Path, lines: list[str]) -> None:
    """Write a configuration that holds password hashes, readable by its owner only."""
    path.write_text("\n".join([*lines, ""]))
    path.chmod(0o600)


def answers(port: int, passwords: Mapping[str, str]) -> Callable[[], bool]:
    """Whether the server on ``port`` answers the audit service's user."""

    def ready() -> bool:
        try:
            probe = redis.Redis(
                port=port, username="audit", password=passwords["audit"], socket_timeout=1
            )
            return bool(probe.ping())
        except (RedisError, OSError):
            return False

    return ready
