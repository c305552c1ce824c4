"""RFC 9162 §2.1.4 consistency proofs: every pair of sizes of small trees, and the proofs a
rewritten log would need, refused."""

from __future__ import annotations

import hashlib

import pytest

from audit.errors import ProofInvalid
from audit.merkle import (
    TreeBuilder,
    consistency_proof,
    fold,
    leaf_hash,
    perfect_ranges,
    root_of,
    verify_consistency,
)


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def test_the_proofs_of_the_rfc_example_tree_of_seven() -> None:
    """RFC 9162 §2.1.5 (the tree of d0..d6): PROOF(3) = [c, d, g, l], PROOF(4) = [l],
    PROOF(6) = [i, j, k]."""
    d = _leaves(7)
    c, dd = d[2], d[3]
    g, k = root_of(d[0:2]), root_of(d[0:4])
    i, j, l_ = root_of(d[4:6]), d[6], root_of(d[4:7])
    assert consistency_proof(3, d) == [c, dd, g, l_]
    assert consistency_proof(4, d) == [l_]
    assert consistency_proof(6, d) == [i, j, k]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_consistency_proof_verifies(n: int) -> None:
    leaves = _leaves(n)
    for m in range(n + 1):
        verify_consistency(m, n, root_of(leaves[:m]), root_of(leaves), consistency_proof(m, leaves))


@pytest.mark.parametrize(("m", "n"), [(3, 7), (4, 7), (6, 7), (5, 100), (64, 100), (1, 2)])
def test_tampered_proofs_are_refused(m: int, n: int) -> None:
    """Attack: a proof altered in transit (each hash flipped, one dropped, one added)."""
    leaves = _leaves(n)
    old, new = root_of(leaves[:m]), root_of(leaves)
    proof = consistency_proof(m, leaves)
    for at in range(len(proof)):
        altered = list(proof)
        altered[at] = hashlib.sha256(altered[at]).digest()
        with pytest.raises(ProofInvalid):
            verify_consistency(m, n, old, new, altered)
    with pytest.raises(ProofInvalid):
        verify_consistency(m, n, old, new, proof[:-1])
    with pytest.raises(ProofInvalid):
        verify_consistency(m, n, old, new, [*proof, bytes(32)])


def test_rewritten_history_has_no_consistency_proof() -> None:
    """Attack: a log rewritten from record k (fresh leaves from there) cannot prove it extends
    the checkpoint taken before the rewrite, whatever proof is offered."""
    honest = _leaves(50)
    rewritten = honest[:20] + _leaves(40, salt=b"forged")
    old_root = root_of(honest[:30])
    with pytest.raises(ProofInvalid):
        verify_consistency(30, 60, old_root, root_of(rewritten), consistency_proof(30, rewritten))


def test_same_size_with_another_root_is_a_fork() -> None:
    with pytest.raises(ProofInvalid, match="two different roots"):
        verify_consistency(5, 5, root_of(_leaves(5)), root_of(_leaves(5, b"x")), [])


def test_frontier_resumes_a_tree() -> None:
    leaves = _leaves(77)
    for m in (0, 1, 31, 32, 33, 76):
        frontier = [root_of(leaves[lo:hi]) for lo, hi in perfect_ranges(0, m)]
        assert fold(frontier) == root_of(leaves[:m])
        builder = TreeBuilder.from_frontier(m, frontier)
        for value in leaves[m:]:
            builder.append_leaf_hash(value)
        assert builder.root() == root_of(leaves)
