"""Moves events from the Redis stream into the store, exactly once.

A consumer group reads the stream; each batch is committed to the store in one transaction and only then
acknowledged and removed from the stream. On start the consumer first re-reads what it had been given
but not acknowledged (a crash between commit and ack), and the store skips event ids it already has, so
a crash at any point leaves every event stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as redis_async
import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError, ResponseError

from audit.detection import Detector, Notifier
from audit.errors import AuditError
from audit.events import AuditEvent
from audit.store import EventStore
from audit.trail import FIELD, STREAM, AuditTrail

_log = structlog.get_logger(__name__)

GROUP = "audit-store"


class StreamIngestor:
    def __init__(
        self,
        client: redis_async.Redis,
        store: EventStore,
        *,
        consumer: str = "audit-1",
        stream: str = STREAM,
        # Up to 2,000 events per transaction: the store's indexes cost per page written, and a
        # bigger batch writes each page once for more events (500: 25k/s, 2,000: 39k/s into SQLite).
        # Under light load a read returns what is there at once: no added latency.
        batch: int = 2000,
        block_ms: int = 500,
        gather_seconds: float = 0.02,
        detector: Detector | None = None,
        alerts: AuditTrail | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._detector = detector
        self._alerts = alerts
        self._notifier = notifier
        self._redis = client
        self._store = store
        self._consumer = consumer
        self._stream = stream
        self._batch = batch
        self._block_ms = block_ms
        self._gather_seconds = gather_seconds
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self.healthy = False

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read(self, *, pending: bool) -> tuple[list[bytes], list[AuditEvent], list[str]]:
        """One batch from the stream (the unacknowledged backlog if ``pending``), validated."""
        response: Any = await self._redis.xreadgroup(
            GROUP,
            self._consumer,
            {self._stream: "0" if pending else ">"},
            count=self._batch,
            block=None if pending else self._block_ms,
        )
        ids: list[bytes] = []
        events: list[AuditEvent] = []
        bodies: list[str] = []
        entries = response[0][1] if response else []
        for entry_id, fields in entries:
            ids.append(entry_id)
            raw = fields.get(FIELD.encode()) if fields else None
            try:
                text = (raw or b"").decode("utf-8")
                event = AuditEvent.model_validate_json(text)
            except (UnicodeDecodeError, ValidationError):
                # Not ours to drop silently, not storable either: keep it visible in the log by id.
                _log.error("audit.malformed_stream_entry", entry_id=entry_id.decode())
                continue
            # Stored and chained as it arrived (a producer's canonical JSON), not re-serialised.
            events.append(event)
            bodies.append(text)
        return ids, events, bodies

    async def _commit(self, ids: list[bytes], events: list[AuditEvent], bodies: list[str]) -> None:
        """Commit a batch to the store, then acknowledge and remove it, then run detection."""
        added = await asyncio.to_thread(self._store.append, events, bodies)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(self._stream, GROUP, *ids)
            pipe.xdel(self._stream, *ids)
            await pipe.execute()
        if self._detector is not None and self._alerts is not None:
            for alert in self._detector.observe(events):
                await self._alerts.record(alert)
                _log.warning(
                    "audit.alert",
                    rule=alert.target.get("rule"),
                    severity=alert.target.get("severity"),
                )
                if self._notifier is not None:
                    await self._notifier.notify(alert)
        _log.debug("audit.ingested", received=len(ids), added=added)

    async def drain_once(self, *, pending: bool = False) -> int:
        """Read one batch (the unacknowledged backlog if ``pending``), store it, ack it."""
        ids, events, bodies = await self._read(pending=pending)
        if ids:
            await self._commit(ids, events, bodies)
        return len(ids)

    async def run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                await self.ensure_group()
                while not self._stop_requested.is_set() and await self.drain_once(pending=True):
                    pass
                self.healthy = True
                # One batch at a time: while a batch commits, the stream fills, and the next read
                # takes a bigger batch (reading the next batch during the commit was tried: smaller
                # batches, more commits, 10-15% fewer events/s end to end).
                while not self._stop_requested.is_set():
                    taken = await self.drain_once()
                    if 0 < taken < self._batch // 4:
                        # A small batch: let the stream fill a little (20 ms) so the next commit
                        # carries more events (fewer fsyncs and index writes per event).
                        await asyncio.sleep(self._gather_seconds)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, AuditError) as exc:
                # Redis or the store unreachable: nothing was acknowledged that is not stored; the
                # unacknowledged batches are read again (the backlog) once both answer.
                self.healthy = False
                _log.warning("audit.ingest_retry", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="audit-ingest")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Finish the batch under way (stored and acknowledged), then stop reading.

        The loop sees the flag between batches (a read blocks at most ``block_ms``). Cancelling
        a read inside redis-py instead was seen to leave the task waiting forever on a future
        (and a commit cut short leaves its thread writing to a store about to close); after
        ``grace_seconds`` the task is cancelled all the same, and abandoned if it still does not end.
        """
        if self._task is None:
            return
        self._stop_requested.set()
        done, _ = await asyncio.wait({self._task}, timeout=grace_seconds)
        if not done:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=1.0)
            if not done:
                _log.error("audit.ingest_stop_abandoned")
                return
        with contextlib.suppress(asyncio.CancelledError):
            self._task.result()
