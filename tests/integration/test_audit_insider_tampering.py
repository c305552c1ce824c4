"""An insider with the database (a DBA, a backup restored with edits) against ``gateway-audit verify``,
on both databases: every column readers show — who, when, what, the outcome, the unit, the document,
the event id, the time flag — rewritten in a record under a signed checkpoint, in a record retention
archived, and in a recent record not yet signed; records deleted and inserted; the whole log
rewritten with fresh hashes. Each is named by ``verify`` (the record, and the column where the event
tells), and the same store untouched verifies."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.checkpoints import Checkpointer, MemoryCheckpointSigner
from audit.records import RecordColumns, leaf_from_parts, record_leaf
from audit.retention import apply_retention
from audit.store import EventSearch, chain_step, open_store
from tests.audit_cli import run_audit_cli
from tests.raw_database import Raw

pytestmark = [pytest.mark.postgres]

NOW = datetime.now(UTC).replace(microsecond=0)
#: Logins kept a year: the store's old logins are archived by retention (their bodies emptied).
POLICY = {"authentication": 365, "api_activity": 3650, "account_change": 1825, "finding": 1095}

#: Record positions in the fixture's log (see ``logged``).
ARCHIVED = 1  # an old login, archived by retention: no body, its columns still in the leaf
SIGNED = 5  # a signature under the signed checkpoint
RECENT = 12  # a signature after the last checkpoint: chained, not yet signed
FLAGGED = 8  # a login received with a time far from its own (received_at set)


def _event(n: int, tag: EventTag, *, days_ago: float, unit: str | None) -> AuditEvent:
    return AuditEvent.build(
        tag=tag,
        service="signing" if tag is EventTag.SIGNING_DOCUMENT_SIGN else "keycloak",
        actor=Actor(name=f"gv{n:05d}", client_id="e-office"),
        outcome=Outcome.SUCCESS if n % 2 else Outcome.FAILURE,
        target={"document_sha256": hashlib.sha256(f"doc{n}".encode()).hexdigest()}
        if tag is EventTag.SIGNING_DOCUMENT_SIGN
        else {},
        unit=unit,
    ).model_copy(update={"time": NOW - timedelta(days=days_ago)})


@dataclass
class Log:
    location: str
    key: Path
    where: dict[str, str]

    def verify(self) -> subprocess.CompletedProcess[str]:
        return run_audit_cli("verify", "--public-key", str(self.key), env=self.where)


@pytest.fixture
def logged(store_location: str, tmp_path: Path) -> Iterator[Log]:
    """A log of 12 records: 1-4 old logins (archived by retention), 5-7 signatures, 8 a login
    flagged at ingest, 9-10 signatures, a signed checkpoint over 1-10, then 11-12 not yet signed."""
    store = open_store(store_location)
    old = [_event(n, EventTag.IDP_LOGIN_FAILURE, days_ago=400, unit="79760101") for n in range(4)]
    signed = [
        _event(n, EventTag.SIGNING_DOCUMENT_SIGN, days_ago=1, unit="79760102") for n in range(4, 7)
    ]
    flagged = _event(7, EventTag.IDP_LOGIN_SUCCESS, days_ago=-365, unit=None)  # dated a year ahead
    more = [_event(n, EventTag.SIGNING_DOCUMENT_SIGN, days_ago=0, unit=None) for n in range(8, 10)]
    store.append([*old, *signed, flagged, *more], received_at={flagged.event_id: NOW.isoformat()})
    signer = MemoryCheckpointSigner()
    Checkpointer(store, signer).checkpoint()
    archived = apply_retention(store, POLICY, tmp_path / "archives", now=NOW)
    assert archived.archived == 4
    store.append(
        [_event(n, EventTag.SIGNING_DOCUMENT_SIGN, days_ago=0, unit="79760102") for n in (10, 11)]
    )
    assert store.count() == 12
    store.close()
    key = tmp_path / "checkpoint.pem"
    key.write_bytes(signer.public_key_pem)
    where = (
        {"AUDIT_DATABASE_URL": store_location}
        if store_location.startswith("postgresql://")
        else {"AUDIT_STORE_PATH": store_location}
    )
    yield Log(store_location, key, where)


def test_the_untouched_log_verifies(logged: Log) -> None:
    """The control: every verdict below changes because of the tampering, not the fixture."""
    result = logged.verify()
    assert result.returncode == 0, result.stdout
    assert "12 records" in result.stdout


#: (column, a value an insider would put there) — each a change of what a reader is shown.
REWRITES = [
    ("actor", "gv99999"),  # who did it
    ("tag", "signing:document:verify"),  # what was done
    ("time", "2026-01-01T00:00:00+00:00"),  # when
    ("outcome", "success"),  # whether it worked
    ("unit", "79769201"),  # whose officers see it (a district's scope)
    ("document", "0" * 64),  # which document (timelines)
    ("event_id", "f" * 32),  # which event (proofs, SIEM correlation)
    ("received_at", "2026-01-01T00:00:00+00:00"),  # the time flag
]


@pytest.mark.parametrize(("column", "value"), REWRITES, ids=[c for c, _ in REWRITES])
@pytest.mark.parametrize("seq", [SIGNED, RECENT], ids=["under-checkpoint", "not-yet-signed"])
def test_a_column_rewritten_is_named(logged: Log, column: str, value: str, seq: int) -> None:
    """Attack: column rewrite — a reader's value (count, search, timeline, CSV, report) changed
    in the database while the body is left alone."""
    raw = Raw(logged.location)
    raw.drop_guards()
    before = raw.run(f"SELECT {column} FROM events WHERE seq = ?", (seq,)).fetchone()[0]  # noqa: S608 - fixed names
    if before == value:  # a success made a failure, or the other way round
        value = "failure" if value == "success" else value + "0"
    raw.run(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, seq))  # noqa: S608 - fixed names
    raw.close()
    result = logged.verify()
    assert result.returncode == 1, result.stdout
    assert f"seq {seq}" in result.stdout
    if column != "received_at":  # the only column the event itself cannot tell
        assert f"column {column}" in result.stdout


@pytest.mark.parametrize(("column", "value"), REWRITES, ids=[c for c, _ in REWRITES])
def test_a_column_of_an_archived_record_rewritten_is_named(
    logged: Log, column: str, value: str
) -> None:
    """Attack: column rewrite of a record whose body retention archived — its columns are still
    in its leaf; its actor must stay empty."""
    raw = Raw(logged.location)
    raw.drop_guards()
    assert raw.run("SELECT body FROM events WHERE seq = ?", (ARCHIVED,)).fetchone()[0] is None
    raw.run(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, ARCHIVED))  # noqa: S608 - fixed names
    raw.close()
    result = logged.verify()
    assert result.returncode == 1, result.stdout
    assert f"seq {ARCHIVED}" in result.stdout
    assert "archived" in result.stdout


def test_a_flag_removed_is_named(logged: Log) -> None:
    """Attack: hide that an event's time was far from its arrival (clear the flag)."""
    raw = Raw(logged.location)
    raw.drop_guards()
    raw.run("UPDATE events SET received_at = NULL WHERE seq = ?", (FLAGGED,))
    raw.close()
    result = logged.verify()
    assert result.returncode == 1 and f"seq {FLAGGED}" in result.stdout, result.stdout


