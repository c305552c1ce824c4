"""``audit verify``: prove the stored log intact and complete against its signed checkpoints.

Two independent checks, each naming the first record at fault:
1. the hash chain, record by record: an altered, removed or inserted record breaks it there;
2. every signed checkpoint: its signature (public key only), and the Merkle root of the first
   ``tree_size`` records, so that a log rewritten with a fresh chain still fails, and a log cut short
   below a checkpoint is reported as records removed.

A record whose body was emptied must have been archived, and its class's retention must have ended
by the verifier's clock (:class:`RetentionRule`): the database may only refuse to empty records
younger than a year, the shortest retention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from audit.checkpoints import verify_checkpoint
from audit.errors import ChainBroken
from audit.merkle import TreeBuilder
from audit.store import EventStore, RetentionRule, check_log


@dataclass(frozen=True)
class LogVerification:
    records: int
    checkpoints: int
    latest_checkpoint_size: int


@dataclass(frozen=True)
class RangeVerification:
    """What was proven about the records of a time range (first and last position, inclusive)."""

    records: int
    first_seq: int | None
    last_seq: int | None
    #: The first position not yet under a signed checkpoint, if the range reaches past the latest.
    unsigned_from: int | None


def verify_range(
    store: EventStore,
    public_key_pem: bytes,
    since: datetime,
    until: datetime,
    *,
    retention_days: Mapping[str, int] | None = None,
) -> RangeVerification:
    """Prove the records with ``since <= time < until`` intact and complete.

    The whole log is checked (hash chain and every signed checkpoint; a Merkle root needs every
    earlier leaf anyway), so an altered, removed or inserted record inside the range is named as it
    would be for the whole log; then the range's positions are reported, with those not yet covered
    by a signed checkpoint (recent records) called out rather than counted as proven.
    """
    whole = verify_log(store, public_key_pem, retention_days=retention_days)
    positions = store.positions_between(since, until)
    if not positions:
        return RangeVerification(0, None, None, None)
    first, last = positions
    unsigned = whole.latest_checkpoint_size + 1 if last > whole.latest_checkpoint_size else None
    return RangeVerification(last - first + 1, first, last, unsigned)


def retention_rule(retention_days: Mapping[str, int] | None = None) -> RetentionRule:
    """The rule emptied records are held to: the deployment's days per class (``AUDIT_RETENTION_DAYS``
    over the policy), else the personal-data policy's defaults, at the verifier's clock."""
    if retention_days is None:
        from policies.privacy import default_privacy_policy

        retention_days = {
            str(k): v for k, v in default_privacy_policy().audit_retention_days.items()
        }
    return RetentionRule(dict(retention_days))


def verify_log(
    store: EventStore,
    public_key_pem: bytes,
    *,
    retention_days: Mapping[str, int] | None = None,
) -> LogVerification:
    """Return what was proven, or raise :class:`ChainBroken` / ``ProofInvalid`` naming the fault.

    One pass over the records: each body gives its leaf hash (a record whose body retention
    archived keeps its leaf hash), the leaves extend the chain and the Merkle tree, and the tree's
    root is compared with each signed checkpoint as the pass reaches its size.
    """
    checkpoints = store.checkpoints()
    for checkpoint in checkpoints:
        verify_checkpoint(checkpoint, public_key_pem)
    builder = TreeBuilder()
    pending = iter(checkpoints)
    target = next(pending, None)

    def on_leaf(value: bytes) -> None:
        nonlocal target
        builder.append_leaf_hash(value)
        while target is not None and builder.size == target.tree_size:
            if builder.root() != target.root_hash:
                raise ChainBroken(
                    f"records 1..{target.tree_size} differ from the checkpoint signed at "
                    f"{target.issued_at}: the log was rewritten"
                )
            target = next(pending, None)

    records = check_log(store, on_leaf=on_leaf, retention=retention_rule(retention_days))
    if checkpoints and checkpoints[-1].tree_size > records:
        raise ChainBroken(
            f"records removed: the checkpoint of {checkpoints[-1].issued_at} covers "
            f"{checkpoints[-1].tree_size} records, the log holds {records}"
        )
    return LogVerification(
        records=records,
        checkpoints=len(checkpoints),
        latest_checkpoint_size=checkpoints[-1].tree_size if checkpoints else 0,
    )
