"""The supervisor of ``gateway run`` on real child processes: a component that exits is started again,
with growing waits while it keeps dying, and the waits go back to 1 s once it has stayed up."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from devstack.process import ManagedProcess
from devstack.supervisor import FIRST_BACKOFF, HEALTHY_AFTER, Restarts, Supervisor, restarts_path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _sleeper(folder: Path, name: str) -> ManagedProcess:
    process = ManagedProcess(name, folder)
    process.launch([sys.executable, "-c", "import time; time.sleep(120)"])
    return process


def _kill(process: ManagedProcess) -> int:
    pid = process.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.running():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return pid


def test_an_exited_component_is_restarted_with_backoff_and_the_others_run_on(
    tmp_path: Path,
) -> None:
    clock, said = Clock(), list[str]()
    redis, keycloak = _sleeper(tmp_path, "redis"), _sleeper(tmp_path, "keycloak")
    other = keycloak.pid()
    supervisor = Supervisor([redis, keycloak], say=said.append, clock=clock)
    try:
        first = _kill(redis)
        assert supervisor.check() == []  # noticed: a restart is due in 1 s
        assert "redis" in said[-1] and "-9" in said[-1]
        clock.now += FIRST_BACKOFF
        assert supervisor.check() == ["redis"]
        assert redis.running() and redis.pid() != first
        assert keycloak.pid() == other  # the others were never touched
        restarts = Restarts.read(restarts_path(redis))
        assert (restarts.count, restarts.last_exit) == (1, -signal.SIGKILL)
        assert restarts.last is not None and restarts.last.endswith("+00:00")

        # It dies again at once: the wait doubles.
        _kill(redis)
        supervisor.check()
        clock.now += FIRST_BACKOFF
        assert supervisor.check() == []
        clock.now += FIRST_BACKOFF
        assert supervisor.check() == ["redis"]
        assert Restarts.read(restarts_path(redis)).count == 2

        # Up for a minute: healthy again, the next death waits 1 s.
        clock.now += HEALTHY_AFTER
        supervisor.check()
        _kill(redis)
        supervisor.check()
        clock.now += FIRST_BACKOFF
        assert supervisor.check() == ["redis"]
        assert Restarts.read(restarts_path(keycloak)).count == 0
    finally:
        redis.stop(timeout=5)
        keycloak.stop(timeout=5)


def test_what_another_run_started_is_named_not_restarted(tmp_path: Path) -> None:
    started_elsewhere = ManagedProcess("mail", tmp_path)
    (tmp_path / "run").mkdir(exist_ok=True)
    started_elsewhere.pid_path.write_text(str(os.getpid()))
    supervisor = Supervisor([started_elsewhere])
    assert supervisor.unsupervised == ["mail"]
    assert supervisor.check() == []
