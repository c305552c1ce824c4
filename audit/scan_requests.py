"""Scans asked for from the dashboard's compliance page, waiting for the scanner.

The dashboard (a department's security officer, second factor, CSRF) records the request as a
``audit:scan:request`` audit event first, then pushes it to a short Redis list; ``gateway-scan run
--every N`` waits on that list between its scheduled runs and starts a run as soon as a request
arrives. The audit service may only push to the list and read its length; the scanners only pop
from it (their Redis users, ``devstack/redis_server.py`` and ``compose.yaml``). The list holds at most
:data:`MAX_WAITING` requests: asking again while one waits changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis
import redis.asyncio as redis_async

__all__ = ["KEY", "MAX_WAITING", "ScanRequest", "next_request", "push_request"]

KEY = "scan:requests"
MAX_WAITING = 1


@dataclass(frozen=True)
class ScanRequest:
    request_id: str
    #: Who asked (the officer's account name) and when (ISO 8601, UTC).
    by: str
    at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ScanRequest | None:
        """A request read back from the list; ``None`` for anything that is not one."""
        try:
            data = json.loads(raw)
            return cls(str(data["request_id"])[:64], str(data["by"])[:256], str(data["at"])[:40])
        except (ValueError, TypeError, KeyError):
            return None


async def push_request(client: redis_async.Redis, request: ScanRequest) -> bool:
    """Queue ``request``; ``False`` when one already waits (nothing is added)."""
    if await client.llen(KEY) >= MAX_WAITING:
        return False
    await client.lpush(KEY, request.to_json())
    return True


def next_request(client: redis.Redis, timeout: float) -> ScanRequest | None:
    """The oldest waiting request, waiting up to ``timeout`` seconds for one (``None``: none came)."""
    answer = client.brpop([KEY], timeout=max(timeout, 0.01))
    if not answer:
        return None
    return ScanRequest.from_json(answer[1])
