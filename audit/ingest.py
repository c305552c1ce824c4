"""Moves events from the Redis stream into the store, exactly once, and only events their producer
sealed.

A consumer group reads the stream; each batch is committed to the store in one transaction and only then
acknowledged and removed from the stream. On start the consumer first re-reads what it had been given
but not acknowledged (a crash between commit and ack), and the store skips event ids it already has, so
a crash at any point leaves every event stored exactly once (a replayed entry, seal and all, too).

Each entry must carry a producer's seal that the keyring accepts, and a tag that producer records
(``audit/producers.py``); an entry that does not — forged with the Redis password alone, altered, or
not an event at all — is quarantined (kept apart in the store, never chained) and raises an alert.
An event whose own time is far from the time it is received (in the future, or very late) is stored
with that receipt time as a flag, and kept out of the detection windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as redis_async
import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError, ResponseError

from audit.detection import Detector, Notifier, TimeSkew, time_flags
from audit.errors import AuditError
from audit.events import AuditEvent
from audit.producers import Producer, ProducerKeyring
from audit.store import EventStore, QuarantinedEntry
from audit.trail import FIELD, MAC_FIELD, PRODUCER_FIELD, STREAM, AuditTrail, stream_of

_log = structlog.get_logger(__name__)

GROUP = "audit-store"
_EVENT_KEY, _PRODUCER_KEY, _MAC_KEY = FIELD.encode(), PRODUCER_FIELD.encode(), MAC_FIELD.encode()
#: How often the stream's own state is checked for entries removed before they were read.
STREAM_CHECK_SECONDS = 2.0
#: A stream id whose time is further ahead than this was set by hand (``XADD <id>``), not by Redis.
_FUTURE_ID_MS = 24 * 3600 * 1000


def _stream_id(raw: object) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else str(raw or "0-0")
    ms, _, seq = text.partition("-")
    return int(ms or 0), int(seq or 0)


#: What a quarantined entry keeps of the payload it carried (evidence, bounded).
_QUARANTINE_PAYLOAD = 16_384
#: The largest event stored (a sealed event of any producer is a few hundred bytes): a larger one is
#: quarantined, never stored, so that no single entry can fail a batch's insert (PostgreSQL's words
#: index refuses a text whose words pass 1 MB) and stop the ingest.
MAX_EVENT_BYTES = 65_536


@dataclass
class _Batch:
    #: The entries read, by stream.
    ids: dict[str, list[bytes]] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedEntry] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(ids) for ids in self.ids.values())


class StreamIngestor:
    def __init__(
        self,
        client: redis_async.Redis,
        store: EventStore,
        keyring: ProducerKeyring,
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
        self._keyring = keyring
        self._detector = detector
        self._skew = detector.config.event_time_skew if detector is not None else TimeSkew()
        self._alerts = alerts
        self._notifier = notifier
        self._redis = client
        self._store = store
        self._consumer = consumer
        #: The stream of before (every producer appended to it until 2026-12-04: drained, no
        #: producer may write it now) and each producer's own (:func:`~audit.trail.stream_of`).
        self._streams = [stream, *(stream_of(producer, stream) for producer in Producer)]
        #: How a quarantined entry of each stream is named: ids are unique within a stream only.
        self._labels = {name: name.removeprefix(f"{stream}:") for name in self._streams[1:]}
        self._batch = batch
        self._block_ms = block_ms
        self._gather_seconds = gather_seconds
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        #: The commits' own thread: a commit never waits for a free thread behind officers'
        #: searches or a checkpoint (asyncio's default pool, six threads on two cores).
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-ingest")
        self._next_stream_check = 0.0
        self.healthy = False

    async def ensure_group(self) -> None:
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _read(self, *, pending: bool) -> _Batch:
        """One batch from the streams (the unacknowledged backlog if ``pending``): the authentic
        events, and the entries to quarantine."""
        response: Any = await self._redis.xreadgroup(
            GROUP,
            self._consumer,
            dict.fromkeys(self._streams, "0" if pending else ">"),
            count=self._batch,
            block=None if pending else self._block_ms,
        )
        batch = _Batch()
        received = datetime.now(UTC).isoformat()
        for raw_stream, entries in response or []:
            stream = _text(raw_stream)
            batch.ids[stream] = [entry_id for entry_id, _ in entries]
            self._take(batch, stream, entries, received)
        return batch

    def _take(
        self, batch: _Batch, stream: str, entries: list[tuple[bytes, Any]], received: str
    ) -> None:
        label = self._labels.get(stream)
        for entry_id, fields in entries:
            fields = fields or {}
            raw = fields.get(_EVENT_KEY, b"")
            producer_raw = fields.get(_PRODUCER_KEY)
            producer = producer_raw.decode("utf-8", "replace")[:64] if producer_raw else None
            reason = (
                "too-large"
                if len(raw) > MAX_EVENT_BYTES
                else self._authenticate(raw, producer, fields.get(_MAC_KEY))
            )
            if reason is None and label is not None and producer != label:
                reason = "wrong-stream"  # sealed by one producer, in another's stream
            event: AuditEvent | None = None
            if reason is None:
                try:
                    text = raw.decode("utf-8")
                    event = AuditEvent.model_validate_json(text)
                except (UnicodeDecodeError, ValidationError):
                    reason = "not-an-event"
                else:
                    if not self._keyring.may_record(producer or "", event.tag):
                        reason = "tag-not-allowed"
            if reason is not None or event is None:
                named = entry_id.decode() if label is None else f"{label}/{entry_id.decode()}"
                batch.quarantined.append(
                    QuarantinedEntry(
                        entry_id=named,
                        received_at=received,
                        producer=producer,
                        reason=reason or "not-an-event",
                        payload=raw[:_QUARANTINE_PAYLOAD].decode("utf-8", "replace"),
                    )
                )
                _log.error(
                    "audit.entry_quarantined",
                    entry_id=named,
                    producer=producer,
                    reason=reason,
                )
                continue
            # Stored and chained as it arrived (as sealed), not re-serialised.
            batch.events.append(event)
            batch.bodies.append(text)

    def _authenticate(self, payload: bytes, producer: str | None, mac: bytes | None) -> str | None:
        """Why the entry is not a sealed event of a known producer, or None if it is."""
        if producer is None or mac is None:
            return "unsealed"
        if producer not in self._keyring.producers:
            return "unknown-producer"
        try:
            seal = bytes.fromhex(mac.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return "bad-seal"
        if not self._keyring.authentic(producer, payload, seal):
            return "bad-seal"
        return None

    async def _commit(self, batch: _Batch) -> None:
        """Commit a batch to the store (events, their time flags, the quarantined entries), then
        acknowledge and remove it, then run detection."""
        flags = time_flags(batch.events, datetime.now(UTC), self._skew)
        added = await asyncio.get_running_loop().run_in_executor(
            self._committer,
            lambda: self._store.append(
                batch.events, batch.bodies, received_at=flags, quarantine=batch.quarantined
            ),
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream, ids in batch.ids.items():
                if ids:
                    pipe.xack(stream, GROUP, *ids)
                    pipe.xdel(stream, *ids)
            await pipe.execute()
        if self._detector is not None and self._alerts is not None:
            alerts = [
                *self._detector.quarantined(batch.quarantined),
                *self._detector.observe(batch.events, flagged=flags),
            ]
            await self._raise_alerts(alerts)
        _log.debug(
            "audit.ingested",
            received=batch.size,
            added=added,
            quarantined=len(batch.quarantined),
        )

    async def check_stream(self) -> list[AuditEvent]:
        """Alerts if a stream was tampered with through a producer's right to ``XADD``.

        A producer's Redis user may only append, and only to its own stream, but ``XADD`` itself
        takes ``MAXLEN``/``MINID`` (trim the stream, unread entries included) and an explicit id
        (one far in the future, up to the last possible id, after which nobody can append).
        Neither can be refused by an ACL; both are seen here, in each stream's own counters: Redis
        counts every entry appended and every entry delivered to the group, so entries that were
        counted as waiting but are no longer there were removed unread (the audit service deletes
        only entries it read and stored)."""
        if self._detector is None:
            return []
        # One snapshot (MULTI): entries appended between two reads would look missing.
        async with self._redis.pipeline(transaction=True) as pipe:
            for stream in self._streams:
                pipe.xinfo_groups(stream)
                pipe.xlen(stream)
                pipe.xpending(stream, GROUP)
                pipe.xinfo_stream(stream)
            answers = await pipe.execute()
        now = datetime.now(UTC)
        found: list[AuditEvent | None] = []
        for n, name in enumerate(self._streams):
            groups, length, pending, stream = answers[4 * n : 4 * n + 4]
            found += await self._tampering(
                self._detector, name, groups, length, pending, stream, now
            )
        return [alert for alert in found if alert is not None]

    async def _tampering(
        self,
        detector: Detector,
        name: str,
        groups: Any,
        length: Any,
        pending: Any,
        stream: Any,
        now: datetime,
    ) -> list[AuditEvent | None]:
        ours = next((g for g in groups if _text(g.get("name")) == GROUP), None)
        newest = _stream_id(stream.get("last-generated-id", "0-0"))
        whose = self._labels.get(name, "shared")
        found: list[AuditEvent | None] = []
        # Redis counts what waits for the group (``lag``: appended minus delivered); what is there
        # to wait is the stream's length less the entries delivered and not yet acknowledged. More
        # waiting than there is: entries were removed unread. Kept in Redis, said once per loss.
        lag = ours.get("lag") if ours else None
        if lag is not None:
            missing = int(lag) - (int(length) - int(pending.get("pending", 0)))
            known = int(await self._redis.get(f"{name}:missing") or 0)
            if missing > known:
                found.append(
                    detector.stream_tampered(
                        f"trimmed:{whose}:{missing}",
                        f"{missing - known} entries were removed from the audit stream {name} "
                        "before the audit service read them: events may be lost (XADD "
                        "MAXLEN/MINID or XTRIM by a holder of that producer's Redis credentials)",
                        now,
                    )
                )
                await self._redis.set(f"{name}:missing", missing)
        if newest[0] > now.timestamp() * 1000 + _FUTURE_ID_MS:
            found.append(
                detector.stream_tampered(
                    f"future-id:{whose}:{newest[0]}-{newest[1]}",
                    f"the audit stream {name}'s last id ({newest[0]}-{newest[1]}) was set far in "
                    "the future by hand (XADD with an explicit id): that producer may no longer "
                    "append",
                    now,
                )
            )
        return found

    async def _raise_alerts(self, alerts: list[AuditEvent]) -> None:
        if self._alerts is None:
            return
        for alert in alerts:
            await self._alerts.record(alert)
            _log.warning(
                "audit.alert",
                rule=alert.target.get("rule"),
                severity=alert.target.get("severity"),
            )
            if self._notifier is not None:
                await self._notifier.notify(alert)

    async def drain_once(self, *, pending: bool = False) -> int:
        """Read one batch (the unacknowledged backlog if ``pending``), store it, ack it."""
        batch = await self._read(pending=pending)
        if batch.size:
            await self._commit(batch)
        return batch.size

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
                    if time.monotonic() >= self._next_stream_check:
                        self._next_stream_check = time.monotonic() + STREAM_CHECK_SECONDS
                        await self._raise_alerts(await self.check_stream())
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


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
