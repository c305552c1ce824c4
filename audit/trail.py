"""How services hand events to the audit layer.

Contract (:class:`AuditTrail`): ``record`` returns only once the event is durably queued for the store;
otherwise it raises :class:`~audit.errors.AuditUnavailable` and the caller must not complete the audited
operation (fail closed, as Vault does when no audit device can write).

The Redis Streams implementation appends to one stream; the audit service moves entries to the store
through a consumer group and acknowledges them only after they are committed. Redis is configured with
an append-only file (``appendfsync always`` in the gateway's own Redis) so that an acknowledged XADD
survives a crash.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import redis.asyncio as redis_async
import structlog
from redis.exceptions import RedisError

from audit.errors import AuditUnavailable
from audit.events import AuditEvent

_log = structlog.get_logger(__name__)

#: The stream every producer appends to, and the field holding the event's JSON.
STREAM = "audit:events"
FIELD = "event"


class AuditTrail(Protocol):
    async def record(self, event: AuditEvent) -> None:
        """Queue ``event`` durably, or raise :class:`AuditUnavailable`."""
        ...


class RedisAuditTrail:
    """Appends events to the ``audit:events`` Redis stream.

    Group commit: the events that concurrent callers record while a write is being prepared go to
    Redis in one pipeline, so one ``appendfsync always`` flush covers them all. Each ``record``
    still returns only once Redis has answered for its own event (after the fsync), and raises if
    that event was not written: the contract is unchanged, the round trips and fsyncs are shared.
    """

    def __init__(
        self, client: redis_async.Redis, *, stream: str = STREAM, max_batch: int = 512
    ) -> None:
        self._redis = client
        self._stream = stream
        self._max_batch = max_batch
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, event: AuditEvent) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event.tag.value, event.canonical_json().encode(), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let the callers running now join this write
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for _, payload, _ in batch:
                        pipe.xadd(self._stream, {FIELD: payload})
                    results = await pipe.execute(raise_on_error=False)
            except (RedisError, OSError) as exc:
                results = [exc] * len(batch)
            for (tag, _, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    _log.error("audit.record_failed", tag=tag, error=type(result).__name__)
                    done.set_exception(AuditUnavailable("redis stream unreachable"))
                else:
                    done.set_result(None)
