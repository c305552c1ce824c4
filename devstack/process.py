"""Start, watch and stop the stack's server processes.

Each process writes its output to ``<stack>/logs/<name>.log`` and its pid to ``<stack>/run/<name>.pid``,
so that ``gateway stop`` (another terminal, another process) finds and stops what ``gateway run``
started. Readiness is an HTTP probe (or a callable); a process that exits or does not get ready in time
is reported with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.errors import ServiceDidNotStart
from devstack.layout import PROJECT_ROOT


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def http_ready(
    url: str, *, accept: Callable[[httpx.Response], bool] | None = None
) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            response = httpx.get(url, timeout=2.0)
        except httpx.HTTPError:
            return False
        return accept(response) if accept else response.status_code == 200

    return probe


# Children this process started, kept so that they are reaped (not left as zombies or warned about).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Launch:
    """How a process was started, so that a supervisor can start it again the same way."""

    argv: tuple[str, ...]
    env: Mapping[str, str] | None
    cwd: Path | None


# What this process launched, by pid file (the supervisor of ``gateway run`` restarts from it).
_LAUNCHES: dict[Path, Launch] = {}


class ManagedProcess:
    def __init__(self, name: str, stack_dir: Path) -> None:
        self.name = name
        self.log_path = stack_dir / "logs" / f"{name}.log"
        self.pid_path = stack_dir / "run" / f"{name}.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # A child of ours that exited is a zombie until reaped: it counts as gone.
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    @property
    def launched(self) -> Launch | None:
        """How this process started it, or None when another process did."""
        return _LAUNCHES.get(self.pid_path)

    def exit_code(self) -> int | None:
        """The exit status of the last run this process started and reaped (negative: a signal)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        child = _CHILDREN.get(pid)
        return child.poll() if child is not None else None

    def relaunch(self) -> None:
        """Start it again as it was started (it must have exited)."""
        launch = self.launched
        if launch is None:
            raise RuntimeError(f"{self.name} was not started by this process")
        old = self.pid_path.read_text().strip() if self.pid_path.exists() else ""
        if old.isdigit():
            child = _CHILDREN.pop(int(old), None)
            if child is not None:
                child.poll()
        self.launch(launch.argv, env=launch.env, cwd=launch.cwd)

    def launch(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Start ``argv`` in its own process group unless it is already running."""
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        _CHILDREN[process.pid] = process
        _LAUNCHES[self.pid_path] = Launch(tuple(argv), env, cwd)
        self.pid_path.write_text(str(process.pid))

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float = 120.0) -> None:
        """Wait until ``ready()``; raise with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not self.running():
                raise ServiceDidNotStart(
                    f"{self.name} exited during start-up; log {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.25)
        raise ServiceDidNotStart(
            f"{self.name} not ready after {timeout:.0f}s; log {self.log_path}:\n"
            f"{log_tail(self.log_path)}"
        )

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: Callable[[], bool],
        timeout: float = 120.0,
    ) -> None:
        self.launch(argv, env=env, cwd=cwd)
        self.wait_ready(ready, timeout=timeout)

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the process group (TERM, then KILL after ``timeout``). True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait(timeout=5)
        self.pid_path.unlink(missing_ok=True)
        return True


def start_service(
    folder: Path, name: str, factory: str, port: int, env: dict[str, str], *, workers: int = 1
) -> None:
    """Start one of the gateway's ASGI services (``module:factory``) under uvicorn on loopback,
    as the stack in ``folder`` runs them, and wait until its ``/health`` answers."""
    process = ManagedProcess(name, folder)
    process.start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # uvloop and httptools; Nagle off on every connection (see gateway_runtime.serving).
            "--loop",
            "uvloop",
            "--http",
            "gateway_runtime.serving:NoDelayHttpToolsProtocol",
            "--no-access-log",
            # A client's address is its connection's (see gateway_runtime.http.trusted_proxies).
            "--no-proxy-headers",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        ready=http_ready(f"http://127.0.0.1:{port}/health"),
        timeout=60,
    )
