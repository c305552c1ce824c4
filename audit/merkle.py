"""A Merkle tree over the audit log, in the manner of RFC 9162 (Certificate Transparency 2.0).

Leaves are the canonical JSON of the events in store order. ``leaf_hash = SHA-256(0x00 || leaf)``,
``node_hash = SHA-256(0x01 || left || right)``, and the tree of n leaves splits at the largest power of
two smaller than n (RFC 9162 §2.1.1). A signed tree head commits to every event up to its size; an
inclusion proof (§2.1.3) shows one event is in it with log2(n) hashes, checkable offline; a
consistency proof (§2.1.4) shows a tree of size m is the first m leaves of a tree of size n, so that
someone who kept an old checkpoint can check a new one without reading the log again.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Sequence

from audit.errors import ProofInvalid

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


#: ``on_subtree(height, index, hash)``: a perfect subtree covering leaves
#: ``[index * 2**height, (index + 1) * 2**height)`` was completed.
SubtreeSink = Callable[[int, int, bytes], None]


class TreeBuilder:
    """The root of a growing tree in O(log n) memory: a stack of perfect subtree roots."""

    def __init__(self, on_subtree: SubtreeSink | None = None) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
        self.size = 0
        self._on_subtree = on_subtree

    @classmethod
    def from_frontier(
        cls, size: int, roots: Sequence[bytes], on_subtree: SubtreeSink | None = None
    ) -> TreeBuilder:
        """Resume a tree of ``size`` leaves from the roots of its perfect subtrees, left to right
        (:func:`perfect_ranges` of ``(0, size)``): the "frontier", log2(size) hashes."""
        ranges = perfect_ranges(0, size)
        if len(ranges) != len(roots):
            raise ValueError(f"a tree of {size} has {len(ranges)} frontier roots, not {len(roots)}")
        builder = cls(on_subtree)
        builder._stack = [
            ((hi - lo).bit_length() - 1, root) for (lo, hi), root in zip(ranges, roots, strict=True)
        ]
        builder.size = size
        return builder

    def append_leaf_hash(self, value: bytes) -> None:
        height, current = 0, value
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            current = node_hash(left, current)
            height += 1
            if self._on_subtree is not None:
                self._on_subtree(height, ((self.size + 1) >> height) - 1, current)
        self._stack.append((height, current))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append_leaf_hash(leaf_hash(leaf))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        # Fold the perfect subtrees from the smallest (rightmost) up, as RFC 9162's MTH does.
        current = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            current = node_hash(left, current)
        return current


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    builder = TreeBuilder()
    for value in leaf_hashes:
        builder.append_leaf_hash(value)
    return builder.root()


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaf_hashes`` (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaf_hashes)}")

    def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
        n = len(leaves)
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, leaves[:k]), root_of(leaves[k:])]
        return [*path(m - k, leaves[k:]), root_of(leaves[:k])]

    return path(index, leaf_hashes)


def verify_inclusion(
    leaf_hash_value: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofInvalid` unless ``proof`` puts the leaf at ``index`` under ``root``.

    The verification algorithm of RFC 9162 §2.1.3.2.
    """
    if not 0 <= index < tree_size:
        raise ProofInvalid(f"index {index} outside a tree of {tree_size}")
    fn, sn = index, tree_size - 1
    current = leaf_hash_value
    for sibling in proof:
        if sn == 0:
            raise ProofInvalid("proof longer than the tree is deep")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("proof shorter than the tree is deep")
    if current != root:
        raise ProofInvalid("the proof does not lead to the signed root")


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree roots form the audit path of ``index``, leaf to root."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m = lo + k, m - k
    return list(reversed(ranges))


