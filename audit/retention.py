"""Retention: events older than their class's retention move out of the live log into archives that
still verify, on their own, against the signed checkpoints.

An archive is one gzip'd JSON-lines file: a header with the signed checkpoint it is proven under,
the archived records (position and body, exactly as chained), and the roots of the subtrees that
hold no archived record (a compact multi-leaf Merkle proof, RFC 9162 hashing). With the checkpoint
key's public key alone, anyone recomputes the signed root from it: ``gateway-audit verify-archive``.

In the live log an archived record keeps its position, its other columns, leaf hash and chain hash;
its body and actor are replaced by their digest (only after the archive is on disk and the archiving
recorded), so ``audit verify`` still proves the whole log, columns included, and names an archived
record whose body went missing otherwise.
Only records under a signed checkpoint are archived; nothing is archived if the log does not match
that checkpoint.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from audit.checkpoints import verify_checkpoint
from audit.errors import AuditError, ChainBroken, ProofInvalid
from audit.events import EventClass, EventTag
from audit.merkle import leaf_hash, root_from_subset, roots_of_ranges, subset_ranges
from audit.records import leaf_of_body
from audit.store import EventStore, LogRecord
from audit.tree_head import SignedTreeHead

_log = structlog.get_logger(__name__)

#: v2: leaves cover the record's columns (``audit/records.py``), and a line carries the record's
#: ``received_at`` when it was flagged. v1 (leaves of the body alone) is still verified.
ARCHIVE_FORMAT = "edu-gateway/audit-archive/v2"
_ARCHIVE_V1 = "edu-gateway/audit-archive/v1"
#: Archives hold at most this many records each (a run makes as many as it needs).
ARCHIVE_RECORDS = 200_000
#: An archive file larger than this is refused before it is read.
MAX_ARCHIVE_BYTES = 4 * 1024**3
#: An archive line is one event (a few hundred characters) or one hash: far below this.
MAX_LINE_CHARS = 1024 * 1024
#: What an archive of ARCHIVE_RECORDS events and their proof may unpack to, with a wide margin.
MAX_UNPACKED_CHARS = 8 * 1024**3


@dataclass(frozen=True)
class ArchiveWritten:
    path: Path
    sha256: str
    records: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class RetentionRun:
    archives: list[ArchiveWritten]
    #: Records past their retention but not yet under a signed checkpoint (archived next time).
    waiting: int

    @property
    def archived(self) -> int:
        return sum(a.records for a in self.archives)


def tags_by_class() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for tag in EventTag:
        found.setdefault(tag.event_class.value, []).append(tag.value)
    return found


def _expired(
    store: EventStore, retention_days: Mapping[str, int], now: datetime, upto: int
) -> list[int]:
    seqs: list[int] = []
    classes = tags_by_class()
    for event_class, days in retention_days.items():
        EventClass(event_class)  # a class that does not exist is a configuration error
        seqs += store.expired(classes.get(event_class, []), now - timedelta(days=days), upto=upto)
    return sorted(set(seqs))


def _write_durably(path: Path, lines: Iterator[str]) -> str:
    """Write the gzip'd lines to ``path`` (temporary name, fsync, rename, fsync of the folder);
    return the file's SHA-256."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            for line in lines:
                packed.write(line.encode("utf-8") + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    partial.rename(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return digest


def _archive_lines(
    checkpoint: SignedTreeHead,
    records: Mapping[int, LogRecord],
    nodes: list[tuple[tuple[int, int], bytes]],
    created_at: str,
) -> Iterator[str]:
    seqs = sorted(records)
    yield json.dumps(
        {
            "format": ARCHIVE_FORMAT,
            "created_at": created_at,
            "checkpoint": checkpoint.to_json(),
            "records": len(seqs),
            "first_seq": seqs[0],
            "last_seq": seqs[-1],
        },
        ensure_ascii=False,
    )
    for seq in seqs:
        record = records[seq]
        line: dict[str, Any] = {"seq": seq, "body": record.body}
        if record.columns.received_at is not None:
            line["received_at"] = record.columns.received_at
        yield json.dumps(line, ensure_ascii=False)
    for (lo, hi), value in nodes:
        yield json.dumps({"node": [lo, hi, value.hex()]})


def apply_retention(
    store: EventStore,
    retention_days: Mapping[str, int],
    archive_dir: Path,
    *,
    now: datetime | None = None,
) -> RetentionRun:
    """Archive, then empty in the live log, every record older than its class's retention."""
    now = now or datetime.now(UTC)
    checkpoints = store.checkpoints()
    everything = _expired(store, retention_days, now, upto=store.count())
    if not checkpoints:
        return RetentionRun([], waiting=len(everything))
    latest = checkpoints[-1]
    seqs = [s for s in everything if s <= latest.tree_size]
    archive_dir.mkdir(parents=True, exist_ok=True)
    written: list[ArchiveWritten] = []
    for start in range(0, len(seqs), ARCHIVE_RECORDS):
        chunk = seqs[start : start + ARCHIVE_RECORDS]
        records = store.records_at(chunk)
        if len(records) != len(chunk):
            raise ChainBroken("records to archive changed while being read")
        indices = [s - 1 for s in chunk]
        ranges = subset_ranges(indices, latest.tree_size)
        roots = roots_of_ranges(ranges, store.leaf_hashes(latest.tree_size))
        leaves: dict[int, bytes] = {}
        for seq, record in records.items():
            computed = record.computed_leaf()
            if computed is None:
                raise ChainBroken(record.fault())
            leaves[seq - 1] = computed
        if root_from_subset(leaves, dict(zip(ranges, roots, strict=True)), latest.tree_size) != (
            latest.root_hash
        ):
            raise ChainBroken(
                f"the log no longer matches the checkpoint signed at {latest.issued_at}: "
                "nothing archived (run `gateway-audit verify`)"
            )
        created_at = now.isoformat(timespec="seconds")
        name = f"audit-archive-{now:%Y%m%dT%H%M%S}-{chunk[0]}-{chunk[-1]}.jsonl.gz"
        path = archive_dir / name
        digest = _write_durably(
            path,
            _archive_lines(latest, records, list(zip(ranges, roots, strict=True)), created_at),
        )
        store.prune(chunk, archive=f"{name} sha256:{digest}", archived_at=created_at)
        written.append(ArchiveWritten(path, digest, len(chunk), chunk[0], chunk[-1]))
    if written:
        try:
            store.compact_words()
        except AuditError as exc:  # archived and pruned all the same; the next run compacts
            _log.error("audit.words_compaction_failed", code=exc.code)
    return RetentionRun(written, waiting=len(everything) - len(seqs))


@dataclass(frozen=True)
class ArchiveVerification:
    records: int
    first_seq: int
    last_seq: int
    checkpoint: SignedTreeHead


def _read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """The archive's JSON objects, one per line, within bounds: a hostile file (a gzip bomb, a
    line without end) is refused before it fills the memory."""
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise ProofInvalid(f"{path.name} is larger than {MAX_ARCHIVE_BYTES} bytes")
    unpacked = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            number = 0
            while line := lines.readline(MAX_LINE_CHARS + 1):
                number += 1
                unpacked += len(line)
                if len(line) > MAX_LINE_CHARS:
                    raise ProofInvalid(f"{path.name} line {number} is longer than {MAX_LINE_CHARS}")
                if unpacked > MAX_UNPACKED_CHARS:
                    raise ProofInvalid(f"{path.name} unpacks to more than {MAX_UNPACKED_CHARS}")
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ProofInvalid(f"{path.name} line {number} is not an object")
                yield value
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProofInvalid(f"{path.name} is not a readable archive ({type(exc).__name__})") from exc


def verify_archive(
    path: Path, public_key_pem: bytes, *, store: EventStore | None = None
) -> ArchiveVerification:
    """Prove an archive's records are exactly those the signed checkpoint committed to.

    With ``store`` (the live log), each record is also compared with the leaf hash the log kept for
    its position, so that an altered record is named; offline, the archive as a whole is proven.
    """
    entries = _read_archive(path)
    try:
        header = next(entries)
        version = header.get("format")
        if version not in (ARCHIVE_FORMAT, _ARCHIVE_V1):
            raise ProofInvalid(f"{path.name}: not an audit archive")
        checkpoint = SignedTreeHead.from_json(header["checkpoint"])
        leaves: dict[int, bytes] = {}
        nodes: dict[tuple[int, int], bytes] = {}
        for entry in entries:
            if "seq" in entry:
                seq, body = int(entry["seq"]), str(entry["body"])
                json.loads(body)
                if not 1 <= seq <= checkpoint.tree_size or seq - 1 in leaves:
                    raise ProofInvalid(f"{path.name}: record seq {seq} is out of place")
                if version == _ARCHIVE_V1:  # written before leaves covered the columns
                    leaves[seq - 1] = leaf_hash(body.encode("utf-8"))
                else:
                    received = entry.get("received_at")
                    leaves[seq - 1] = leaf_of_body(
                        body, None if received is None else str(received)
                    )
            else:
                lo, hi, value = entry["node"]
                nodes[(int(lo), int(hi))] = bytes.fromhex(value)
    except (StopIteration, KeyError, ValueError, TypeError) as exc:
        raise ProofInvalid(f"{path.name}: malformed archive ({type(exc).__name__})") from exc
    verify_checkpoint(checkpoint, public_key_pem)
    if len(leaves) != int(header.get("records", -1)):
        raise ProofInvalid(f"{path.name}: holds {len(leaves)} records, its header says otherwise")
    if store is not None:
        kept = dict(zip(sorted(leaves), _stored_leaves(store, sorted(leaves)), strict=True))
        for index in sorted(leaves):
            if kept[index] != leaves[index]:
                raise ChainBroken(f"archived record seq {index + 1} was altered")
    if root_from_subset(leaves, nodes, checkpoint.tree_size) != checkpoint.root_hash:
        raise ProofInvalid(
            f"{path.name}: its records do not give the root signed at {checkpoint.issued_at}: "
            "a record was altered, removed or added"
        )
    seqs = sorted(leaves)
    return ArchiveVerification(len(seqs), seqs[0] + 1, seqs[-1] + 1, checkpoint)


def _stored_leaves(store: EventStore, indices: list[int]) -> list[bytes]:
    wanted = {i + 1 for i in indices}
    found: dict[int, bytes] = {}
    for record in store.records(after=min(wanted) - 1, upto=max(wanted)):
        if record.seq in wanted:
            found[record.seq] = record.leaf_hash
    return [found.get(i + 1, b"") for i in indices]
