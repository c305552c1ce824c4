"""Checking the log: positions, leaf hashes from the columns, the chain, archived records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from audit.errors import ChainBroken
from audit.events import EventTag
from audit.records import (
    LEAF_PREFIX_STATE,
    PRUNED_ACTOR,
    record_leaf,
)
from audit.store.rows import GENESIS, LogRecord, to_record
from audit.store.sql import RECORD_COLUMNS

if TYPE_CHECKING:
    from audit.store.event_store import EventStore

#: Slack for the verifier's clock against the one retention ran by (retention runs once a day).
_CLOCK_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class RetentionRule:
    """How many days each event class stays whole in the live log, judged at ``now`` (the
    verifier's clock, not the database's): a record emptied while its class's days had not yet
    passed was not emptied by retention. The service's database role may archive and empty any
    record older than a year (the triggers allow no less), so without this an insider holding it
    could empty a two-year-old signature event, kept ten years, and the log would still verify."""

    days: Mapping[str, int]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def early(self, tag: str, time: str) -> str | None:
        """Why a record of ``tag`` dated ``time`` cannot have been emptied by retention yet, or None."""
        try:
            event_class = EventTag(tag).event_class.value
        except ValueError:
            return f"its tag {tag!r} belongs to no event class that retention empties"
        days = self.days.get(event_class)
        if days is None:
            return f"retention keeps {event_class} events for good"
        try:
            dated = datetime.fromisoformat(time)
        except ValueError:
            return f"its time {time!r} is not a time"
        if dated.tzinfo is None:
            dated = dated.replace(tzinfo=UTC)
        if dated + timedelta(days=days) > self.now + _CLOCK_SLACK:
            return f"{event_class} events are kept {days} days and it is dated {time}"
        return None


def check_records(
    records: Iterable[LogRecord],
    store: EventStore,
    *,
    previous: bytes = GENESIS,
    after: int = 0,
    on_leaf: Any = None,
    retention: RetentionRule | None = None,
) -> int:
    """Check records' positions, leaf hashes (from their columns and bodies, or the digest standing
    for an archived body) and chain; raise ChainBroken at the first that fails, naming it (and the
    column that was changed, where the body tells). ``on_leaf(leaf)`` sees every leaf hash in order
    (the Merkle tree's input). With ``retention``, a record emptied before its class's retention
    ended is named too."""
    head = previous
    expected = after + 1
    pruned: list[int] = []
    for record in records:
        if record.seq != expected:
            raise ChainBroken(f"records removed between seq {expected - 1} and seq {record.seq}")
        if record.body is None:
            pruned.append(record.seq)
            leaf = _archived_leaf(record, store, retention)
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


def check_log(
    store: EventStore, *, on_leaf: Any = None, retention: RetentionRule | None = None
) -> int:
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
            leaf = _archived_leaf(to_record(row), store, retention)
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


def _archived_leaf(record: LogRecord, store: EventStore, retention: RetentionRule | None) -> bytes:
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
    early = retention.early(record.columns.tag, record.columns.time) if retention else None
    if early is not None:
        raise ChainBroken(
            f"record seq {record.seq} was emptied before its retention ended ({early}): not by "
            "retention, unless by one shorter than the days this check was given "
            "(AUDIT_RETENTION_DAYS where the log is kept)"
        )
    return leaf


def _check_archived(store: EventStore, pruned: list[int]) -> None:
    if pruned:
        archived = store.archived_positions(pruned)
        missing = [seq for seq in pruned if seq not in archived]
        if missing:
            raise ChainBroken(f"record seq {missing[0]} lost its body without being archived")
