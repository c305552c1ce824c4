"""Collecting cycles less often (``gateway_runtime.collector``) still collects them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway_runtime.collector import SERVICE_YOUNG_THRESHOLD, collect_cycles_less


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: reference counting alone never frees it


def test_cycles_made_after_start_are_still_collected(collector_restored: None) -> None:
    """Collecting less must not mean never: cycles made after start (a parsed PDF's object graph,
    an event batch) are freed without anyone calling ``gc.collect``."""
    collect_cycles_less()
    assert gc.isenabled()
    assert gc.get_threshold()[0] == SERVICE_YOUNG_THRESHOLD
    freed: list[int] = []
    for _ in range(50):
        node = _Node()
        weakref.finalize(node, freed.append, 1)
        del node
    assert not freed
    for _ in range(SERVICE_YOUNG_THRESHOLD // 50 + 1):
        _ = [_Node() for _ in range(60)]  # containers allocated: the young generation fills
    assert len(freed) == 50


def test_what_lived_at_start_is_out_of_the_collectors_reach(collector_restored: None) -> None:
    """The start-up heap is frozen, so that no collection scans it again."""
    before = gc.get_freeze_count()
    collect_cycles_less()
    assert gc.get_freeze_count() > before
