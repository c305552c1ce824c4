"""The words of events: the Python reading (for records not indexed yet) must agree with SQLite's
FTS5 index on every text, or the same search answers differently depending on whether the index's
keeper has reached a record. Texts are generated in the test run: Vietnamese with and without
diacritics, decomposed letters, marks that compose with nothing, digits, punctuation, underscores,
quotes, FTS5 syntax. (Not the Turkish dotted capital I: FTS5 folds its case otherwise than Python,
a difference `audit.store.words` states.)"""

from __future__ import annotations

import json
import random
import sqlite3
import unicodedata

import pytest

from audit.store.sql import SQLITE
from audit.store.words import fts5_phrase, phrase_in, words_of

PIECES = [
    "Nguyễn", "NGUYỄN", "nguyen", "Văn", "văn", "An", "Đỗ", "đỗ", "Thị", "Bình", "10A1",
    "hs-2026/12", "gv_01", "10.75.115.95", "a'b", '"q"', "NEAR(a b)", "*", "x:y", "AND", "OR",
    "NOT", "-", "_", "…", "—", "école", "ß", "ﬁle", "e\u0301\u0302", "٣", "①", "日本", "\u00a0", "\t",
]  # fmt: skip


def _text(rng: random.Random) -> str:
    text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))
    return unicodedata.normalize("NFD", text) if rng.random() < 0.1 else text


@pytest.fixture(scope="module")
def index() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(SQLITE.words_index)
    return db


def test_python_and_fts5_agree_on_generated_texts(index: sqlite3.Connection) -> None:
    """Attack class: a search that answers differently for the same log (indexed or not)."""
    rng = random.Random(20261202)  # noqa: S311 - generated test texts
    bodies = [
        json.dumps({"actor": {"name": _text(rng)}, "target": {"note": _text(rng)}, "n": i})
        for i in range(300)
    ]
    index.executemany(
        "INSERT INTO events_words (rowid, words) VALUES (?, ?)",
        [(i, words_of(body)) for i, body in enumerate(bodies)],
    )
    disagreements = []
    for _ in range(400):
        phrase = fts5_phrase(_text(rng))
        if phrase is None:
            continue
        indexed = {
            int(r)
            for (r,) in index.execute(
                "SELECT rowid FROM events_words WHERE events_words MATCH ?", (phrase,)
            )
        }
        python = {i for i, body in enumerate(bodies) if phrase_in(body, phrase)}
        if indexed != python:
            disagreements.append((phrase, sorted(indexed ^ python)[:3]))
    assert not disagreements, disagreements[:5]


def test_field_names_are_not_words_and_values_of_every_kind_are() -> None:
    body = json.dumps({"actor": {"name": "Lê"}, "count": 3, "ok": True, "none": None, "l": ["x"]})
    assert words_of(body) == "Lê 3 true null x"
    assert words_of("not json {") == "not json {"


def test_nothing_typed_becomes_fts5_syntax() -> None:
    assert fts5_phrase('"; DROP TABLE events; --') == '"drop table events"'
    assert fts5_phrase("NEAR(a b) OR c*") == '"near a b or c"'
    assert fts5_phrase("*") is None and fts5_phrase("") is None and fts5_phrase('"') is None
