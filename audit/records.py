"""What one stored record of the audit log commits to: its leaf in the Merkle tree and the chain.

Readers (the dashboard's counts, searches, timelines, CSV exports, reports, detection) select and
show the store's columns, not only the JSON body: so the leaf covers the columns too, each value as
the store keeps it, and ``audit verify`` recomputes the leaf from the columns. Changing ``tag``,
``time``, ``actor``, ``outcome``, ``unit``, ``document``, ``event_id`` or ``received_at`` of any
record breaks its leaf, the chain after it and every signed checkpoint over it.

Leaf (format v3), hashed as RFC 9162 prescribes, ``leaf_hash = SHA-256(0x00 || leaf_data)``::

    leaf_data = "edu-gateway/audit-leaf/v3\\n"
                || columns: event_id, tag, time, outcome, unit, document, received_at, each
                   as "<length>:<text>" (characters), or "~" when empty (NULL)
                || "\\n" || personal_digest
    personal_digest = SHA-256("<length of actor>:" || actor || body)   (UTF-8)

The actor and the body (the event as its producer sent it) form one digest because retention
removes exactly those two (personal data) and keeps the digest in their place: an archived record's
remaining columns still verify, with nothing personal left to guess from (the digest is salted by
the body's random event id). Every column is derived from the body at ingest (:meth:`RecordColumns.of`),
except ``received_at``, the time the log received an event whose own time was far from it (flagged).
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import NamedTuple

from audit.events import AuditEvent

LEAF_FORMAT = b"edu-gateway/audit-leaf/v3\n"
#: The actor column of a record whose body retention archived.
PRUNED_ACTOR = "-"


#: The hash state after ``0x00 || LEAF_FORMAT`` (RFC 9162's leaf prefix), copied for each leaf.
LEAF_PREFIX_STATE = hashlib.sha256(b"\x00" + LEAF_FORMAT)


class RecordColumns(NamedTuple):
    """The store's columns of one record, exactly as the leaf covers them. (A named tuple: the
    verifier builds ten million of them, at a third of a frozen dataclass's cost.)"""

    event_id: str
    tag: str
    time: str
    actor: str
    outcome: str
    unit: str | None
    document: str | None
    received_at: str | None = None

    @classmethod
    def of(cls, event: AuditEvent, received_at: str | None = None) -> RecordColumns:
        """The columns the store derives from an event (times in UTC, whatever zone it came in)."""
        target = event.target
        return cls(
            event.event_id,
            str(event.tag),  # a StrEnum: its value
            event.time.astimezone(UTC).isoformat(),
            event.actor.name,
            str(event.outcome),
            event.unit,
            target.get("document_sha256") or target.get("signed_sha256") or None,
            received_at,
        )

    def encoded(self) -> bytes:
        """The columns' part of the leaf (the actor is in the personal digest): each value as
        ``<length>:<text>``, ``~`` for none; one expression, the verifier's inner loop."""
        e, t, w, o, u, d, r = (
            self.event_id,
            self.tag,
            self.time,
            self.outcome,
            self.unit,
            self.document,
            self.received_at,
        )
        return (
            f"{len(e)}:{e}{len(t)}:{t}{len(w)}:{w}{len(o)}:{o}"
            f"{'~' if u is None else f'{len(u)}:{u}'}"
            f"{'~' if d is None else f'{len(d)}:{d}'}"
            f"{'~' if r is None else f'{len(r)}:{r}'}"
        ).encode()

    def differences(self, other: RecordColumns) -> list[str]:
        """The names of the columns whose values differ from ``other``'s."""
        return [
            name
            for name in (
                "event_id",
                "tag",
                "time",
                "actor",
                "outcome",
                "unit",
                "document",
                "received_at",
            )
            if getattr(self, name) != getattr(other, name)
        ]


def personal_digest(actor: str, body: str) -> bytes:
    """The digest standing for the actor and the body (kept once retention removed them)."""
    return hashlib.sha256(f"{len(actor)}:{actor}{body}".encode()).digest()


def leaf_from_parts(columns: RecordColumns, personal: bytes) -> bytes:
    """The leaf hash from the columns and the personal digest (an archived record's way):
    ``SHA-256(0x00 || LEAF_FORMAT || columns || "\n" || personal)``."""
    state = LEAF_PREFIX_STATE.copy()
    state.update(columns.encoded() + b"\n" + personal)
    return state.digest()


def record_leaf(columns: RecordColumns, body: str) -> bytes:
    """The leaf hash of a record that still holds its body."""
    return leaf_from_parts(columns, personal_digest(columns.actor, body))


def leaf_of_body(body: str, received_at: str | None = None) -> bytes:
    """The leaf hash of an event from its body alone (inclusion proofs, archives): the columns
    are derived from the body as the store derived them at ingest."""
    event = AuditEvent.model_validate_json(body)
    return record_leaf(RecordColumns.of(event, received_at), body)
