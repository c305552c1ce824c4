"""Approvals raced against each other, on a Redis of the test's own (real ``redis-server``, the
signing service's ACL user): what a cloned passkey could gain by answering twice at once.

Attack class: a cloned authenticator. Two copies of one passkey answer two pending approvals at the
same moment with the same signature counter. Checked one after the other, the second is refused
(its counter did not move past the stored one); checked at the same time, both used to read the
stored counter before either stored the new one, and both approvals passed. The counter is now
moved only if it is still the one the assertion was checked against (a compare-and-set in Redis).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis_async

from devstack import Ports, redis_server
from devstack.process import ManagedProcess
from gateway_runtime.tokens import Principal
from signing_service.approval_notices import LogNotifier
from signing_service.approvals import Approvals, Device
from signing_service.errors import ApprovalFailed
from tests.soft_authenticator import SoftAuthenticator

pytestmark = [pytest.mark.redis]

ORIGIN = "http://localhost:8701"
SHA256 = "2.16.840.1.101.3.4.2.1"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("approval-redis")
    passwords = {user: secrets.token_urlsafe(16) for user in redis_server.ACL_RULES}
    url = redis_server.start(folder, port=Ports.free_block(1), passwords=passwords)
    yield url, passwords["signing"]
    ManagedProcess("redis", folder).stop()


class _AtTheSameMoment(Approvals):
    """Two workers serving two approvals at the same moment: once :attr:`barrier` is set, each
    approval waits, after reading the signer's devices, until the other has read them too (left to
    chance, the second request's new Redis connection lets the first one finish before it reads)."""

    barrier: asyncio.Barrier | None = None

    async def devices(self, owner: str) -> list[Device]:
        found = await super().devices(owner)
        if self.barrier is not None:
            await self.barrier.wait()
        return found


@contextlib.asynccontextmanager
async def _approvals(redis_url: tuple[str, str]) -> AsyncIterator[_AtTheSameMoment]:
    """The service's approvals on the test's Redis; the connection is closed, a failure included."""
    url, password = redis_url
    client = redis_async.Redis.from_url(url, username="signing", password=password)
    try:
        yield _AtTheSameMoment(
            client,
            public_url=ORIGIN,
            notifier=LogNotifier(),
            approval_seconds=60,
            sad_seconds=60,
        )
    finally:
        await client.aclose()


def _teacher() -> Principal:
    """A teacher who logged in with the second factor just now (pairs without another phone)."""
    return Principal(
        subject=f"teacher-{secrets.token_hex(4)}",
        client_id="demo-sign-app",
        username="gv.hoa",
        roles=frozenset(),
        realm_roles=frozenset(),
        acr="2",
        token_id=None,
        claims={"auth_time": int(time.time()), "family_name": "Phạm Thị", "given_name": "Hoa"},
    )


async def _paired(
    approvals: Approvals, teacher: Principal, *, counter_stays_at_zero: bool = False
) -> SoftAuthenticator:
    phone = SoftAuthenticator(ORIGIN)
    if counter_stays_at_zero:
        phone.counter = -1  # the registration says 0
    code, _ = await approvals.start_pairing(teacher)
    options = json.loads(await approvals.pairing_options(code))
    await approvals.finish_pairing(code, phone.create(options), "phone")
    return phone


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.mark.parametrize("round_", range(3))
def test_a_cloned_passkey_answering_two_approvals_at_once_gets_one(
    redis_url: tuple[str, str], round_: int
) -> None:
    asyncio.run(_clone_race(redis_url, round_))


async def _clone_race(redis_url: tuple[str, str], round_: int) -> None:
    async with _approvals(redis_url) as approvals:
        await _race(approvals, round_)


async def _race(approvals: _AtTheSameMoment, round_: int) -> None:
    teacher = _teacher()
    phone = await _paired(approvals, teacher)
    pending = [
        await approvals.request(
            teacher,
            credential_id="credential-1",
            hash_algorithm=SHA256,
            hashes=[_hash(f"transcript {round_}-{i}")],
            description="Học bạ",
        )
        for i in range(2)
    ]
    answers = []
    for approval in pending:
        options = json.loads(await approvals.approval_options(approval.approval_id))
        answers.append(phone.get(options))
        phone.counter -= 1  # the clone answers with the same counter
    approvals.barrier = asyncio.Barrier(2)
    results = await asyncio.gather(
        *(
            approvals.approve(a.approval_id, answer)
            for a, answer in zip(pending, answers, strict=True)
        ),
        return_exceptions=True,
    )
    passed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, ApprovalFailed)]
    assert (len(passed), len(refused)) == (1, 1), results
    # The refused approval is still undecided (its owner's real phone may still answer it).
    decisions = [await approvals.decision(a.approval_id) for a in pending]
    assert sorted(d or "" for d in decisions) == ["", "approved"]


def test_a_passkey_whose_counter_stays_at_zero_approves_again_and_again(
    redis_url: tuple[str, str],
) -> None:
    """Synced passkeys report a signature counter of 0 for ever (WebAuthn allows it): the
    compare-and-set must not refuse them."""
    asyncio.run(_zero_counter(redis_url))


async def _zero_counter(redis_url: tuple[str, str]) -> None:
    async with _approvals(redis_url) as approvals:
        await _approve_three_times(approvals)


async def _approve_three_times(approvals: Approvals) -> None:
    teacher = _teacher()
    phone = await _paired(approvals, teacher, counter_stays_at_zero=True)
    for i in range(3):
        approval = await approvals.request(
            teacher,
            credential_id="credential-1",
            hash_algorithm=SHA256,
            hashes=[_hash(f"letter {i}")],
            description="Công văn",
        )
        options = json.loads(await approvals.approval_options(approval.approval_id))
        phone.counter = -1  # the next assertion says 0
        await approvals.approve(approval.approval_id, phone.get(options))
        assert await approvals.decision(approval.approval_id) == "approved"
