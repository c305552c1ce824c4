"""Checking the log: positions, leaf hashes from the columns, the chain, archived records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from audit.errors import ChainBroken
from audit.records import (
    LEAF_PREFIX_STATE,
    PRUNED_ACTOR,
    record_leaf,
)
from audit.store.rows import GENESIS, LogRecord, to_record
from audit.store.sql import RECORD_COLUMNS

if TYPE_CHECKING:
    from audit.store.event_store import EventStore


def check_records(
    records: Iterable[LogRecord],
    store: EventStore,
    *,
    previous: bytes = GENESIS,
    after: int = 0,
    on_leaf: Any = None,
) -> int:
    """Check records' positions, leaf hashes (from their columns and bodies, or the digest standing
    for an archived body) and chain; raise ChainBroken at the first that fails, naming it (and the
    column that was changed, where the body tells). ``on_leaf(leaf)`` sees every leaf hash in order
    (the Merkle tree's input)."""
    head = previous
    expected = after + 1
    pruned: list[int] = []
    for record in records:
        if record.seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {record.seq}")
        if record.body is None:
            pruned.append(record.seq)
            leaf = _archived_leaf(record, store)
        else:
            leaf = record_leaf(record.columns, record.body)
            if leaf != record.leaf_hash:
                raise ChainBroken(record.fault())
        head = hashlib.sha256(head + leaf).digest()
        if head != record.chain_hash:
            raise ChainBroken(f"first altered record: seq {record.seq}")
        if on_leaf is not None:
            on_leaf(leaf)
        expected += 1
    _check_archived(store, pruned)
    return expected - 1 - after


def check_log(store: EventStore, *, on_leaf: Any = None) -> int:
    """:func:`check_records` over the whole log, as ``audit verify`` runs it on ten million records:
    rows are read as tuples and each leaf computed inline (``audit/records.py``'s format, which the
    tests hold this to: every store they write verifies, every change is named); a row becomes a
    :class:`LogRecord` only when it is archived or at fault."""
    head = GENESIS
    expected = 1
    pruned: list[int] = []
    sha256 = hashlib.sha256
    prefix = LEAF_PREFIX_STATE
    for row in store._stream(f"{RECORD_COLUMNS} ORDER BY seq"):
        seq, e, t, w, a, o, u, d, r, stored_leaf, stored_chain, body, _ = row
        if seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {seq}")
        if body is None:
            pruned.append(seq)
            leaf = _archived_leaf(to_record(row), store)
        else:
            columns = (
                f"{len(e)}:{e}{len(t)}:{t}{len(w)}:{w}{len(o)}:{o}"
                f"{'~' if u is None else f'{len(u)}:{u}'}"
                f"{'~' if d is None else f'{len(d)}:{d}'}"
                f"{'~' if r is None else f'{len(r)}:{r}'}\n"
            ).encode()
            state = prefix.copy()
            state.update(columns + sha256(f"{len(a)}:{a}{body}".encode()).digest())
            leaf = state.digest()
            if leaf != stored_leaf:
                raise ChainBroken(to_record(row).fault())
        head = sha256(head + leaf).digest()
        if head != stored_chain:
            raise ChainBroken(f"first altered record: seq {seq}")
        if on_leaf is not None:
            on_leaf(leaf)
        expected += 1
    _check_archived(store, pruned)
    return expected - 1


def _archived_leaf(record: LogRecord, store: EventStore) -> bytes:
    """The leaf of a record whose body retention archived, or ChainBroken naming what is wrong."""
    leaf = record.computed_leaf()
    if record.columns.actor != PRUNED_ACTOR or leaf != record.leaf_hash:
        if not store.archived_positions([record.seq]):
            raise ChainBroken(f"record seq {record.seq} lost its body without being archived")
        if record.columns.actor != PRUNED_ACTOR:
            raise ChainBroken(
                f"first altered record: seq {record.seq} (archived, yet its actor column "
                "names someone)"
            )
    if leaf is None or leaf != record.leaf_hash:
        raise ChainBroken(record.fault())
    return leaf


def _check_archived(store: EventStore, pruned: list[int]) -> None:
    if pruned:
        archived = store.archived_positions(pruned)
        missing = [seq for seq in pruned if seq not in archived]
        if missing:
            raise ChainBroken(f"record seq {missing[0]} lost its body without being archived")
