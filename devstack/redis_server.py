"""Redis from Debian's ``redis-server``, on loopback, password-protected, append-only with fsync.

``appendfsync always`` makes an acknowledged XADD durable: the audit trail relies on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis
from redis.exceptions import RedisError

from devstack.errors import InstallFailed
from devstack.process import ManagedProcess


def start(stack_dir: Path, *, port: int, password: str, timeout: float = 30.0) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise InstallFailed("redis-server is not installed; the setup script installs it")
    data = stack_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                "protected-mode yes",
                f"dir {data}",
                "appendonly yes",
                "appendfsync always",
                'save ""',
                f"requirepass {password}",
                "daemonize no",
                "",
            ]
        )
    )
    conf.chmod(0o600)

    def ready() -> bool:
        try:
            return bool(redis.Redis(port=port, password=password, socket_timeout=1).ping())
        except (RedisError, OSError):
            return False

    ManagedProcess("redis", stack_dir).start([binary, str(conf)], ready=ready, timeout=timeout)
    return f"redis://127.0.0.1:{port}/0"
