"""The audit store's contract, run against both databases: the embedded SQLite file and the real
PostgreSQL (same code, same answers)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audit import Actor, AuditEvent, ChainBroken, EventTag, Outcome
from audit.checkpoints import (
    Checkpointer,
    MemoryCheckpointSigner,
    check_proof_document,
    prove_event,
)
from audit.store import EventSearch, EventStore, StoreError, migrate, open_store
from audit.tree_head import SignedTreeHead
from devstack import postgres
from tests.raw_database import OWNER_URLS, Raw

pytestmark = [pytest.mark.postgres]


def _event(n: int, *, unit: str | None = None, at: datetime | None = None) -> AuditEvent:
    event = AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_SIGN,
        service="signing",
        actor=Actor(name=f"user{n}"),
        outcome=Outcome.SUCCESS,
        target={"document_sha256": f"{n:064x}"},
        unit=unit,
    )
    return event.model_copy(update={"time": at}) if at else event


@pytest.fixture
def store(store_location: str) -> Iterator[EventStore]:
    opened = open_store(store_location)
    yield opened
    opened.close()


REFUSED = (sqlite3.DatabaseError, psycopg.Error)


def test_redelivered_event_is_stored_once(store: EventStore) -> None:
    events = [_event(i) for i in range(5)]
    assert store.append(events) == 5
    assert store.append(events[2:]) == 0
    again = _event(9)
    assert store.append([events[0], again, again]) == 1  # a duplicate within one batch too
    assert store.count() == 6
    assert store.verify_chain() == 6


def test_store_refuses_update_delete_and_unarchived_pruning(
    store: EventStore, store_location: str
) -> None:
    store.append([_event(1), _event(2)])
    store.add_checkpoint(SignedTreeHead(2, bytes(32), "2026-11-29T00:00:00+00:00", "k", b"sig"))
    raw = Raw(store_location)
    for statement in (
        "UPDATE events SET actor = 'x'",
        "DELETE FROM events",
        "UPDATE events SET body = NULL, actor = '-' WHERE seq = 1",  # not archived first
        "UPDATE checkpoints SET key_id = 'x'",
    ):
        with pytest.raises(REFUSED, match="append-only"):
            raw.run(statement)
    if raw.postgres:
        with pytest.raises(psycopg.Error, match="append-only"):
            raw.run("TRUNCATE events")
    # Attack class: emptying a recent record by declaring it archived (whoever may write the
    # archive list — on PostgreSQL, the service's own role — must still not empty a record younger
    # than the shortest retention, a year).
    raw.run("INSERT INTO archived (seq, archive, archived_at) VALUES (1, 'forged', '2026-11-29')")
    with pytest.raises(REFUSED, match="append-only"):
        raw.run(
            "UPDATE events SET body = NULL, actor = '-', personal_digest = ? WHERE seq = 1",
            (bytes(32),),
        )
    raw.close()
    assert store.verify_chain() == 2
    assert len(store.search(EventSearch(actor="user1"))) == 1


@pytest.mark.parametrize("attack", ["alter", "remove", "insert", "empty"])
def test_chain_names_the_first_record_that_was_tampered_with(
    store: EventStore, store_location: str, attack: str
) -> None:
    store.append([_event(i) for i in range(10)])
    raw = Raw(store_location)
    raw.drop_guards()
    if attack == "alter":
        raw.run("UPDATE events SET body = replace(body, 'user4', 'userX') WHERE seq = 5")
    elif attack == "remove":
        raw.run("DELETE FROM events WHERE seq = 5")
    elif attack == "empty":  # a body removed without going through retention's archive
        raw.run("UPDATE events SET body = NULL WHERE seq = 5")
    else:
        columns = "event_id, tag, time, actor, outcome, leaf_hash, chain_hash, body"
        row = raw.run(f"SELECT {columns} FROM events WHERE seq = 4").fetchone()  # noqa: S608 - fixed
        raw.run("UPDATE events SET seq = seq + 100 WHERE seq >= 5")
        raw.run(
            f"INSERT INTO events (seq, {columns}) VALUES (5, 'x' || ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed
            tuple(row),
        )
    raw.close()
    expected = {
        "alter": "altered record: seq 5",
        "remove": "between seq 4 and seq 6",
        "insert": "altered record: seq 5",
        "empty": "seq 5 lost its body without being archived",
    }[attack]
    with pytest.raises(ChainBroken, match=expected):
        store.verify_chain()


def test_search_units_documents_and_histogram(store: EventStore) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store.append(
        [
            _event(1, unit="79760101", at=now - timedelta(hours=2)),
            _event(2, unit="79760102", at=now - timedelta(hours=2)),
            _event(3, unit="79761201", at=now - timedelta(hours=1)),
            _event(4, at=now),
        ]
    )
    assert len(store.search(EventSearch())) == 4
    district = frozenset({"phong-760", "79760101", "79760102"})
    scoped = store.search(EventSearch(units=district))
    assert sorted(e.event["actor"]["name"] for e in scoped) == ["user1", "user2"]
    assert store.search(EventSearch(units=frozenset())) == []  # no unit: nothing
    assert [e.event["actor"]["name"] for e in store.search(EventSearch(document=f"{3:064x}"))] == [
        "user3"
    ]
    assert store.search(EventSearch(text="' OR 1=1 --")) == []  # a value, never SQL
    assert len(store.search(EventSearch(text="user3"))) == 1
    counts = store.histogram(
        ["signing:document:sign"], since=now - timedelta(days=1), bucket="hour", units=district
    )
    hour = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H")
    assert counts == {(hour, "signing:document:sign", "success"): 2}
    assert len(store.query(correlation_id="nothing-like-it")) == 0


def test_concurrent_writers_keep_one_unbroken_chain(store_location: str) -> None:
    """Two services appending at once (two connections): positions and chain stay whole."""
    first, second = open_store(store_location), open_store(store_location)
    errors: list[BaseException] = []

    def write(target: EventStore, offset: int) -> None:
        try:
            for batch in range(20):
                target.append([_event(offset + batch * 10 + i) for i in range(10)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(first, 0)),
        threading.Thread(target=write, args=(second, 10_000)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert first.verify_chain() == 400
    first.close()
    second.close()


def test_an_old_schema_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite3")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema 1"):
        open_store(tmp_path / "old.sqlite3")


def test_a_schema_2_store_is_refused_with_a_clear_error_and_left_as_it_was(
    store_location: str,
) -> None:
    """A store written before records committed to their columns cannot be extended under the
    new leaves (its chain would mix two meanings): refused, with what to do, and untouched — by
    the service, and on PostgreSQL by the migration too."""
    raw = Raw(store_location)
    if raw.postgres:  # a database holding a schema-2 store, as its owner left it
        raw.run("UPDATE store_meta SET value = '2' WHERE name = 'schema'")
        raw.run("DROP TABLE quarantine")
    else:
        raw.run("CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        raw.run("INSERT INTO store_meta (name, value) VALUES ('schema', '2')")
        raw.run("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT)")
    with pytest.raises(StoreError, match="schema 2 and this version reads schema 3") as caught:
        open_store(store_location)
    assert "verify it with the release that wrote it" in str(caught.value)
    if raw.postgres:
        with pytest.raises(StoreError, match="schema 2 and this version reads schema 3"):
            migrate(OWNER_URLS[store_location], postgres.RUNTIME_ROLE)
    found = raw.run(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'quarantine'"
        if raw.postgres
        else "SELECT COUNT(*) FROM sqlite_master WHERE name = 'quarantine'"
    ).fetchone()[0]
    raw.close()
    assert found == 0  # nothing was created in the old store


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot connect") as caught:
        open_store("postgresql://audit:s3cret-pw@127.0.0.1:1/audit")
    assert "s3cret-pw" not in caught.value.diagnostics()


def test_checkpoints_are_incremental_and_never_sign_over_a_tampered_log(
    store: EventStore, store_location: str
) -> None:
    signer = MemoryCheckpointSigner()
    checkpointer = Checkpointer(store, signer)
    store.append([_event(i) for i in range(5)])
    assert checkpointer.checkpoint().tree_size == 5  # type: ignore[union-attr]
    assert checkpointer.checkpoint() is None  # nothing new
    # An event's proof (the leaf hashes streamed, not loaded) checks offline with the public key.
    first = store.search(EventSearch(actor="user3"))[0].event["event_id"]
    proof = prove_event(store, first)
    assert proof is not None and proof["leaf_index"] == 3
    assert check_proof_document(proof, signer.public_key_pem).tree_size == 5
    store.append([_event(i) for i in range(5, 8)])
    raw = Raw(store_location)
    raw.drop_guards()
    raw.run("UPDATE events SET body = replace(body, 'user6', 'userX') WHERE seq = 7")
    with pytest.raises(ChainBroken, match="seq 7"):
        checkpointer.checkpoint()
    # Altered below the last checkpoint: a fresh checkpointer finds the root no longer matches.
    raw.run("UPDATE events SET body = replace(body, 'user6', 'user6') WHERE seq = 7")
    raw.run("UPDATE events SET leaf_hash = chain_hash WHERE seq = 2")
    raw.close()
    with pytest.raises(ChainBroken, match="rewritten"):
        Checkpointer(store, signer).checkpoint()
    assert [c.tree_size for c in store.checkpoints()] == [5]


def test_reading_the_whole_log_does_not_hold_up_the_writer(store: EventStore) -> None:
    """``audit verify`` streams 10 million records: the ingestor must go on appending meanwhile."""
    store.append([_event(i) for i in range(50)])
    reading = store.records()
    assert next(reading).seq == 1  # a long read under way
    written: list[int] = []
    writer = threading.Thread(target=lambda: written.append(store.append([_event(99)])))
    writer.start()
    writer.join(timeout=10)
    assert written == [1]
    assert sum(1 for _ in reading) == 49  # the reader's snapshot: what was there when it began
    assert store.verify_chain() == 51


def test_the_dashboards_reads_do_not_wait_for_a_commit_under_way(store: EventStore) -> None:
    """An officer's search, counts, histogram, report and quarantine list go on while the ingestor
    holds the store for a commit (before: each waited for the writer's lock, and the writer for
    them — a second-long search on a year of events held the ingest up for that second)."""
    base = datetime.now(UTC) - timedelta(hours=1)
    store.append([_event(i, unit="79760101", at=base + timedelta(seconds=i)) for i in range(20)])
    committing, release = threading.Event(), threading.Event()

    def long_commit() -> None:
        with store._transaction():  # the writer's side, held as a slow commit holds it
            committing.set()
            release.wait(30)

    writer = threading.Thread(target=long_commit)
    writer.start()
    assert committing.wait(10)
    answers: dict[str, object] = {}

    def read() -> None:
        answers["count"] = store.count()
        answers["search"] = len(store.search(EventSearch(text="user1"), limit=50))
        answers["words"] = len(store.search(EventSearch(words="user1"), limit=50))
        answers["histogram"] = sum(
            store.histogram(
                [EventTag.SIGNING_DOCUMENT_SIGN.value], since=base, bucket="hour"
            ).values()
        )
        answers["count_by"] = store.count_by(EventSearch(since=base), ["tag"])
        answers["span"] = store.positions_between(base, datetime.now(UTC))
        answers["quarantined"] = store.quarantined()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=10)
    finished_while_held = not reader.is_alive()
    release.set()
    writer.join(timeout=10)
    reader.join(timeout=10)
    assert finished_while_held, "a dashboard read waited for the writer"
    assert answers == {
        "count": 20,
        "search": 11,  # user1, user10 … user19
        "words": 1,  # the word user1
        "histogram": 20,
        "count_by": [(("signing:document:sign",), 20)],
        "span": (1, 20),
        "quarantined": [],
    }


def test_officers_searching_at_once_share_a_few_readers(store: EventStore) -> None:
    """Sixteen officers' searches at once open at most READERS connections (PostgreSQL sessions),
    each answering the same as alone."""
    from concurrent.futures import ThreadPoolExecutor

    from audit.store.connection import READERS

    store.append([_event(i) for i in range(30)])
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda n: len(store.search(EventSearch(text=f"user{n % 3}"))), range(160))
        )
    assert answers == [11 if n % 3 == 1 else (11 if n % 3 == 2 else 1) for n in range(160)]
    assert 1 <= len(store._opened_readers) <= READERS


def test_a_slow_search_does_not_hold_up_the_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A free-text search reads event bodies for seconds on a year of events; the ingestor's
    commits go through meanwhile, and the search, when it ends, answers. Here the officer's
    search is held inside SQLite (a progress handler on every connection, which waits in the
    officer's thread only) while the ingestor appends."""
    inside, release = threading.Event(), threading.Event()
    connect = sqlite3.connect

    def held(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)

        def progress() -> int:
            if threading.current_thread().name == "officer" and not release.is_set():
                inside.set()
                release.wait(30)
            return 0

        connection.set_progress_handler(progress, 100)
        return connection

    monkeypatch.setattr(sqlite3, "connect", held)
    store = open_store(tmp_path / "events.sqlite3")
    try:
        store.append([_event(i) for i in range(10)])
        found: list[int] = []
        search = threading.Thread(
            target=lambda: found.append(len(store.search(EventSearch(text="user3"), limit=50))),
            name="officer",
        )
        search.start()
        assert inside.wait(10)
        appended: list[int] = []
        writer = threading.Thread(target=lambda: appended.append(store.append([_event(30)])))
        writer.start()
        writer.join(timeout=10)
        committed_during_search = appended == [1]
        release.set()
        search.join(timeout=30)
        writer.join(timeout=30)
        assert committed_during_search, "the ingest waited for an officer's search"
        assert found and found[0] in {1, 2}  # user3 (and user30 if the search began after it)
        assert store.count() == 11 and store.verify_chain() == 11
    finally:
        release.set()
        store.close()


