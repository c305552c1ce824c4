"""Dictionaries that name a key twice: one document to pyHanko, another to a viewer.

ISO 32000 forbids it; pyHanko's lenient reader keeps a repeated key's first value, viewers (MuPDF,
poppler) the last. A page that says ``/Contents`` twice is judged by one and shown by the other, so
the service neither signs such a document nor passes a signature over one.

pyHanko's strict reader finds the repetition, at about 55 µs an object in pure Python (2.5 ms on the
ten-page B-LT, a sixth of a verification's CPU). This reads an object's tokens with one regular
expression instead and looks at dictionary keys alone (about 5x faster); whatever it cannot
tokenise, it hands to pyHanko's strict reader, so it is never less exact than that reader.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError, PdfStrictReadError
from pyhanko.pdf_utils.xref import ObjStreamRef

__all__ = ["StrictAboutRepeatedKeys", "key_repeated_in_object_stream", "repeated_key"]

_REGULAR = rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]"
#: One token after any whitespace and comments (possessive: no backtracking over long runs).
_TOKEN = re.compile(
    rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*+)*+"
    rb"(?:(/" + _REGULAR + rb"*+)"  # 1: a name
    rb"|(<<)"  # 2
    rb"|(>>)"  # 3
    rb"|(<[^>]*+>)"  # 4: a hexadecimal string
    rb"|(\()"  # 5: a literal string begins
    rb"|([\[{])"  # 6
    rb"|([\]}])"  # 7
    rb"|(" + _REGULAR + rb"++))"  # 8: a number or a keyword (R, true, null, ...)
)
_PARENTHESIS = re.compile(rb"[()\\]")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_OBJECT_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj")
_PYHANKO_WORDS = re.compile(r"for key (/\S{1,40})")


class _Unsure(Exception):
    """The bytes are not tokens this reader knows: pyHanko's strict reader decides."""


def repeated_key(document: bytes, reader: Any, *, before: int | None = None) -> str | None:
    """Where ``document`` names a key twice in one dictionary ("object 12 0, /Contents"), or
    ``None``. Every object the cross-reference sections list is read (those in object streams
    too); ``before``: only objects defined (or in object streams defined) before that offset. An
    object that cannot be read at all is other checks' concern."""
    xrefs = reader.xrefs
    refs = {ref for n in range(xrefs.total_revisions) for ref in xrefs.explicit_refs_in_revision(n)}
    object_streams: set[int] = set()
    for ref in sorted(refs, key=lambda r: (r.idnum, r.generation)):
        where = xrefs[ref]
        try:
            if isinstance(where, int):
                if before is not None and where >= before:
                    continue
                match = _OBJECT_HEADER.match(document, where)
                key = _key_repeated_at(document, match.end(), reader) if match else None
            elif isinstance(where, ObjStreamRef) and where.obj_stream_id not in object_streams:
                object_streams.add(where.obj_stream_id)
                key = _key_repeated_in_object_stream(reader, where.obj_stream_id, before)
            else:
                continue
        except (PdfError, ValueError, TypeError, KeyError, IndexError):
            continue
        if key is not None:
            return f"object {ref.idnum} {ref.generation}, {key}"
    return None


def _key_repeated_in_object_stream(reader: Any, number: int, before: int | None) -> str | None:
    if before is not None:
        offset = reader.xrefs[generic.Reference(number, 0, reader)]
        if not isinstance(offset, int) or offset >= before:
            return None
    container = reader.get_object(generic.Reference(number, 0, reader))
    if not isinstance(container, generic.StreamObject):
        return None
    return key_repeated_in_object_stream(container, reader)


def key_repeated_in_object_stream(container: generic.StreamObject, reader: Any) -> str | None:
    """The first key named twice in one dictionary of the objects packed in object stream
    ``container`` ("/Contents"), or ``None``. Raises pyHanko's errors, or ``ValueError``, when its
    data cannot be decoded or its header read."""
    data = container.data
    first = int(container["/First"])
    header = [int(t) for t in data[:first].split()]
    for offset in header[1::2]:
        key = _key_repeated_at(data, first + offset, reader)
        if key is not None:
            return key
    return None


def _key_repeated_at(data: bytes, at: int, reader: Any) -> str | None:
    try:
        key = _scan_value(data, at)
    except _Unsure:
        return _pyhanko_strict(data, at, reader)
    return key.decode("latin-1")[:40] if key is not None else None


def _scan_value(data: bytes, at: int) -> bytes | None:
    """The first key named twice in one dictionary of the value that starts at ``data[at:]``."""
    # One frame per open dictionary ([keys seen, a key comes next]) or array (None).
    frames: list[list[Any] | None] = []
    pos = at
    while True:
        match = _TOKEN.match(data, pos)
        if match is None:
            raise _Unsure
        pos = match.end()
        kind = match.lastindex
        top = frames[-1] if frames else None
        if kind == 1:
            if top is not None and top[1]:
                name = match.group(1)
                if b"#" in name:
                    name = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name)
                if name in top[0]:
                    return name
                top[0].add(name)
                top[1] = False
                continue
        elif kind == 2:
            frames.append([set(), True])
            continue
        elif kind == 3:
            if top is None:
                raise _Unsure
            frames.pop()
        elif kind == 5:
            pos = _string_end(data, pos)
        elif kind == 6:
            frames.append(None)
            continue
        elif kind == 7:
            if not frames or top is not None:
                raise _Unsure
            frames.pop()
        # A value is complete: a name, number, keyword, string, array or dictionary. (A number
        # or keyword where a key should come, the "0 R" of a reference, leaves a key to come.)
        if not frames:
            return None
        parent = frames[-1]
        if parent is not None:
            parent[1] = True


def _string_end(data: bytes, pos: int) -> int:
    """Where the literal string whose ``(`` ends at ``pos`` ends (nested brackets, escapes)."""
    depth = 1
    while depth:
        match = _PARENTHESIS.search(data, pos)
        if match is None:
            raise _Unsure
        pos = match.end()
        char = data[match.start()]
        if char == 0x5C:  # backslash: the next byte is taken as it is
            pos += 1
        elif char == 0x28:
            depth += 1
        else:
            depth -= 1
    return pos


class StrictAboutRepeatedKeys:
    """A pyHanko reader, strict where pyHanko's lenient reading and a viewer disagree: a dictionary
    that repeats a key (the only thing pyHanko's object reader makes strict)."""

    strict = True

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def _pyhanko_strict(data: bytes, at: int, reader: Any) -> str | None:
    while at < len(data) and data[at] in b"\x00\t\n\x0c\r ":
        at += 1  # pyHanko's reader starts on a token
    stream = BytesIO(data)
    stream.seek(at)
    try:
        generic.read_object(stream, generic.Reference(0, 0, pdf=StrictAboutRepeatedKeys(reader)))
    except PdfStrictReadError as exc:  # raised for a repeated key alone
        words = _PYHANKO_WORDS.search(str(exc))
        return words.group(1) if words is not None else "a key"
    except (PdfError, ValueError, TypeError, KeyError, IndexError):
        return None
    return None
