"""What a record's leaf commits to: every column a reader shows, with or without the body."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.records import (
    RecordColumns,
    leaf_from_parts,
    leaf_of_body,
    personal_digest,
    record_leaf,
)


def _event() -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="signing",
        actor=Actor(name="gv000001"),
        outcome=Outcome.SUCCESS,
        target={"document_sha256": "ab" * 32},
        unit="79760101",
    )


def test_every_column_changes_the_leaf() -> None:
    """Attack: each column rewritten on its own, the body untouched."""
    event = _event()
    body = event.canonical_json()
    columns = RecordColumns.of(event)
    leaf = record_leaf(columns, body)
    assert leaf_of_body(body) == leaf
    for name in RecordColumns._fields:
        changed = columns._replace(**{name: "x"})
        assert record_leaf(changed, body) != leaf, name
    assert record_leaf(columns, body.replace("gv000001", "gv000002")) != leaf


def test_an_archived_record_keeps_its_leaf_from_the_digest() -> None:
    event = _event()
    body = event.canonical_json()
    columns = RecordColumns.of(event, received_at="2026-11-29T00:00:00+00:00")
    digest = personal_digest(columns.actor, body)
    assert leaf_from_parts(columns, digest) == record_leaf(columns, body)
    assert leaf_from_parts(columns._replace(unit="797"), digest) != record_leaf(columns, body)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a", None), (None, "a")),  # a value moved from unit to document
        (("ab", "c"), ("a", "bc")),  # a boundary moved
        (("", None), (None, "")),  # empty is not none
        (("1:x", None), ("1", ":x")),  # a value that looks like an encoded one
    ],
)
def test_the_encoding_of_columns_is_unambiguous(
    first: tuple[str | None, str | None], second: tuple[str | None, str | None]
) -> None:
    base = RecordColumns.of(_event())
    one = base._replace(unit=first[0], document=first[1])
    two = base._replace(unit=second[0], document=second[1])
    assert one.encoded() != two.encoded()
    assert personal_digest("ab", "c") != personal_digest("a", "bc")


def test_times_are_stored_in_utc_whatever_zone_they_came_in() -> None:
    event = _event().model_copy(
        update={"time": datetime(2026, 11, 29, 15, 0, tzinfo=timezone(timedelta(hours=7)))}
    )
    assert RecordColumns.of(event).time == "2026-11-29T08:00:00+00:00"


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        AuditEvent.model_validate({**_event().model_dump(), "time": "2026-11-29T08:00:00"})