def test_the_digest_of_an_archived_record_replaced_is_named(logged: Log) -> None:
    """Attack: an archived record's digest swapped for another (to match forged columns)."""
    raw = Raw(logged.location)
    raw.drop_guards()
    raw.run("UPDATE events SET personal_digest = ? WHERE seq = ?", (bytes(32), ARCHIVED))
    raw.close()
    result = logged.verify()
    assert result.returncode == 1 and f"seq {ARCHIVED}" in result.stdout, result.stdout


@pytest.mark.parametrize("seq", [SIGNED, RECENT - 1], ids=["under-checkpoint", "not-yet-signed"])
def test_a_deleted_record_is_named(logged: Log, seq: int) -> None:
    """Attack: deletion of a record in the middle of the log. (The newest records after the last
    signed checkpoint can be cut off unseen by this check alone: checkpoints every 30 s bound
    that, and witnesses of the checkpoints are the other half of issue 13.)"""
    raw = Raw(logged.location)
    raw.drop_guards()
    raw.run("DELETE FROM events WHERE seq = ?", (seq,))
    raw.close()
    result = logged.verify()
    assert result.returncode == 1, result.stdout
    assert f"between seq {seq - 1} and seq {seq + 1}" in result.stdout


def test_the_newest_records_cut_off_below_a_checkpoint_are_reported(logged: Log) -> None:
    """Attack: truncation below the last signed checkpoint."""
    raw = Raw(logged.location)
    raw.drop_guards()
    raw.run("DELETE FROM events WHERE seq >= 9")
    raw.close()
    result = logged.verify()
    assert result.returncode == 1 and "records removed" in result.stdout, result.stdout


