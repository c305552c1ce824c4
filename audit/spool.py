"""A local spool for audit events when Redis cannot take them, replayed once it can.

Contract: ``record`` returns only once the event is durably written *somewhere* (the Redis stream, or a
line of this process's spool file, fsynced). If neither can take it, it raises
:class:`~audit.errors.AuditUnavailable` and the audited operation must not complete (fail closed).

Spooled events are sealed by their producer before they are written (a line holds the event, the
producer and its seal), so that whoever can write to the spool folder still cannot add an event the
audit service would take as genuine.

Replay moves spooled events into the stream, oldest file first. It never reads a file a writer may
still append to: under the file's lock it first renames the file (``spool-<pid>.jsonl`` becomes
``replaying-<pid>-<n>.jsonl``), and a writer, once it holds the lock, checks that the file it opened is
still the one at its name, and opens a fresh one if not. So an event reported as spooled is always in
a file that some replay will read: none is appended to a file already replayed and deleted. A replayed
file is deleted only when every line of it was accepted; a crash mid-replay leaves the renamed file,
replayed again next time; the store keeps each event id once, so nothing is lost and nothing doubled.

Threads: writers wait for a file's lock in threads of their own, and a replay holding a lock renames and
deletes in a thread of its own, which no writer can take. Writers once did their appends in asyncio's shared pool while a replay, holding
the lock they waited for, asked that same pool to rename the file: with every thread of the pool taken
by a waiting writer, the rename never ran and the process stopped for good (seen in CI: ten spooling
writers through a Redis failover; in the signing service, every ``to_thread`` of the process with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import structlog

from audit.errors import AuditUnavailable
from audit.events import AuditEvent
from audit.trail import RedisAuditTrail, SealedEvent

_log = structlog.get_logger(__name__)

_counter = itertools.count()


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether ``handle`` is still the file named ``path`` (not renamed away, nor deleted)."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SpoolingAuditTrail:
    def __init__(
        self, primary: RedisAuditTrail, folder: Path, *, replay_seconds: float = 5.0
    ) -> None:
        self._primary = primary
        self._folder = folder
        self._replay_seconds = replay_seconds
        self._task: asyncio.Task[None] | None = None
        #: The appends' own threads: one waiting for a lock never takes a thread anyone else needs.
        self._writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="audit-spool")
        #: The replay's own thread: what it does under a lock never waits behind a writer.
        self._replayer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-replay")

    @property
    def _own_file(self) -> Path:
        return self._folder / f"spool-{os.getpid()}.jsonl"

    async def record(self, event: AuditEvent) -> None:
        try:
            await self._primary.record(event)
            return
        except AuditUnavailable:
            pass
        sealed = await self._primary.seal(event)  # raises AuditUnavailable: no key, no record
        line = json.dumps(
            {
                "event": sealed.payload.decode("utf-8"),
                "producer": sealed.producer,
                "mac": sealed.mac.hex(),
            },
            ensure_ascii=False,
        )
        try:
            await asyncio.get_running_loop().run_in_executor(self._writers, self._append, line)
        except OSError as exc:
            _log.error("audit.spool_failed", tag=event.tag.value, error=type(exc).__name__)
            raise AuditUnavailable("redis stream and local spool both unavailable") from exc
        _log.warning("audit.spooled", tag=event.tag.value, event_id=event.event_id)

    def _append(self, line: str) -> None:
        """Append one line durably to this process's spool file, under its lock, to the file that
        is at its name at the moment of writing (a replay may have renamed the one opened)."""
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._own_file
        while True:
            created = not path.exists()
            with path.open("a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if not _same_file(handle, path):
                    continue  # replayed meanwhile: write to a fresh file instead
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                _fsync_folder(self._folder)  # the new file's name is durable too
            return

    async def _in_replay_thread(self, operation: Callable[..., object], *args: object) -> None:
        """Run a file operation of the replay, which holds a lock writers may be waiting for, in the
        replay's own thread (asyncio's shared pool may be full of them)."""
        await asyncio.get_running_loop().run_in_executor(self._replayer, operation, *args)

    async def replay_once(self) -> int:
        """Move every spooled event into the stream; return how many were moved."""
        if not self._folder.is_dir():
            return 0
        moved = 0
        files = [*self._folder.glob("replaying-*.jsonl"), *self._folder.glob("spool-*.jsonl")]
        for path in sorted(files, key=_mtime):
            moved += await self._replay_file(path)
        return moved

    async def _replay_file(self, path: Path) -> int:
        try:
            handle = path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return 0  # replayed by another process since the folder was listed
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # another process is replaying it, or writing to it right now
            if not _same_file(handle, path):
                return 0  # renamed or deleted by another replay before the lock was ours
            if path.name.startswith("spool-"):
                # From now on no writer appends to this file: each finds another at its name.
                taken = path.with_name(f"replaying-{os.getpid()}-{next(_counter)}.jsonl")
                await self._in_replay_thread(path.rename, taken)
                path = taken
            lines = [line for line in handle.read().splitlines() if line.strip()]
            entries = [entry for line in lines if (entry := self._entry(line, path)) is not None]
            # All at once: the trail's group commit sends them in a few pipelines, one fsync each.
            results = await asyncio.gather(*entries, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result  # AuditUnavailable: the file stays, replayed next time
            await self._in_replay_thread(path.unlink)
        if lines:
            _log.info("audit.spool_replayed", file=path.name, events=len(lines))
        return len(lines)

    def _entry(self, line: str, path: Path) -> asyncio.Future[None] | None:
        """Sending one spooled line: sealed as spooled, or (a file written before seals were
        spooled) sealed now."""
        try:
            data = json.loads(line)
            if isinstance(data, dict) and {"event", "producer", "mac"} <= data.keys():
                sealed = SealedEvent(
                    "spooled",
                    str(data["event"]).encode("utf-8"),
                    str(data["producer"]),
                    bytes.fromhex(str(data["mac"])),
                )
                return asyncio.ensure_future(self._primary.send(sealed))
            event = AuditEvent.model_validate_json(line)
        except ValueError:
            _log.error("audit.spool_line_unreadable", file=path.name)
            return None
        return asyncio.ensure_future(self._primary.record(event))

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


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
