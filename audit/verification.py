"""``audit verify``: prove the stored log intact and complete against its signed checkpoints.

Two independent checks, each naming the first record at fault:
1. the hash chain, record by record: an altered, removed or inserted record breaks it there;
2. every signed checkpoint: its signature (public key only), and the Merkle root of the first
   ``tree_size`` records, so that a log rewritten with a fresh chain still fails, and a log cut short
   below a checkpoint is reported as records removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.checkpoints import verify_checkpoint
from audit.errors import ChainBroken
from audit.merkle import TreeBuilder
from audit.store import SqliteEventStore


@dataclass(frozen=True)
class LogVerification:
    records: int
    checkpoints: int
    latest_checkpoint_size: int


def verify_log(store: SqliteEventStore, public_key_pem: bytes) -> LogVerification:
    """Return what was proven, or raise :class:`ChainBroken` / ``ProofInvalid`` naming the fault."""
    records = store.verify_chain()
    checkpoints = store.checkpoints()
    for checkpoint in checkpoints:
        verify_checkpoint(checkpoint, public_key_pem)
    if checkpoints and checkpoints[-1].tree_size > records:
        raise ChainBroken(
            f"records removed: the checkpoint of {checkpoints[-1].issued_at} covers "
            f"{checkpoints[-1].tree_size} records, the log holds {records}"
        )
    builder = TreeBuilder()
    pending = iter(checkpoints)
    target = next(pending, None)
    if target is not None:
        for body in store.bodies(limit=checkpoints[-1].tree_size):
            builder.extend([body.encode()])
            while target is not None and builder.size == target.tree_size:
                if builder.root() != target.root_hash:
                    raise ChainBroken(
                        f"records 1..{target.tree_size} differ from the checkpoint signed at "
                        f"{target.issued_at}: the log was rewritten"
                    )
                target = next(pending, None)
    return LogVerification(
        records=records,
        checkpoints=len(checkpoints),
        latest_checkpoint_size=checkpoints[-1].tree_size if checkpoints else 0,
    )
