"""What the audit store holds and hands out: records, events, searches, and the chain's step."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from audit.errors import AuditError
from audit.events import AuditEvent
from audit.records import (
    RecordColumns,
    leaf_from_parts,
    record_leaf,
)
from audit.store.sql import SQLITE, Dialect
from audit.store.words import fts5_phrase

GENESIS = bytes(32)
#: 3: leaves cover the columns (``audit/records.py``); ``received_at``, ``personal_digest``,
#: ``quarantine``. 2: leaves of the body alone. 1: no leaves.
SCHEMA_VERSION = 3


def chain_step(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(previous + leaf).digest()


def old_schema(found: str | int) -> StoreError:
    return StoreError(
        f"the audit store has schema {found} and this version reads schema {SCHEMA_VERSION} "
        "(its records commit to their columns too): keep it (verify it with the release that wrote "
        "it), move it aside or point the service at a new database, and a new log starts"
    )


def to_record(row: Sequence[Any]) -> LogRecord:
    seq, event_id, tag, time, actor, outcome, unit, document, received_at = row[:9]
    leaf, chain, body, personal = row[9:]
    return LogRecord(
        int(seq),
        bytes(leaf),
        bytes(chain),
        body,
        RecordColumns(event_id, tag, time, actor, outcome, unit, document, received_at),
        bytes(personal) if personal is not None else None,
    )


@dataclass(frozen=True)
class EventSearch:
    """Filters of the dashboard's search; every value is bound, never formatted into SQL."""

    tag: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Matches a document's SHA-256 (input or signed output) in the event's target.
    document: str | None = None
    #: Free text, matched anywhere in the event's JSON body, as written (not indexed: for what
    #: another filter has already narrowed, like a scan run's id).
    text: str | None = None
    #: Words, as an officer types them: found through the free-text index, whole words in this
    #: order, any letter case (:mod:`audit.store.words`).
    words: str | None = None
    #: Only events of these units (a district officer's scope); ``None`` means every event.
    units: frozenset[str] | None = None

    def where(self, dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("tag", self.tag),
            ("actor", self.actor),
            ("outcome", self.outcome),
            ("document", self.document),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        # Stored times are UTC ISO 8601, compared as text: a bound in another zone (a SIEM asking
        # "since 07:00+07:00") is said in UTC first, or seven hours of events go missing.
        if self.since:
            clauses.append("time >= ?")
            params.append(_utc(self.since))
        if self.until:
            clauses.append("time < ?")
            params.append(_utc(self.until))
        if self.text:
            clauses.append(dialect.text_contains)
            params.append(self.text)
        if self.words:
            phrase = fts5_phrase(self.words)
            if phrase is None:  # no letter or digit in it: no word to find
                clauses.append("1 = 0")
            else:
                clauses.append(dialect.words_match)
                # SQLite: the phrase in the index, and for the newest records not yet indexed;
                # PostgreSQL parses the words itself, as it did when it indexed them.
                params.extend(
                    [phrase, phrase]
                    if dialect.name == "sqlite"
                    else [unicodedata.normalize("NFC", self.words)]
                )
        if self.units is not None:
            if not self.units:
                clauses.append("1 = 0")  # a scope of no unit sees nothing
            else:
                clauses.append(f"unit IN ({','.join('?' * len(self.units))})")
                params.extend(sorted(self.units))
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    chain_hash: str
    event: dict[str, Any]
    #: Hex of the record's leaf hash (what the chain step after ``seq - 1`` added).
    leaf_hash: str = ""
    #: When the log received it, if that was far from the event's own time (a flagged event).
    received_at: str | None = None
    #: The event exactly as stored (what the leaf covers), ``event`` parsed from it.
    body: str = ""


class LogRecord(NamedTuple):
    """One record as the verifier reads it: the body is ``None`` once retention archived it, and
    ``personal_digest`` then stands for the body and the actor. (A named tuple: cheap to build by
    the ten million.)"""

    seq: int
    leaf_hash: bytes
    chain_hash: bytes
    body: str | None
    columns: RecordColumns
    personal_digest: bytes | None = None

    def computed_leaf(self) -> bytes | None:
        """The leaf hash its columns and body (or digest) give; None if an archived record has no
        digest."""
        if self.body is not None:
            return record_leaf(self.columns, self.body)
        if self.personal_digest is None:
            return None
        return leaf_from_parts(self.columns, self.personal_digest)

    def fault(self) -> str:
        """What is wrong with a record whose leaf does not match, as precisely as it can be told."""
        where = f"first altered record: seq {self.seq}"
        if self.body is None:
            if self.personal_digest is None:
                return f"{where} (archived without the digest of its body)"
            return f"{where} (archived; a column or its digest was changed)"
        try:
            derived = RecordColumns.of(
                AuditEvent.model_validate_json(self.body), self.columns.received_at
            )
        except ValidationError:
            return f"{where} (its body is not a valid event any more)"
        changed = derived.differences(self.columns)
        if changed:
            return f"{where} (column {', '.join(changed)} differs from the event it records)"
        return f"{where} (its body or its flag changed)"


@dataclass(frozen=True)
class QuarantinedEntry:
    """A stream entry that failed its producer's authentication (or is not an event at all)."""

    entry_id: str
    received_at: str
    producer: str | None
    reason: str
    payload: str


class StoreError(AuditError):
    code = "audit-store"
    status_code = 503
    message_vi = "Kho nhật ký kiểm toán không dùng được."
    message_en = "The audit store cannot be used."


def _utc(moment: datetime) -> str:
    """``moment`` as stored times are written: UTC ISO 8601 (a time without a zone is UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()
