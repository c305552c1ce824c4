"""The words of an event, as the officers' free-text search finds them.

An event is found by the words of its values (names, units, addresses, references, reasons; not its
field names), whole words in the order typed, in any letter case; diacritics count ("Nguyễn" is not
"Nguyen"). Both databases index the same values: SQLite with FTS5 (``unicode61``, diacritics kept)
over :func:`words_of`, PostgreSQL with a GIN index over ``to_tsvector('simple', …)`` of the body
with its field names cut out (a cast to ``jsonb`` would be shorter, and would refuse a body holding
``\u0000``: one such event would stop the ingest). A search reads the index, not the bodies: a year of a province's events
answers in milliseconds for a name or a reference (``bench.audit_scale``).

SQLite's index is kept by the audit service's background task a batch at a time (ingest never waits
for it); the few newest events not yet indexed are matched here, in Python, the same way
(:func:`phrase_in`; letters whose case FTS5 folds otherwise than Python, like the Turkish dotted
capital I, may be found only once indexed). Retention removes an archived event's words from the index with its body.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

#: A word as FTS5's ``unicode61`` tokenizer cuts one: letters, digits and the combining marks on
#: them (any script); everything else separates words.
_WORD = re.compile(
    r"(?:[^\W_]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])+"
)


def _values(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _values(item)
    else:
        yield value if isinstance(value, str) else json.dumps(value)


def words_of(body: str) -> str:
    """The text indexed for an event: its values (not its field names), in order."""
    try:
        text = " ".join(_values(json.loads(body)))
    except ValueError:
        text = body
    # Composed (NFC): "Nguyễn" typed with combining marks is the same word as the stored one.
    return unicodedata.normalize("NFC", text)


def words(text: str) -> list[str]:
    """The words of ``text``, composed and lower-cased, as the index compares them."""
    return [word.lower() for word in _WORD.findall(unicodedata.normalize("NFC", text))]


def fts5_phrase(text: str) -> str | None:
    """``text`` as an FTS5 phrase (its words, in order); ``None`` if it holds no word. Every word
    is letters and digits only, so nothing the officer types is read as FTS5 syntax."""
    found = words(text)
    return '"' + " ".join(found) + '"' if found else None


def phrase_in(body: str | None, phrase: str | None) -> bool:
    """Whether an event's values hold the words of ``phrase`` (:func:`fts5_phrase`) one after
    the other, as the index would say: SQLite's ``words_phrase_in`` for records not yet indexed."""
    if body is None or not phrase:
        return False
    wanted = words(phrase)
    if not wanted:
        return False
    found = words(words_of(body))
    width = len(wanted)
    return any(
        found[start : start + width] == wanted
        for start, word in enumerate(found)
        if word == wanted[0]
    )
