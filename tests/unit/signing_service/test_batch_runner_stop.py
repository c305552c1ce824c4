"""A batch runner stops when asked, even when the cancellation that asks it is lost: a batch whose lock
was just lost swallows the ``CancelledError`` on purpose (another process has the batch), and Python
3.11's ``wait_for`` can swallow one that lands as its wait ends. Before 2026-12-04 ``stop`` then
waited for ever (a CI run hung 600 s in ``test_batch_races``)."""

from __future__ import annotations

import asyncio
from typing import Any

from signing_service.batches import BatchRunner


class _Redis:
    async def smembers(self, key: str) -> set[bytes]:
        return {b"0" * 32}


class _Store:
    redis = _Redis()

    async def sweep(self, *, min_age_seconds: float) -> None:
        pass


def test_stop_ends_the_runner_when_a_batch_swallows_the_cancellation() -> None:
    swallowed = 0

    async def lock_lost(batch_id: str) -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed += 1  # what _try_batch does when its lock was lost meanwhile

    async def scenario() -> None:
        runner = BatchRunner(_Store(), None, None, None, poll_seconds=0.05)  # type: ignore[arg-type]
        runner._try_batch = lock_lost  # type: ignore[method-assign]
        runner.start()
        await asyncio.sleep(0.1)
        await asyncio.wait_for(runner.stop(), timeout=5)

    asyncio.run(scenario())
    assert swallowed == 1


def test_a_stopped_runner_can_be_started_again() -> None:
    rounds: list[Any] = []

    async def counted(batch_id: str) -> None:
        rounds.append(batch_id)

    async def scenario() -> None:
        runner = BatchRunner(_Store(), None, None, None, poll_seconds=0.01)  # type: ignore[arg-type]
        runner._try_batch = counted  # type: ignore[method-assign]
        runner.start()
        await asyncio.sleep(0.05)
        await runner.stop()
        before = len(rounds)
        runner.start()
        await asyncio.sleep(0.05)
        await runner.stop()
        assert len(rounds) > before

    asyncio.run(scenario())
