"""deploy/redis's scripts — what the Redis pods of Kubernetes and the Redis services of compose.yaml
run — run here, on loopback with Debian's redis-server and redis-sentinel: three servers and three
sentinels start, the users are the dev stack's with hashed passwords, the gateway writes through
the sentinels with a replica holding each write, and after the primary is killed the sentinels
promote a replica and the old primary, started again by the same script, comes back as a replica."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.layout import Ports
from gateway_runtime.redis_connection import RedisAddress

SCRIPTS = Path(__file__).resolve().parents[2] / "deploy" / "redis"
USERS = ("audit", "signing", "accounts", "scanners", "replication", "sentinel")


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError, ValueError, KeyError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


class Topology:
    def __init__(self, folder: Path) -> None:
        base = Ports.free_block(6)
        self.folder = folder
        self.server_ports = (base, base + 1, base + 2)
        self.sentinel_ports = (base + 3, base + 4, base + 5)
        self.passwords = {user: f"{user}-{os.urandom(12).hex()}" for user in USERS}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _env(self, data: Path, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "REDIS_CONFIG_DIR": str(SCRIPTS),
            "REDIS_DATA_DIR": str(data),
            "REDIS_FIRST_PRIMARY": f"127.0.0.1:{self.server_ports[0]}",
            "REDIS_SENTINEL_HOSTS": " ".join(f"127.0.0.1:{p}" for p in self.sentinel_ports),
            "REDIS_ANNOUNCE": "127.0.0.1",
            "SENTINEL_DOWN_AFTER_MS": "1000",
            "SENTINEL_FAILOVER_TIMEOUT_MS": "3000",
            **{f"REDIS_{user.upper()}_PASSWORD": p for user, p in self.passwords.items()},
            **extra,
        }

    def start_server(self, n: int) -> None:
        data = self.folder / f"redis-{n}"
        data.mkdir(parents=True, exist_ok=True)
        port = self.server_ports[n]
        with (data / "log").open("ab") as log:  # the child keeps its own descriptor
            self.processes[f"redis-{n}"] = subprocess.Popen(
                ["sh", str(SCRIPTS / "start-redis.sh")],
                env=self._env(data, REDIS_PORT=str(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(f"redis-{n} answers", lambda: self.client(port, "sentinel").ping() is True)

    def start_sentinel(self, n: int) -> None:
        data = self.folder / f"sentinel-{n}"
        data.mkdir(parents=True, exist_ok=True)
        with (data / "log").open("ab") as log:
            self.processes[f"sentinel-{n}"] = subprocess.Popen(
                ["sh", str(SCRIPTS / "start-sentinel.sh")],
                env=self._env(data, SENTINEL_PORT=str(self.sentinel_ports[n])),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def client(self, port: int, user: str) -> redis.Redis:
        return redis.Redis(
            port=port, username=user, password=self.passwords[user], socket_timeout=2
        )

    def primary(self) -> dict[str, str]:
        view: Any = self.client(self.sentinel_ports[0], "sentinel").sentinel_master("gateway")
        return {key: str(value) for key, value in view.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    started = Topology(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def test_the_deploy_scripts_replicate_fail_over_and_rejoin(topology: Topology) -> None:
    for n in range(3):
        topology.start_server(n)
    for n in range(3):
        topology.start_sentinel(n)
    first = topology.server_ports[0]
    _wait(
        "the sentinels watch the primary, two replicas and each other",
        lambda: (
            topology.primary()["port"] == str(first)
            and topology.primary()["num-slaves"] == "2"
            and topology.primary()["num-other-sentinels"] == "2"
        ),
    )
    # The ACL files hold hashes, never a password.
    for n in range(3):
        acl = (topology.folder / f"redis-{n}" / "users.acl").read_text()
        assert not any(password in acl for password in topology.passwords.values())
    # The users are the dev stack's: the scanners may not read the audit stream; nobody is default.
    with pytest.raises(redis.exceptions.NoPermissionError):
        topology.client(first, "scanners").xrange("audit:events")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=first, socket_timeout=2).get("x")

    url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in topology.sentinel_ports)
    address = RedisAddress.parse(f"{url}/gateway")
    writer = address.client(username="audit", password=topology.passwords["audit"])
    try:
        writer.xadd("audit:events", {"n": "1"})
        assert int(writer.wait(1, 2000)) >= 1  # a replica holds it

        topology.processes["redis-0"].send_signal(signal.SIGKILL)
        topology.processes["redis-0"].wait(timeout=10)
        _wait("a replica is promoted", lambda: topology.primary()["port"] != str(first))
        _wait(
            "the gateway writes to the new primary",
            lambda: bool(writer.xadd("audit:events", {"n": "2"})),
        )
        assert writer.xlen("audit:events") == 2  # the first event survived the primary

        topology.start_server(0)  # the same script, the same folder: it asks the sentinels
        # It starts as a replica of the new primary (Sentinel would convert a returning primary
        # too, seconds later: that is not what is tested here).
        conf = (topology.folder / "redis-0" / "redis.conf").read_text()
        assert f"replicaof 127.0.0.1 {topology.primary()['port']}" in conf
        role: Any = topology.client(first, "sentinel").role()
        assert role[0] == b"slave"
        _wait("the old primary is a replica again", lambda: topology.primary()["num-slaves"] == "2")
    finally:
        writer.close()
