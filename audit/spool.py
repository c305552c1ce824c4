"""A local spool for audit events when Redis cannot take them, replayed once it can.

Contract: ``record`` returns only once the event is durably written *somewhere* (the Redis stream, or a
line of this process's spool file, fsynced). If neither can take it, it raises
:class:`~audit.errors.AuditUnavailable` and the audited operation must not complete (fail closed).

Replay moves spooled events into the stream, oldest file first, and deletes a file only when every
line of it was accepted. A crash mid-replay replays the file again; the store keeps each event id once,
so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path

import structlog

from audit.errors import AuditUnavailable
from audit.events import AuditEvent
from audit.trail import AuditTrail

_log = structlog.get_logger(__name__)


class SpoolingAuditTrail:
    def __init__(self, primary: AuditTrail, folder: Path, *, replay_seconds: float = 5.0) -> None:
        self._primary = primary
        self._folder = folder
        self._replay_seconds = replay_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def _own_file(self) -> Path:
        return self._folder / f"spool-{os.getpid()}.jsonl"

    async def record(self, event: AuditEvent) -> None:
        try:
            await self._primary.record(event)
            return
        except AuditUnavailable:
            pass
        try:
            await asyncio.to_thread(self._append, event.canonical_json())
        except OSError as exc:
            _log.error("audit.spool_failed", tag=event.tag.value, error=type(exc).__name__)
            raise AuditUnavailable("redis stream and local spool both unavailable") from exc
        _log.warning("audit.spooled", tag=event.tag.value, event_id=event.event_id)

    def _append(self, line: str) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        with self._own_file.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    async def replay_once(self) -> int:
        """Move every spooled event into the stream; return how many were moved."""
        if not self._folder.is_dir():
            return 0
        moved = 0
        for path in sorted(self._folder.glob("spool-*.jsonl"), key=lambda p: p.stat().st_mtime):
            moved += await self._replay_file(path)
        return moved

    async def _replay_file(self, path: Path) -> int:
        with path.open("r+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is replaying it, or writing to it right now
            lines = [line for line in handle.read().splitlines() if line.strip()]
            for line in lines:
                try:
                    event = AuditEvent.model_validate_json(line)
                except ValueError:
                    _log.error("audit.spool_line_unreadable", file=path.name)
                    continue
                await self._primary.record(event)  # raises AuditUnavailable: retried next round
            await asyncio.to_thread(path.unlink)
        if lines:
            _log.info("audit.spool_replayed", file=path.name, events=len(lines))
        return len(lines)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._replay_seconds)
            with contextlib.suppress(AuditUnavailable, OSError):
                await self.replay_once()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-spool-replay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