def roots_of_ranges(ranges: Sequence[tuple[int, int]], leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """The Merkle roots of disjoint leaf ranges, reading the leaf hashes once, in O(log n) memory."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    builders = [TreeBuilder() for _ in ranges]
    end = max((hi for _, hi in ranges), default=0)
    cursor = 0
    for position, value in enumerate(leaf_hashes):
        if position >= end:
            break
        while cursor < len(order) and ranges[order[cursor]][1] <= position:
            cursor += 1
        if cursor < len(order) and ranges[order[cursor]][0] <= position:
            builders[order[cursor]].append_leaf_hash(value)
    roots = []
    for (lo, hi), builder in zip(ranges, builders, strict=True):
        if builder.size != hi - lo:
            raise ValueError(f"leaves {lo}..{hi} are not all there")
        roots.append(builder.root())
    return roots


def inclusion_proof_streamed(index: int, size: int, leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """:func:`inclusion_proof` reading the leaf hashes once as a stream (the log may not fit in memory)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    return roots_of_ranges(_path_ranges(index, size), leaf_hashes)


def subset_ranges(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    """The largest subtrees of the tree of ``size`` holding none of the sorted ``indices``: with the
    leaves at ``indices`` they are exactly what recomputes the root (a compact multi-leaf proof)."""
    found: list[tuple[int, int]] = []

    def holds(lo: int, hi: int) -> bool:
        at = bisect.bisect_left(indices, lo)
        return at < len(indices) and indices[at] < hi

    def walk(lo: int, hi: int) -> None:
        if not holds(lo, hi):
            found.append((lo, hi))
        elif hi - lo > 1:
            k = _split(hi - lo)
            walk(lo, lo + k)
            walk(lo + k, hi)

    walk(0, size)
    return found


def root_from_subset(
    leaves: dict[int, bytes], nodes: dict[tuple[int, int], bytes], size: int
) -> bytes:
    """Recompute the root of the tree of ``size`` from some leaves' hashes and the subtree roots of
    :func:`subset_ranges`; :class:`ProofInvalid` if something needed is missing, or if ``nodes``
    are not exactly those ranges (a subtree over leaves that are given would let whoever supplies
    the nodes — an archive's author — replace those leaves by anything: the root of the whole
    tree, taken from a genuine checkpoint, "proves" any records)."""
    expected = set(subset_ranges(sorted(leaves), size)) if size else set()
    if set(nodes) != expected:
        raise ProofInvalid(
            "the subtrees given are not exactly those the records leave out "
            f"({len(set(nodes) - expected)} unexpected, {len(expected - set(nodes))} missing)"
        )

    def root(lo: int, hi: int) -> bytes:
        if (lo, hi) in nodes:
            return nodes[(lo, hi)]
        if hi - lo == 1:
            if lo not in leaves:
                raise ProofInvalid(f"leaf {lo} is neither archived nor covered by a subtree")
            return leaves[lo]
        k = _split(hi - lo)
        return node_hash(root(lo, lo + k), root(lo + k, hi))

    if size == 0:
        return EMPTY_ROOT
    return root(0, size)


def perfect_ranges(lo: int, hi: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` cut into aligned perfect subtrees, largest first (``lo`` aligned as in the tree:
    every range an RFC 9162 tree or proof names is). Their roots, folded right to left with
    :func:`fold`, give the Merkle root of the range."""
    ranges = []
    while lo < hi:
        size = 1
        while lo % (size << 1) == 0 and lo + (size << 1) <= hi:
            size <<= 1
        ranges.append((lo, lo + size))
        lo += size
    return ranges


def fold(roots: Sequence[bytes]) -> bytes:
    """The root over consecutive perfect subtrees (largest first), as RFC 9162's MTH combines them."""
    if not roots:
        return EMPTY_ROOT
    current = roots[-1]
    for left in reversed(roots[:-1]):
        current = node_hash(left, current)
    return current


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose Merkle roots make up the consistency proof from ``old_size`` to
    ``new_size``, in proof order (RFC 9162 §2.1.4.1, SUBPROOF). Empty when nothing is to prove."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    return list(reversed(ranges))


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The RFC 9162 consistency proof from the first ``old_size`` leaves to all of them."""
    return [
        root_of(leaf_hashes[lo:hi]) for lo, hi in consistency_ranges(old_size, len(leaf_hashes))
    ]


def consistency_proof_from(
    old_size: int, new_size: int, range_root: Callable[[int, int], bytes]
) -> list[bytes]:
    """The consistency proof with each subtree root asked of ``range_root(lo, hi)`` (a stored tree)."""
    return [range_root(lo, hi) for lo, hi in consistency_ranges(old_size, new_size)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofInvalid` unless ``proof`` shows the tree ``(old_size, old_root)`` is the
    beginning of ``(new_size, new_root)``: the verification algorithm of RFC 9162 §2.1.4.2."""
    if not 0 <= old_size <= new_size:
        raise ProofInvalid(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofInvalid("a proof between equal sizes is empty")
        if old_root != new_root:
            raise ProofInvalid(f"two different roots for the same size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofInvalid("a proof from the empty tree is empty")
        return
    if not proof:
        raise ProofInvalid("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid("consistency proof longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("consistency proof shorter than the tree is deep")
    if fr != old_root:
        raise ProofInvalid(f"the proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofInvalid(f"the proof does not lead to the new root (size {new_size})")
