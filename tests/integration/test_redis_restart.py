"""What Redis acknowledged survives a crash: Redis (Debian's) started as the stack starts it, written to
by each service's user, killed (SIGKILL), started again from its append-only file.

Attack class: data loss on restart. Redis replays its append-only file as its ``default`` user and
re-checks the ACL of every command inside MULTI/EXEC (redis/redis#14541, valkey#3983): with that user
stripped of every permission, the signing service's transactions (batches, approvals, records) and the
audit service's consumer-group state (XREADGROUP's effects are written as a transaction) were dropped
at the first restart, silently but for the log's "NOPERM" lines.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack import redis_server
from devstack.process import ManagedProcess
from tests.conftest import free_port

pytestmark = pytest.mark.redis

#: A refused login is an answer, not a network error to retry with backoff.
NO_RETRY = Retry(NoBackoff(), 0)
PASSWORDS = {user: f"pw-{user}-0123456789" for user in redis_server.ACL_RULES}


def _client(port: int, user: str) -> redis.Redis:
    return redis.Redis(port=port, username=user, password=PASSWORDS[user], decode_responses=True)


def test_transactions_and_consumer_groups_survive_a_crash(tmp_path: Path) -> None:
    port = free_port()
    redis_server.start(tmp_path, port=port, passwords=PASSWORDS)
    process = ManagedProcess("redis", tmp_path)
    try:
        signing, audit = _client(port, "signing"), _client(port, "audit")
        with signing.pipeline(transaction=True) as tx:  # MULTI … EXEC
            tx.hset("batch:b1", mapping={"state": "running", "done": "3"})
            tx.rpush("batches:owner", "b1")
            tx.execute()
        signing.xadd("audit:events:signing", {"e": "1"})
        signing.xadd("audit:events:signing", {"e": "2"})
        audit.xgroup_create("audit:events:signing", "ingest", id="0")
        delivered: Any = audit.xreadgroup("ingest", "c1", {"audit:events:signing": ">"}, count=1)
        assert len(delivered[0][1]) == 1
        pending_before = audit.xpending("audit:events:signing", "ingest")["pending"]

        pid = process.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        while process.running():
            time.sleep(0.05)
        redis_server.start(tmp_path, port=port, passwords=PASSWORDS)

        signing, audit = _client(port, "signing"), _client(port, "audit")
        assert signing.hgetall("batch:b1") == {"state": "running", "done": "3"}
        assert signing.lrange("batches:owner", 0, -1) == ["b1"]
        assert audit.xlen("audit:events:signing") == 2
        # The group remembers what it delivered: the next read is the second event, not the first
        # again (a duplicate) and not nothing (a loss).
        assert audit.xpending("audit:events:signing", "ingest")["pending"] == pending_before == 1
        again: Any = audit.xreadgroup("ingest", "c1", {"audit:events:signing": ">"}, count=10)
        assert [fields for _, fields in again[0][1]] == [{"e": "2"}]
        assert "NOPERM" not in (tmp_path / "logs" / "redis.log").read_text()
    finally:
        process.stop(timeout=5)


def test_the_default_user_that_replays_the_file_cannot_be_used(tmp_path: Path) -> None:
    """Attack class: a connection without credentials, or logging in as ``default``, after the
    ``default`` user was given what the replay needs."""
    port = free_port()
    redis_server.start(tmp_path, port=port, passwords=PASSWORDS)
    try:
        anonymous = redis.Redis(port=port, retry=NO_RETRY)
        for command in (("SET", "batch:x", "1"), ("GET", "batch:x"), ("XLEN", "audit:events")):
            with pytest.raises(redis.AuthenticationError):
                anonymous.execute_command(*command)  # type: ignore[no-untyped-call]
        for password in ("", "nopass", PASSWORDS["signing"]):
            with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
                redis.Redis(port=port, username="default", password=password, retry=NO_RETRY).ping()
    finally:
        ManagedProcess("redis", tmp_path).stop(timeout=5)
