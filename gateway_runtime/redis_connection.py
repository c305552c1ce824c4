"""One way for every part of the gateway to reach Redis: one server, or a primary found through Sentinel.

``redis://host:port/db`` is one server (development, the single-machine stack).
``redis+sentinel://host:port,host:port,host:port/<service>[/db][?replicas=N]`` asks the sentinels which
server is the primary of ``<service>`` and follows it when they fail over (redis-py's
:class:`~redis.sentinel.SentinelConnectionPool`: a connection to a demoted primary is dropped and the
next one goes to the new primary). The sentinels are asked with the same Redis user and password as
the data servers (each service's user exists on the sentinels too, with only the discovery commands).

Replication in Redis is asynchronous: a primary that answered an ``XADD`` and died before a replica
had it loses the write at failover. :attr:`RedisAddress.replicas` is how many replicas must hold a
write before the audit trail counts it as recorded (``WAIT``); it is 1 by default behind Sentinel, 0
for one server (whose append-only file, fsynced, is what makes a write durable there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
import redis.asyncio as redis_async
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"


class RedisAddressError(ValueError):
    """A Redis URL the gateway cannot use (the message says why; it never holds a password)."""


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is: one server, or the sentinels of a replicated primary."""

    url: str | None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    replicas: int = 0

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        if parts.scheme in ("redis", "rediss", "unix"):
            return cls(url=url)
        if parts.scheme != SENTINEL_SCHEME:
            raise RedisAddressError(
                f"unknown Redis URL scheme {parts.scheme!r}: use redis:// or {SENTINEL_SCHEME}://"
            )
        if parts.username or parts.password:
            raise RedisAddressError(
                "put the Redis user and password in their own settings, not in the sentinel URL"
            )
        sentinels = tuple(_host_port(item) for item in parts.netloc.split(",") if item)
        path = [segment for segment in parts.path.split("/") if segment]
        if not sentinels or not path or len(path) > 2:
            raise RedisAddressError(
                f"a sentinel URL is {SENTINEL_SCHEME}://host:port[,host:port…]/<service>[/db]"
            )
        query = parse_qs(parts.query)
        try:
            db = int(path[1]) if len(path) == 2 else 0
            replicas = int(query.get("replicas", ["1"])[0])
        except ValueError as exc:
            raise RedisAddressError("the database and 'replicas' must be whole numbers") from exc
        if replicas < 0:
            raise RedisAddressError("'replicas' cannot be negative")
        return cls(url=None, sentinels=sentinels, service=path[0], db=db, replicas=replicas)

    def _sentinel_auth(self, username: str | None, password: str | None) -> dict[str, Any]:
        return {"username": username, "password": password, "socket_timeout": 2.0}

    def async_client(
        self, *, username: str | None, password: str | None, **options: Any
    ) -> redis_async.Redis:
        """A client of the primary (asyncio)."""
        if self.url is not None:
            return redis_async.Redis.from_url(
                self.url, username=username, password=password, **options
            )
        sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels), sentinel_kwargs=self._sentinel_auth(username, password)
        )
        primary: _AsyncPrimary = sentinel.master_for(
            self.service,
            redis_class=_AsyncPrimary,
            username=username,
            password=password,
            db=self.db,
            **options,
        )
        primary.sentinel_clients = list(sentinel.sentinels)
        return primary

    def client(self, *, username: str | None, password: str | None, **options: Any) -> redis.Redis:
        """A client of the primary (blocking)."""
        if self.url is not None:
            return redis.Redis.from_url(self.url, username=username, password=password, **options)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels), sentinel_kwargs=self._sentinel_auth(username, password)
        )
        primary: _Primary = sentinel.master_for(  # type: ignore[no-untyped-call]
            self.service,
            redis_class=_Primary,
            username=username,
            password=password,
            db=self.db,
            **options,
        )
        primary.sentinel_clients = list(sentinel.sentinels)
        return primary


class _AsyncPrimary(redis_async.Redis):
    """The primary's client; closing it closes the connections to the sentinels too."""

    sentinel_clients: list[redis_async.Redis]

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for client in getattr(self, "sentinel_clients", []):
            await client.aclose()


class _Primary(redis.Redis):
    """The primary's client; closing it closes the connections to the sentinels too."""

    sentinel_clients: list[redis.Redis]

    def close(self) -> None:
        super().close()
        for client in getattr(self, "sentinel_clients", []):
            client.close()


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise RedisAddressError(f"a sentinel is host:port, not {item!r}")
    return host.strip("[]"), int(port)
