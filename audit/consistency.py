"""Checking the log against a checkpoint kept earlier, without reading it all again.

An officer keeps a checkpoint (a signed note, ``gateway-audit keep-checkpoint``). Later,
:func:`verify_from_checkpoint` proves the log as it is now extends exactly that checkpoint:

1. the kept note's signature, with the log's verifier key;
2. an RFC 9162 consistency proof from the kept size to the log's latest signed checkpoint, and the
   stored tree's frontier at the kept size against the kept root (O(log n) hashes);
3. only the records after the kept checkpoint: body → leaf hash, the hash chain, and the Merkle root
   at every checkpoint signed since.

A log rewritten from any record below the kept size, even with a fresh chain and checkpoints freshly
signed with a stolen key, fails step 2; one rewritten above it fails step 3 (or 2). What step 2 proves is
the tree of leaf hashes: a record below the kept size whose *columns* were edited while its hashes were
left alone is not read, so not named here, nor is a record there emptied before its retention ended — the
full ``gateway-audit verify`` reads every record and names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from audit.checkpoints import LogKeys, log_keys, verify_checkpoint
from audit.errors import ChainBroken, ProofInvalid
from audit.merkle import TreeBuilder, fold, verify_consistency
from audit.note import SignedNote
from audit.store import GENESIS, EventStore, check_records
from audit.tree import StoredTree
from audit.tree_head import SignedTreeHead
from audit.verification import retention_rule


@dataclass(frozen=True)
class FromCheckpointVerification:
    kept_size: int
    records: int
    #: Records read (bodies, chain): those after the kept checkpoint only.
    records_read: int
    #: Leaf hashes read to rebuild subtrees whose stored node was missing (0 on a current log).
    leaves_read: int
    latest_checkpoint_size: int
    checkpoints_checked: int


def kept_checkpoint(note_bytes: bytes, public_key: bytes | LogKeys) -> SignedTreeHead:
    """The checkpoint of a kept signed note, its log signature checked."""
    kept = SignedTreeHead.from_note(SignedNote.parse(note_bytes))
    verify_checkpoint(kept, public_key)
    return kept


def verify_from_checkpoint(
    store: EventStore,
    note_bytes: bytes,
    public_key: bytes | LogKeys,
    *,
    retention_days: Mapping[str, int] | None = None,
) -> FromCheckpointVerification:
    keys = log_keys(public_key)
    kept = kept_checkpoint(note_bytes, keys)
    latest = store.latest_checkpoint()
    if latest is None or latest.tree_size < kept.tree_size:
        raise ChainBroken(
            f"the log's latest checkpoint covers {latest.tree_size if latest else 0} records, the "
            f"one you kept {kept.tree_size}: the log was cut back or replaced"
        )
    verify_checkpoint(latest, keys)
    tree = StoredTree(store)
    proof = tree.consistency_proof(kept.tree_size, latest.tree_size)
    try:
        verify_consistency(
            kept.tree_size, latest.tree_size, kept.root_hash, latest.root_hash, proof
        )
    except ProofInvalid as exc:
        raise ChainBroken(
            f"the log's checkpoint of {latest.tree_size} records is not consistent with the one "
            f"you kept ({kept.tree_size} records): the log was rewritten ({exc.args[0]})"
        ) from exc
    frontier = tree.frontier(kept.tree_size)
    if fold(frontier) != kept.root_hash:
        raise ChainBroken(
            f"records 1..{kept.tree_size} are no longer those of the checkpoint you kept: the "
            "log was rewritten"
        )
    later = [c for c in store.checkpoints() if c.tree_size > kept.tree_size]
    for checkpoint in later:
        verify_checkpoint(checkpoint, keys)
    builder = TreeBuilder.from_frontier(kept.tree_size, frontier)
    pending = iter(later)
    target = next(pending, None)

    def on_leaf(value: bytes) -> None:
        nonlocal target
        builder.append_leaf_hash(value)
        while target is not None and builder.size == target.tree_size:
            if builder.root() != target.root_hash:
                raise ChainBroken(
                    f"records {kept.tree_size + 1}..{target.tree_size} differ from the checkpoint "
                    f"signed at {target.issued_at}: the log was rewritten"
                )
            target = next(pending, None)

    head = store.chain_hash_at(kept.tree_size) if kept.tree_size else GENESIS
    read = check_records(
        store.records(after=kept.tree_size),
        store,
        previous=head,
        after=kept.tree_size,
        on_leaf=on_leaf,
        retention=retention_rule(retention_days),
    )
    if target is not None:
        raise ChainBroken(
            f"records removed: the checkpoint of {target.issued_at} covers {target.tree_size} "
            f"records, the log holds {kept.tree_size + read}"
        )
    return FromCheckpointVerification(
        kept_size=kept.tree_size,
        records=kept.tree_size + read,
        records_read=read,
        leaves_read=tree.leaves_read,
        latest_checkpoint_size=latest.tree_size,
        checkpoints_checked=len(later) + 1,
    )
