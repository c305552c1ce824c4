"""The officers' free-text search through the words' index, on both databases: what it finds, what
it must not find, hostile input, and that retention takes an archived person's words out of the
index too (the index would otherwise keep the names the prune removed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.checkpoints import Checkpointer, MemoryCheckpointSigner
from audit.retention import apply_retention
from audit.store import EventSearch, EventStore, open_store
from audit.verification import verify_log

pytestmark = [pytest.mark.postgres]

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _event(name: str, days_ago: float, **target: str) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.IDP_LOGIN_SUCCESS,
        service="keycloak",
        actor=Actor(name=name),
        outcome=Outcome.SUCCESS,
        target=target,
        unit="79760101",
    ).model_copy(update={"time": NOW - timedelta(days=days_ago)})


@pytest.fixture
def store(store_location: str) -> Iterator[EventStore]:
    opened = open_store(store_location)
    opened.append(
        [
            _event("Nguyễn Văn An", 3, document="Học bạ lớp 10A1 — hs-2026/12"),
            _event("Trần Thị Bình", 2, reason="sai mật khẩu"),
            _event("Nguyen Van Binh", 1, ip="10.75.115.95"),
            _event('gv.quoc"an', 1, note='he said "NEAR(a b)" * OR -x'),
        ]
    )
    yield opened
    opened.close()


def _names(store: EventStore, words: str) -> list[str]:
    return sorted(e.event["actor"]["name"] for e in store.search(EventSearch(words=words)))


def _check_answers(store: EventStore) -> None:
    assert _names(store, "Nguyễn Văn") == ["Nguyễn Văn An"]
    assert _names(store, "nguyễn văn an") == ["Nguyễn Văn An"]  # any letter case
    assert _names(store, "NGUYỄN") == ["Nguyễn Văn An"]
    assert _names(store, "Văn Nguyễn") == []  # words in the order typed
    assert _names(store, "Nguyen") == ["Nguyen Van Binh"]  # diacritics count
    assert _names(store, "hs-2026/12") == ["Nguyễn Văn An"]
    assert _names(store, "lớp 10A1") == ["Nguyễn Văn An"]
    assert _names(store, "sai mật khẩu") == ["Trần Thị Bình"]
    assert _names(store, "10.75.115.95") == ["Nguyen Van Binh"]
    assert _names(store, "79760101") == sorted(
        ["Nguyễn Văn An", "Trần Thị Bình", "Nguyen Van Binh", 'gv.quoc"an']
    )
    # Field names are not words of the event; values only.
    assert _names(store, "document") == []
    assert _names(store, "reason") == []
    # Hostile input: SQL and FTS syntax are words or nothing, never a query language.
    assert _names(store, "' OR 1=1 --") == []
    assert _names(store, "NEAR(a b)") == ['gv.quoc"an']
    assert _names(store, '"') == []
    assert _names(store, "*") == []
    assert _names(store, "Nguy*") == []  # whole words: no prefix syntax
    assert store.search(EventSearch(words="x" * 200)) == []


def test_words_are_found_the_same_indexed_or_not(store: EventStore) -> None:
    """Attack class: a search that answers differently for the same log (the newest events not
    yet indexed, or the index complete). SQLite's index is kept a batch at a time; both states
    must give the same answers, and the same as PostgreSQL's."""
    _check_answers(store)  # SQLite: nothing indexed yet, every record matched in Python
    while store.index_words(batch=2) > 0:
        pass
    _check_answers(store)  # through the index
    store.append([_event("Lê Minh Châu", 0.5)])  # a newer record, not indexed yet
    assert _names(store, "Minh Châu") == ["Lê Minh Châu"]
    # SQLite's keeper reads the one new record; PostgreSQL keeps its index itself (0).
    assert store.index_words() == (0 if store.dialect.name == "postgresql" else 1)
    assert _names(store, "Minh Châu") == ["Lê Minh Châu"]


def test_words_combine_with_the_other_filters(store: EventStore) -> None:
    store.index_words()
    assert store.search(EventSearch(words="Nguyễn", since=NOW - timedelta(days=2))) == []
    found = store.search(EventSearch(words="Nguyễn", since=NOW - timedelta(days=4)))
    assert [e.event["actor"]["name"] for e in found] == ["Nguyễn Văn An"]
    assert store.search(EventSearch(words="Nguyễn", units=frozenset({"79761201"}))) == []
    assert store.search(EventSearch(words="Nguyễn", tag="idp:login:failure")) == []


