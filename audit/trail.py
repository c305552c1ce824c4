"""How services hand events to the audit layer.

Contract (:class:`AuditTrail`): ``record`` returns only once the event is durably queued for the store;
otherwise it raises :class:`~audit.errors.AuditUnavailable` and the caller must not complete the audited
operation (fail closed, as Vault does when no audit device can write).

The Redis Streams implementation appends to the producer's own stream; the audit service moves
entries to the store through a consumer group and acknowledges them only after they are committed.
Redis is configured with an append-only file (``appendfsync always`` in the gateway's own Redis) so
that an acknowledged XADD survives a crash. Behind Sentinel (``redis+sentinel://``), a write counts only once a replica holds it
too (``WAIT``, :mod:`gateway_runtime.redis_connection`): a primary that fails over loses nothing that
was reported recorded. Each entry carries the event, the producer's name and the producer's seal
(``audit/producers.py``): the audit service stores only what a producer sealed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis_async
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.exceptions import RedisError

from audit.errors import AuditUnavailable
from audit.events import AuditEvent
from audit.producers import EventSealer, HmacSealer, Producer, decode_key
from gateway_runtime.redis_connection import RedisAddress

_log = structlog.get_logger(__name__)

#: The streams' common prefix: each producer appends to its own stream (:func:`stream_of`), the
#: only key its Redis user may write, so that one producer's credentials can neither add to
#: another's stream nor trim it (``XADD … MAXLEN 0`` is XADD too: an ACL cannot refuse it). Until
#: 2026-12-04 every producer appended to this one key, which the audit service still drains.
STREAM = "audit:events"
#: The fields of an entry: the event's JSON, the producer's name, and its seal (hex).
FIELD = "event"
PRODUCER_FIELD = "producer"
MAC_FIELD = "mac"


#: How long one write (a group commit's XADDs, and ``WAIT`` behind Sentinel) may take before its
#: events are reported not recorded: redis-py's own default for reading a reply.
WRITE_TIMEOUT_SECONDS = 5.0


def trail_client(
    address: RedisAddress, *, username: str | None, password: str | None
) -> redis_async.Redis:
    """The trail's own connections to Redis: replies read without a deadline each, the trail's
    deadline (:data:`WRITE_TIMEOUT_SECONDS`) covering the whole write instead.

    redis-py puts a timeout around every reply it reads, in a pipeline too: for a group commit of
    64 events that is 64 timers set and cancelled, ~13 % of a producer's CPU per event (measured in
    ``docs/benchmarks.md``). A stalled Redis still fails the write, at the write's deadline instead
    of a reply's. Only for the trail: other users of Redis keep a timeout on every reply.
    """
    return address.async_client(username=username, password=password, socket_timeout=None)


def stream_of(producer: str, prefix: str = STREAM) -> str:
    """The stream ``producer`` appends to (``audit:events:signing``)."""
    return f"{prefix}:{producer}"


class AuditTrail(Protocol):
    async def record(self, event: AuditEvent) -> None:
        """Queue ``event`` durably, or raise :class:`AuditUnavailable`."""
        ...


@dataclass(frozen=True)
class SealedEvent:
    """An event as it goes on the stream: its JSON, and who sealed it with what."""

    tag: str
    payload: bytes
    producer: str
    mac: bytes

    def fields(self) -> Mapping[str, bytes | str]:
        return {FIELD: self.payload, PRODUCER_FIELD: self.producer, MAC_FIELD: self.mac.hex()}


class RedisAuditTrail:
    """Appends sealed events to the producer's own Redis stream (``audit:events:<producer>``).

    Group commit: the events that concurrent callers record while a write is being prepared go to
    Redis in one pipeline (and are sealed in one call), so one ``appendfsync always`` flush covers
    them all. Each ``record`` still returns only once Redis has answered for its own event (after
    the fsync), and raises if that event was not written: the contract is unchanged, the round
    trips and fsyncs are shared.
    """

    def __init__(
        self,
        client: redis_async.Redis,
        sealer: EventSealer,
        *,
        stream: str = STREAM,
        max_batch: int = 512,
        replicas: int = 0,
        replica_timeout_ms: int = 2000,
        write_timeout: float = WRITE_TIMEOUT_SECONDS,
    ) -> None:
        if write_timeout * 1000 <= replica_timeout_ms:
            raise ValueError("a write must be given longer than the replicas' acknowledgement")
        self._redis = client
        self._write_timeout = write_timeout
        self._replicas = replicas
        self._replica_timeout_ms = replica_timeout_ms
        self._sealer = sealer
        self._stream = stream_of(sealer.producer, stream)
        self._max_batch = max_batch
        self._pending: list[tuple[str, bytes, bytes | None, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def producer(self) -> str:
        return self._sealer.producer

    async def record(self, event: AuditEvent) -> None:
        await self._enqueue(event.tag.value, event.canonical_json().encode(), None)

    async def seal(self, event: AuditEvent) -> SealedEvent:
        """The event sealed, without sending it (the spool keeps it so until Redis is back)."""
        payload = event.canonical_json().encode()
        [mac] = await self._sealer.seal([payload])  # raises AuditUnavailable
        return SealedEvent(event.tag.value, payload, self._sealer.producer, mac)

    async def send(self, sealed: SealedEvent) -> None:
        """Append an event sealed earlier (by this producer: a spooled one), in the group commit."""
        await self._enqueue(sealed.tag, sealed.payload, sealed.mac)

    async def _enqueue(self, tag: str, payload: bytes, mac: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((tag, payload, mac, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let the callers running now join this write
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            results: list[object]
            try:
                unsealed = [payload for _, payload, mac, _ in batch if mac is None]
                fresh = iter(await self._sealer.seal(unsealed) if unsealed else [])
                macs = [mac if mac is not None else next(fresh) for _, _, mac, _ in batch]
                # One deadline for the whole write (a client from trail_client() has none per
                # reply); past it, TimeoutError (an OSError): nothing is reported recorded.
                async with (
                    asyncio.timeout(self._write_timeout),
                    self._redis.pipeline(transaction=False) as pipe,
                ):
                    for (_, payload, _, _), mac in zip(batch, macs, strict=True):
                        pipe.xadd(
                            self._stream,
                            {FIELD: payload, PRODUCER_FIELD: self.producer, MAC_FIELD: mac.hex()},
                        )
                    if self._replicas:
                        pipe.wait(self._replicas, self._replica_timeout_ms)
                    results = await pipe.execute(raise_on_error=False)
                if self._replicas:
                    results = _replicated(results, self._replicas)
            except (RedisError, OSError, AuditUnavailable) as exc:
                # Redis unreachable or too slow, or the producer's key store could not seal:
                # nothing is reported written.
                results = [exc] * len(batch)
            for (tag, _, _, done), result in zip(batch, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, BaseException):
                    _log.error("audit.record_failed", tag=tag, error=type(result).__name__)
                    reason = (
                        str(result)
                        if isinstance(result, AuditUnavailable)
                        else "redis stream unreachable"
                    )
                    done.set_exception(AuditUnavailable(reason))
                else:
                    done.set_result(None)


def _replicated(results: list[object], replicas: int) -> list[object]:
    """The XADD answers of a pipeline that ended with ``WAIT``: each an error unless at least
    ``replicas`` replicas hold them (a write only the primary holds is lost if it fails over)."""
    *written, acknowledged = results
    if isinstance(acknowledged, int) and acknowledged >= replicas:
        return written
    return [AuditUnavailable(f"not replicated to {replicas} replica(s)")] * len(written)


class TrailSettings(BaseSettings):
    """How a command-line producer (account issuing, the scanners) reaches the audit trail, from
    its environment under its own prefix (``IDP_AUDIT_``, ``SCAN_``): the Redis address, its Redis
    user and password, and its producer key (base64)."""

    model_config = SettingsConfigDict(extra="ignore")

    redis_url: str
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    mac_key: SecretStr

    def client(self) -> redis_async.Redis:
        return RedisAddress.parse(self.redis_url).async_client(
            username=self.redis_username,
            password=self.redis_password.get_secret_value() if self.redis_password else None,
        )

    def trail(self, client: redis_async.Redis, producer: Producer) -> RedisAuditTrail:
        return RedisAuditTrail(
            client,
            HmacSealer(producer, decode_key(self.mac_key.get_secret_value())),
            replicas=RedisAddress.parse(self.redis_url).replicas,
        )
