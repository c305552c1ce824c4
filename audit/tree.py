"""The log's Merkle tree as stored: roots of perfect subtrees of 256 leaves and more, so that proofs
(inclusion, consistency) and a reader resuming from a kept checkpoint take O(log n) reads, not the
whole log.

The nodes are a cache written by the checkpointer from leaves it checked; nothing trusts them. A
proof made from a wrong node fails against the signed root it is checked with. Where a node is
missing (a log from before the cache), the leaves beneath it are read instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.merkle import (
    _path_ranges,
    consistency_ranges,
    fold,
    perfect_ranges,
    root_of,
)

if TYPE_CHECKING:
    from audit.store import EventStore

#: Perfect subtrees of 2**NODE_LEVEL leaves and more are stored (tiles of 256 leaves, as Tessera).
NODE_LEVEL = 8


class NodeRecorder:
    """Collects the perfect subtree roots a :class:`TreeBuilder` completes, for :meth:`flush`."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._covered = store.nodes_cover(NODE_LEVEL)
        self.pending: list[tuple[int, int, bytes]] = []

    def __call__(self, level: int, index: int, value: bytes) -> None:
        if level >= NODE_LEVEL and (index + 1) << level > self._covered:
            self.pending.append((level, index, value))

    def flush(self) -> None:
        if self.pending:
            self._store.add_nodes(self.pending)
            self.pending = []


class StoredTree:
    """Subtree roots of the log, read from the stored nodes, else from its leaf hashes."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self.leaves_read = 0

    def _perfect_roots(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        keys = {
            (lo, hi): ((hi - lo).bit_length() - 1, lo >> ((hi - lo).bit_length() - 1))
            for lo, hi in ranges
            if hi - lo >= 1 << NODE_LEVEL
        }
        found = self._store.nodes(list(keys.values()))
        roots = []
        for lo, hi in ranges:
            key = keys.get((lo, hi))
            if key is not None and key in found:
                roots.append(found[key])
                continue
            leaves = self._store.leaf_hash_range(lo, hi)
            self.leaves_read += len(leaves)
            if len(leaves) != hi - lo:
                raise ValueError(f"leaves {lo}..{hi} are not all stored")
            roots.append(root_of(leaves))
        return roots

    def range_root(self, lo: int, hi: int) -> bytes:
        """The Merkle root of leaves ``lo..hi-1`` (a range of the tree: ``lo`` aligned)."""
        return fold(self._perfect_roots(perfect_ranges(lo, hi)))

    def frontier(self, size: int) -> list[bytes]:
        """The roots of the perfect subtrees of the tree of ``size`` (left to right)."""
        return self._perfect_roots(perfect_ranges(0, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return [self.range_root(lo, hi) for lo, hi in consistency_ranges(old_size, new_size)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        return [self.range_root(lo, hi) for lo, hi in _path_ranges(index, size)]
