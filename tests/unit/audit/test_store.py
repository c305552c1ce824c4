from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, ChainBroken, EventTag, Outcome
from audit.store import SqliteEventStore


def _event(n: int) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="signing",
        actor=Actor(name=f"user{n}"),
        outcome=Outcome.SUCCESS,
        target={"document_sha256": f"{n:064x}"},
    )


def test_redelivered_event_is_stored_once(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "a.db")
    events = [_event(i) for i in range(5)]
    assert store.append(events) == 5
    assert store.append(events[2:]) == 0
    assert store.count() == 5
    assert store.verify_chain() == 5


def test_store_refuses_update_and_delete(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "a.db")
    store.append([_event(1)])
    db = sqlite3.connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET actor = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events")


@pytest.mark.parametrize("attack", ["alter", "remove", "insert"])
def test_chain_names_the_first_record_that_was_tampered_with(tmp_path: Path, attack: str) -> None:
    store = SqliteEventStore(tmp_path / "a.db")
    store.append([_event(i) for i in range(10)])
    store.close()
    db = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER events_no_delete")
    if attack == "alter":
        db.execute("UPDATE events SET body = replace(body, 'user4', 'userX') WHERE seq = 5")
    elif attack == "remove":
        db.execute("DELETE FROM events WHERE seq = 5")
    else:
        row = db.execute(
            "SELECT event_id, tag, time, actor, outcome, body, chain_hash FROM events WHERE seq = 4"
        ).fetchone()
        db.execute("UPDATE events SET seq = seq + 100 WHERE seq >= 5")
        db.execute(
            "INSERT INTO events (seq, event_id, tag, time, actor, outcome, body, chain_hash)"
            " VALUES (5, 'inserted-' || ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    db.close()
    expected = "between seq 4 and seq 6" if attack == "remove" else "altered record: seq 5"
    with pytest.raises(ChainBroken, match=expected):
        SqliteEventStore(tmp_path / "a.db").verify_chain()


def test_event_schema_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="citizen_id"):
        AuditEvent.model_validate({**_event(1).model_dump(), "citizen_id": "001203004567"})