def test_retention_takes_the_archived_words_out_of_the_index(
    store_location: str, tmp_path: Path
) -> None:
    """Attack class: personal data kept after retention. Pruned records lose their bodies; their
    words must leave the index too, and not linger in its file."""
    store = open_store(store_location)
    try:
        store.append(
            [_event(f"Phạm Thị Cúc {n}", 400, school="Trường THCS Lê Lợi") for n in range(30)]
            + [_event("Đỗ Văn Dũng", 10)]
        )
        store.index_words()
        assert len(store.search(EventSearch(words="Phạm Thị Cúc"), limit=100)) == 30
        signer = MemoryCheckpointSigner()
        Checkpointer(store, signer).checkpoint()
        run = apply_retention(
            store,
            {"authentication": 365, "api_activity": 3650, "account_change": 1825, "finding": 1095},
            tmp_path / "archives",
            now=NOW,
        )
        assert run.archived == 30
        assert store.search(EventSearch(words="Phạm Thị Cúc"), limit=100) == []
        assert store.search(EventSearch(words="Lê Lợi"), limit=100) == []
        assert _names(store, "Đỗ Văn Dũng") == ["Đỗ Văn Dũng"]
        assert verify_log(store, signer.public_key_pem).records == 31
    finally:
        store.close()
    if not store_location.startswith("postgresql://"):
        # Not in the index's terms, and not in its file: FTS5 merged its segments after the prune.
        db = sqlite3.connect(store_location)
        try:
            db.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, events_words, row)")
            terms = {str(t) for (t,) in db.execute("SELECT term FROM temp.terms")}
            assert {"dũng", "79760101"} <= terms
            assert not {"phạm", "cúc", "lợi"} & terms
            rows = db.execute("SELECT block FROM events_words_data").fetchall()
            assert not any("Phạm".lower().encode() in bytes(block) for (block,) in rows)
        finally:
            db.close()


def test_a_common_word_pages_newest_first_across_the_index(store_location: str) -> None:
    """A word in thousands of events, the other filters rejecting most of them: SQLite reads the
    index newest first, window after window; the answer is the plain query's, page by page."""
    store = open_store(store_location)
    try:
        store.append(
            [
                AuditEvent.build(
                    tag=EventTag.IDP_LOGIN_SUCCESS,
                    service="keycloak",
                    actor=Actor(name=f"gv{n:05d}"),
                    outcome=Outcome.SUCCESS,
                    target={"client": "school-management"},
                    unit="79761201" if n % 700 == 0 else "79760101",
                )
                for n in range(3500)
            ]
        )
        while store.index_words():  # every batch: the search then walks the index's windows
            pass
        store.append([_event("Vũ Thị Lan", 0, client="school-management")])  # not indexed
        rare = store.search(
            EventSearch(words="school management", units=frozenset({"79761201"})), limit=10
        )
        assert [e.event["actor"]["name"] for e in rare] == [
            f"gv{n:05d}" for n in (2800, 2100, 1400, 700, 0)
        ]
        pages = [
            [
                e.seq
                for e in store.search(EventSearch(words="school-management"), limit=50, offset=o)
            ]
            for o in (0, 50, 3450)
        ]
        assert pages[0][0] == 3501 and pages[0] == list(range(3501, 3451, -1))
        assert pages[1] == list(range(3451, 3401, -1))
        assert pages[2] == list(range(51, 1, -1))
    finally:
        store.close()


def test_a_name_stored_decomposed_is_found_as_typed(store: EventStore) -> None:
    """The same letters in either Unicode form are the same word (a producer that sends NFD)."""
    import unicodedata

    store.append([_event(unicodedata.normalize("NFD", "Hoàng Thị Huệ"), 0.2)])
    for _ in range(2):  # not indexed yet, then indexed
        found = store.search(EventSearch(words="Hoàng Thị Huệ"))
        assert len(found) == 1
        found = store.search(EventSearch(words=unicodedata.normalize("NFD", "thị huệ")))
        assert len(found) == 1
        store.index_words()
