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
    """Appends events to the ``audit:events`` Redis stream."""

    def __init__(self, client: redis_async.Redis, *, stream: str = STREAM) -> None:
        self._redis = client
        self._stream = stream

    async def record(self, event: AuditEvent) -> None:
        try:
            await self._redis.xadd(self._stream, {FIELD: event.canonical_json()})
        except (RedisError, OSError) as exc:
            _log.error("audit.record_failed", tag=event.tag.value, error=type(exc).__name__)
            raise AuditUnavailable("redis stream unreachable") from exc
