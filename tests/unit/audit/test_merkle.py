from __future__ import annotations

import hashlib

import pytest

from audit.errors import ProofInvalid
from audit.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_inclusion,
)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1's MTH, written as recursively as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


LEAVES = [f"event-{i}".encode() for i in range(33)]


@pytest.mark.parametrize("size", range(0, 34))
def test_incremental_root_equals_the_rfc_definition(size: int) -> None:
    builder = TreeBuilder()
    builder.extend(LEAVES[:size])
    assert builder.root() == reference_root(LEAVES[:size])
    assert builder.size == size


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert TreeBuilder().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 33])
def test_every_leaf_proves_inclusion_and_nothing_else_does(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    root = root_of(hashes)
    for index in range(size):
        proof = inclusion_proof(index, hashes)
        verify_inclusion(hashes[index], index, size, proof, root)
        # The same proof for another leaf, index, size or root fails.
        with pytest.raises(ProofInvalid):
            verify_inclusion(leaf_hash(b"forged"), index, size, proof, root)
        if size > 1:
            with pytest.raises(ProofInvalid):
                verify_inclusion(hashes[index], (index + 1) % size, size, proof, root)
            with pytest.raises(ProofInvalid):
                verify_inclusion(hashes[index], index, size, proof[:-1], root)
        with pytest.raises(ProofInvalid):
            verify_inclusion(hashes[index], index, size, proof, node_hash(root, root))
