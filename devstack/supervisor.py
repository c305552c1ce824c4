"""Keep the stack running: a component that exits is started again, with backoff, while the others run.

``gateway run`` (in the foreground) checks its components every second. One that has exited is started
again the way it was first started; if it keeps dying the waits grow (1, 2, 4 … 60 s) and go back to
1 s once it has stayed up a minute, as supervisord and systemd do. A Redis crash is then a few seconds
without Redis (the audit spool's case), not the end of Keycloak and every service. Each restart is
written to ``<stack>/run/<name>.restarts`` (count, last time, last exit status), which ``gateway status``
shows, and said on the console.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devstack.process import ManagedProcess

#: The first wait before a restart, the longest, and how long a run must last to count as healthy.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
HEALTHY_AFTER = 60.0


@dataclass(frozen=True)
class Restarts:
    """What ``<stack>/run/<name>.restarts`` says of one component."""

    count: int = 0
    last: str | None = None  # UTC, ISO 8601
    last_exit: int | None = None

    @classmethod
    def read(cls, path: Path) -> Restarts:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["count"]), data.get("last"), data.get("last_exit"))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return cls()


def restarts_path(process: ManagedProcess) -> Path:
    return process.pid_path.with_suffix(".restarts")


@dataclass
class _Watch:
    backoff: float = FIRST_BACKOFF
    due: float | None = None  # when the pending restart happens (monotonic)
    started: float = 0.0


class Supervisor:
    """Restarts the given components when they exit (only those this process started)."""

    def __init__(
        self,
        processes: list[ManagedProcess],
        *,
        say: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processes = [p for p in processes if p.launched is not None]
        #: Components another process started (nothing to restart them from).
        self.unsupervised = [p.name for p in processes if p.launched is None]
        self.say = say
        self.clock = clock
        now = clock()
        self._watch = {p.name: _Watch(started=now) for p in self.processes}
        for process in self.processes:  # counts are of this run
            restarts_path(process).unlink(missing_ok=True)

    def check(self) -> list[str]:
        """One round: restart what exited and is due; return the names restarted."""
        restarted = []
        now = self.clock()
        for process in self.processes:
            watch = self._watch[process.name]
            if process.running():
                if now - watch.started >= HEALTHY_AFTER:
                    watch.backoff = FIRST_BACKOFF
                continue
            if watch.due is None:
                watch.due = now + watch.backoff
                self.say(
                    f"{process.name} đã dừng / exited (status {process.exit_code()}); "
                    f"khởi động lại sau / restarting in {watch.backoff:g} s"
                )
                continue
            if now < watch.due:
                continue
            exit_code = process.exit_code()
            process.relaunch()
            watch.due, watch.started = None, now
            watch.backoff = min(watch.backoff * 2, MAX_BACKOFF)
            count = self._record(process, exit_code)
            restarted.append(process.name)
            self.say(f"{process.name} đã khởi động lại / restarted (lần / restart {count})")
        return restarted

    def _record(self, process: ManagedProcess, exit_code: int | None) -> int:
        path = restarts_path(process)
        count = Restarts.read(path).count + 1
        path.write_text(
            json.dumps(
                {
                    "count": count,
                    "last": datetime.now(UTC).isoformat(timespec="seconds"),
                    "last_exit": exit_code,
                }
            ),
            encoding="utf-8",
        )
        return count