def test_quarantined_entries_are_kept_apart_append_only_and_listed(
    store: EventStore, store_location: str
) -> None:
    """Entries refused at ingest are evidence: kept once each (a re-read batch adds nothing),
    outside the chain, refused UPDATE and DELETE, and listed by ``gateway-audit quarantine``."""
    from audit.store import QuarantinedEntry
    from tests.audit_cli import run_audit_cli

    forged = QuarantinedEntry(
        "1796138190092-0", "2026-12-01T00:00:00+00:00", "signing", "bad-seal", '{"forged":1}'
    )
    assert store.append([_event(1)], quarantine=[forged]) == 1
    assert store.append([], quarantine=[forged]) == 0  # the same batch read again
    assert store.quarantined() == [forged]
    assert store.verify_chain() == 1  # not a record of the log
    raw = Raw(store_location)
    for statement in ("UPDATE quarantine SET reason = 'x'", "DELETE FROM quarantine"):
        with pytest.raises(REFUSED, match="append-only"):
            raw.run(statement)
    raw.close()
    where = (
        {"AUDIT_DATABASE_URL": store_location}
        if store_location.startswith("postgresql://")
        else {"AUDIT_STORE_PATH": store_location}
    )
    listed = run_audit_cli("quarantine", env=where)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "1796138190092-0" in listed.stdout and "reason=bad-seal" in listed.stdout
    assert "01/12/2026 07:00:00 (UTC+07:00)" in listed.stdout  # received at, in local time


def test_a_search_bound_in_another_zone_is_the_same_instant(store: EventStore) -> None:
    """A SIEM asking for the events since 07:00+07:00 (00:00 UTC) gets the one at 03:00 UTC (the
    bound was compared, as text, with UTC times: seven hours of events went missing)."""
    hanoi = timezone(timedelta(hours=7))
    at = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    store.append([_event(1, at=at)])
    since_local = datetime(2026, 12, 1, 7, 0, tzinfo=hanoi)
    assert len(store.search(EventSearch(since=since_local), limit=10)) == 1
    assert (
        len(store.search(EventSearch(since=datetime(2026, 12, 1, 11, 0, tzinfo=hanoi)), limit=10))
        == 0
    )
    assert (
        len(store.search(EventSearch(until=datetime(2026, 12, 1, 10, 1, tzinfo=hanoi)), limit=10))
        == 1
    )
    assert len(store.search(EventSearch(until=since_local), limit=10)) == 0