_ROW = (
    "SELECT event_id, tag, time, actor, outcome, unit, document, received_at, body,"
    " personal_digest FROM events"
)


def _rewrite_from(raw: Raw, position: int, head: bytes, rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` (of ``_ROW``'s columns) at ``position`` on, with their leaves and a chain
    recomputed from ``head``: what someone who knows the leaf format would do."""
    for seq, row in enumerate(rows, start=position):
        columns = RecordColumns(*row[:8])
        body, personal = row[8], row[9]
        leaf = (
            record_leaf(columns, body)
            if body is not None
            else leaf_from_parts(columns, bytes(personal))
        )
        head = chain_step(head, leaf)
        raw.run(
            "INSERT INTO events (seq, event_id, tag, time, actor, outcome, unit, document,"
            " received_at, leaf_hash, chain_hash, body, personal_digest)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, *columns, leaf, head, body, personal),
        )


def test_an_inserted_record_with_consistent_hashes_is_caught_by_the_checkpoint(
    logged: Log,
) -> None:
    """Attack: insertion — a forged record at position 6, with its own leaf and the chain
    recomputed from there on (so the chain alone holds): the signed root no longer matches."""
    raw = Raw(logged.location)
    raw.drop_guards()
    forged = _event(50, EventTag.SIGNING_DOCUMENT_SIGN, days_ago=1, unit="79760102")
    head = bytes(raw.run("SELECT chain_hash FROM events WHERE seq = 5").fetchone()[0])
    after = [tuple(r) for r in raw.run(f"{_ROW} WHERE seq >= 6 ORDER BY seq").fetchall()]
    raw.run("DELETE FROM events WHERE seq >= 6")
    inserted = (*RecordColumns.of(forged), forged.canonical_json(), None)
    _rewrite_from(raw, 6, head, [inserted, *after])
    raw.close()
    result = logged.verify()
    assert result.returncode == 1, result.stdout
    assert "rewritten" in result.stdout


def test_a_log_rewritten_column_and_hashes_alike_is_caught_by_the_checkpoint(
    logged: Log,
) -> None:
    """Attack: a column rewritten *and* every leaf and chain hash recomputed after it: the chain
    holds, the signed checkpoint does not."""
    raw = Raw(logged.location)
    raw.drop_guards()
    head = bytes(raw.run("SELECT chain_hash FROM events WHERE seq = 4").fetchone()[0])
    rows = [list(r) for r in raw.run(f"{_ROW} WHERE seq >= 5 ORDER BY seq").fetchall()]
    rows[0][5] = "79769201"  # record 5 moved out of district 760's sight
    raw.run("DELETE FROM events WHERE seq >= 5")
    _rewrite_from(raw, 5, head, [tuple(r) for r in rows])
    raw.close()
    result = logged.verify()
    assert result.returncode == 1, result.stdout
    assert "rewritten" in result.stdout


def test_what_readers_count_comes_from_the_verified_columns(logged: Log) -> None:
    """What the tests above protect: the dashboard's scope and counts read these columns."""
    store = open_store(logged.location)
    try:
        district = frozenset({"79760101", "79760102"})
        shown = store.search(EventSearch(units=district), limit=100)
        counted = store.count_by(EventSearch(units=district), ("tag",))
    finally:
        store.close()
    assert {r.seq for r in shown} == {5, 6, 7, 11, 12}  # archived records show no body
    assert dict((k[0], n) for k, n in counted) == {
        "signing:document:sign": 5,
        "idp:login:failure": 4,  # the archived ones count, by their verified columns
    }
