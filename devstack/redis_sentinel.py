"""Replicated Redis: a primary, two replicas and three sentinels (Debian's ``redis-server`` and
``redis-sentinel``), on loopback, for the production topology and its failure tests.

Why two replicas, not one: an audit event counts as recorded only once a replica holds it too
(``WAIT 1``, :mod:`gateway_runtime.redis_connection`), and a primary refuses writes while no replica
follows it (``min-replicas-to-write 1``): that is what makes a failover lose nothing. With one replica,
losing either server would stop every write until it came back; with two, the loss of any one server
leaves a primary and a replica, and writing goes on as soon as the sentinels have promoted one.

The data servers have the single server's users (:data:`devstack.redis_server.ACL_RULES`), plus the
replication user (``PSYNC``, ``REPLCONF``) and the sentinels' user (the commands the Redis
documentation lists for Sentinel). On the sentinels, each service's user may only ask where the
primary is; the sentinels talk to each other as their own user. Quorum 2 of 3.

The configuration files are written at the first start only: afterwards they are the servers' own
(the sentinels record there which server is the primary now, and reconfigure a demoted primary as a
replica), and rewriting them would undo a failover.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

from devstack.errors import InstallFailed, ServiceDidNotStart
from devstack.process import ManagedProcess
from devstack.redis_server import (
    ACL_RULES,
    acl_line,
    answers,
    server_binary,
    server_config,
    write_private,
)
from gateway_runtime.redis_connection import SENTINEL_SCHEME

#: The name the sentinels know the primary by (the ``<service>`` of the sentinel URL).
SERVICE = "gateway"
#: Users beyond the services': replication between the servers, the sentinels on the servers,
#: and the sentinels among themselves.
REPLICATION_USER = "replication"
SENTINEL_USER = "sentinel"
USERS = (*ACL_RULES, REPLICATION_USER, SENTINEL_USER)

REPLICATION_RULES = "resetkeys resetchannels -@all +psync +replconf +ping"
SENTINEL_ON_SERVERS_RULES = (
    "resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role"
    " +publish +info +client|setname +client|kill +script|kill"
)
#: What a service may ask a sentinel: where the primary and its replicas are.
DISCOVERY_RULES = (
    "resetkeys resetchannels -@all +auth +hello +ping +sentinel|get-master-addr-by-name"
    " +sentinel|masters +sentinel|master +sentinel|replicas +sentinel|slaves +sentinel|sentinels"
)
SENTINEL_PEER_RULES = "resetkeys allchannels +@all"


@dataclass(frozen=True)
class Timing:
    """How soon the sentinels act. The tests' values; production keeps Redis's defaults larger.

    Not below 2 s: a sentinel counts a primary it has just switched to as down if it has not answered
    within this time, and on a loaded machine its first answer took over 1 s — with 1 s the sentinels
    then failed over a second time, to another server, leaving each without a replica for 11 s (CI,
    2026-12-02)."""

    down_after_ms: int = 2000
    failover_timeout_ms: int = 6000


@dataclass(frozen=True)
class ReplicatedRedis:
    """The processes of a started replicated Redis, and the URL the services use."""

    servers: tuple[ManagedProcess, ...]
    server_ports: tuple[int, ...]
    sentinels: tuple[ManagedProcess, ...]
    sentinel_ports: tuple[int, ...]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"{SENTINEL_SCHEME}://{hosts}/{SERVICE}/0"

    def stop(self) -> None:
        for process in (*self.sentinels, *self.servers):
            process.stop(timeout=10)


def start(
    stack_dir: Path,
    *,
    server_ports: tuple[int, int, int],
    sentinel_ports: tuple[int, int, int],
    passwords: Mapping[str, str],
    timing: Timing = Timing(),
    timeout: float = 60.0,
) -> ReplicatedRedis:
    """Start (or start again) the three servers, then the three sentinels; wait until the sentinels
    see the primary, both replicas and each other."""
    binary = server_binary()
    sentinel_binary = shutil.which("redis-sentinel")
    if sentinel_binary is None:
        raise InstallFailed("redis-sentinel is not installed; the setup script installs it")
    primary_port = server_ports[0]
    servers = []
    for n, port in enumerate(server_ports, start=1):
        data = stack_dir / f"redis-{n}"
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "redis.conf"
        if not conf.exists():
            lines = [
                *server_config(data, port=port, passwords=passwords),
                acl_line(REPLICATION_USER, passwords[REPLICATION_USER], REPLICATION_RULES),
                acl_line(SENTINEL_USER, passwords[SENTINEL_USER], SENTINEL_ON_SERVERS_RULES),
                f"masteruser {REPLICATION_USER}",
                f"masterauth {passwords[REPLICATION_USER]}",
                "min-replicas-to-write 1",
                "min-replicas-max-lag 10",
                # A replica (a demoted primary coming back) is resynchronised at once, not after
                # the default 5 s wait for others to join the same transfer.
                "repl-diskless-sync-delay 0",
            ]
            if port != primary_port:
                lines.append(f"replicaof 127.0.0.1 {primary_port}")
            write_private(conf, lines)
        process = ManagedProcess(f"redis-{n}", stack_dir)
        process.start([binary, str(conf)], ready=answers(port, passwords), timeout=timeout)
        servers.append(process)
    sentinels = []
    for n, port in enumerate(sentinel_ports, start=1):
        data = stack_dir / f"sentinel-{n}"
        data.mkdir(parents=True, exist_ok=True)
        conf = data / "sentinel.conf"
        if not conf.exists():
            write_private(
                conf,
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    f"dir {data}",
                    f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2",
                    f"sentinel down-after-milliseconds {SERVICE} {timing.down_after_ms}",
                    f"sentinel failover-timeout {SERVICE} {timing.failover_timeout_ms}",
                    f"sentinel parallel-syncs {SERVICE} 1",
                    f"sentinel auth-user {SERVICE} {SENTINEL_USER}",
                    f"sentinel auth-pass {SERVICE} {passwords[SENTINEL_USER]}",
                    f"sentinel sentinel-user {SENTINEL_USER}",
                    f"sentinel sentinel-pass {passwords[SENTINEL_USER]}",
                    "user default off resetkeys resetchannels -@all",
                    acl_line(SENTINEL_USER, passwords[SENTINEL_USER], SENTINEL_PEER_RULES),
                    *(acl_line(user, passwords[user], DISCOVERY_RULES) for user in ACL_RULES),
                    "daemonize no",
                ],
            )
        process = ManagedProcess(f"sentinel-{n}", stack_dir)
        process.launch([sentinel_binary, str(conf)])
        sentinels.append(process)
    replicated = ReplicatedRedis(
        tuple(servers), tuple(server_ports), tuple(sentinels), tuple(sentinel_ports)
    )
    _wait_until_watched(replicated, passwords[SENTINEL_USER], timeout=timeout)
    return replicated


def sentinel_view(port: int, password: str) -> Mapping[str, str]:
    """What the sentinel on ``port`` knows of the primary (``SENTINEL MASTER``), as text."""
    client = redis.Redis(
        port=port,
        username=SENTINEL_USER,
        password=password,
        socket_timeout=2,
        decode_responses=True,
    )
    try:
        view: Any = client.sentinel_master(SERVICE)
        return {key: str(value) for key, value in view.items()}
    finally:
        client.close()


def _good_replicas(view: Mapping[str, str], password: str) -> int:
    """How many replicas the primary counts as following it closely enough to accept writes."""
    client = redis.Redis(
        host=view["ip"],
        port=int(view["port"]),
        username=SENTINEL_USER,
        password=password,
        socket_timeout=2,
    )
    try:
        info: Mapping[str, object] = client.info("replication")
        return int(str(info.get("min_slaves_good_slaves", 0)))
    finally:
        client.close()


def _wait_until_watched(replicated: ReplicatedRedis, password: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no sentinel answered"
    while time.monotonic() < deadline:
        try:
            views = [sentinel_view(port, password) for port in replicated.sentinel_ports]
        except (RedisError, OSError) as exc:
            last = type(exc).__name__
        else:
            # redis-py parses SENTINEL MASTER into booleans and numbers; as text here.
            if (
                all(
                    view.get("num-slaves") == "2" and view.get("num-other-sentinels") == "2"
                    for view in views
                )
                and _good_replicas(views[0], password) == 2
            ):
                return
            last = ", ".join(
                f"{view.get('num-slaves')} replicas/{view.get('num-other-sentinels')} peers"
                for view in views
            )
        for process in (*replicated.servers, *replicated.sentinels):
            if not process.running():
                raise ServiceDidNotStart(f"{process.name} exited; log {process.log_path}")
        time.sleep(0.25)
    raise ServiceDidNotStart(f"the sentinels do not see the whole replicated Redis: {last}")
