"""Every byte after a signature accounted for: the incremental updates of a signed PDF, read strictly.

A signature covers its revision up to the ``%%EOF`` that ends it. What may follow is incremental updates
(RFC-like strictness of ISO 32000-2 §7.5.6), each of which pyHanko's difference analysis then judges.
Bytes that are not such an update — objects that no cross-reference section lists, a section with no
entries, a ``startxref`` that points nowhere, an object defined twice, junk after ``%%EOF`` — are
skipped by a reader that follows the cross-reference chain and shown by a viewer that rebuilds the
table by scanning the file (poppler, Ghostscript, pdf.js on a broken file): the *Incremental Saving
Attack*. A signature is only as good as the guarantee that what follows it was analysed.

This module reads the bytes after an offset as a strict writer produces them and says where they stop
being accounted for (:func:`analyse_updates`), and reads the whole file as a rebuilding viewer would
(:func:`rebuilt_view`), so that the verifier judges what a viewer shows. It never repairs anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.xref import XRefType, parse_xref_stream, parse_xref_table

from signing_service.documents import entry
from signing_service.repeated_keys import StrictAboutRepeatedKeys, key_repeated_in_object_stream

_WHITESPACE = b"\x00\t\n\x0c\r "
_OBJECT_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj")
_START_XREF = re.compile(
    rb"startxref[\x00\t\n\x0c\r ]+(\d{1,12})[\x00\t\n\x0c\r ]+%%EOF(\r\n|\r|\n)?"
)
#: What a rebuilding viewer looks for: an object header at the start of a line (after a line end;
#: the one at the file's start apart, which makes the search ~5x faster than a look-behind).
_LINE_OBJECT_HEADER = re.compile(
    rb"[\r\n][\x00\t\x0c ]*(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj\b"
)
_FIRST_OBJECT_HEADER = re.compile(
    rb"[\x00\t\x0c ]*(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj\b"
)
_TRAILING_START_XREF = re.compile(
    rb"startxref[\x00\t\n\x0c\r ]+(\d{1,12})[\x00\t\n\x0c\r ]+%%EOF[\x00\t\n\x0c\r ]*$"
)


@dataclass(frozen=True)
class Update:
    """One incremental update: its bytes ``[start, end)``, where its cross-reference section
    starts, and where each object it defines starts (object number -> offset of ``N G obj``)."""

    start: int
    end: int
    xref_offset: int
    objects: dict[int, int]
    #: The objects as read (each once, here), by number; and the trailer (or xref stream) dict.
    values: dict[int, generic.PdfObject] = field(default_factory=dict, compare=False)
    trailer: generic.DictionaryObject | None = field(default=None, compare=False)
    #: Objects its cross-reference section frees, and objects it defines inside object streams
    #: (neither is among ``objects`` or ``values``: they change the document all the same).
    freed: frozenset[int] = frozenset()
    compressed: frozenset[int] = frozenset()
    #: The generation of each object it defines plainly (``objects`` is by number).
    generations: dict[int, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class UpdateAnalysis:
    """The updates after an offset that are well formed, and where the bytes stop being so.

    ``accounted_until == len(document)`` when every byte is accounted for; otherwise ``problem``
    says what was found at that offset (in English, for the report and the log; never content)."""

    updates: list[Update]
    accounted_until: int
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


class _Unaccounted(Exception):
    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset = offset
        self.problem = problem


@dataclass
class _Cursor:
    data: bytes
    pos: int

    def skip_whitespace(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _WHITESPACE:
            self.pos += 1

    def at(self, keyword: bytes) -> bool:
        return self.data.startswith(keyword, self.pos)


@dataclass
class _UpdateParts:
    start: int
    #: number -> (generation, offset)
    objects: dict[int, tuple[int, int]] = field(default_factory=dict)
    values: dict[int, generic.PdfObject] = field(default_factory=dict)
    object_streams: set[int] = field(default_factory=set)
    xref_offset: int | None = None
    entries: list[Any] = field(default_factory=list)
    trailer: generic.DictionaryObject | None = None
    #: Cross-reference streams read among the objects (offset -> the stream and its entries): the
    #: update's own section, or the stream a table's ``/XRefStm`` names (a hybrid section).
    xref_streams: dict[int, tuple[generic.StreamObject, list[Any]]] = field(default_factory=dict)
    hybrid_offset: int | None = None


def previous_start_xref(document: bytes, end: int) -> int | None:
    """The ``startxref`` value of the revision that ends at ``end`` (``None`` if none ends there)."""
    window = document[max(0, end - 64) : end]
    match = _TRAILING_START_XREF.search(window)
    return int(match.group(1)) if match else None


def _read_object(cursor: _Cursor, handler: Any, parts: _UpdateParts) -> generic.PdfObject:
    match = _OBJECT_HEADER.match(cursor.data, cursor.pos)
    if match is None:
        raise _Unaccounted(cursor.pos, "bytes that are no object, xref section or trailer")
    number, generation = int(match.group(1)), int(match.group(2))
    offset = cursor.pos
    if number in parts.objects:
        raise _Unaccounted(offset, f"object {number} defined twice in one update")
    try:
        container = generic.Reference(number, generation, pdf=handler)
        value, end = _object_at(cursor.data, match.end(), container)
        if isinstance(value, generic.StreamObject):
            _check_stream_extent(cursor.data, value, handler, offset)
        rest = _Cursor(cursor.data, end)
        rest.skip_whitespace()
        if not rest.at(b"endobj"):
            raise _Unaccounted(rest.pos, f"object {number} is not closed by endobj")
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise _Unaccounted(
            offset, f"object {number} cannot be read ({type(exc).__name__})"
        ) from exc
    cursor.pos = rest.pos + len(b"endobj")
    parts.objects[number] = (generation, offset)
    parts.values[number] = value
    if isinstance(value, generic.StreamObject) and entry(value, "/Type") == "/ObjStm":
        parts.object_streams.add(number)
        # What it packs is read strictly too: pyHanko's difference analysis reads a repeated key's
        # first value, viewers the last (a page redefined in here with a second /Contents).
        try:
            repeated = key_repeated_in_object_stream(value, handler)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise _Unaccounted(
                offset, f"object stream {number} cannot be read ({type(exc).__name__})"
            ) from exc
        if repeated is not None:
            raise _Unaccounted(
                offset, f"object stream {number} names a key twice in one dictionary ({repeated})"
            )
    return value


def _object_at(data: bytes, at: int, container: generic.Reference) -> tuple[generic.PdfObject, int]:
    """The object whose value starts at ``data[at:]`` after any whitespace (pyHanko's reader starts
    on a token), read by pyHanko for ``container``, and where it ends. The stream shares ``data``
    (no copy: nothing exports a buffer of it)."""
    while at < len(data) and data[at] in _WHITESPACE:
        at += 1
    stream = BytesIO(data)
    stream.seek(at)
    value = generic.read_object(stream, container)
    return value, stream.tell()


def _check_stream_extent(data: bytes, value: generic.StreamObject, handler: Any, at: int) -> None:
    """pyHanko forgives a stream ``/Length`` one byte too long; a strict reading does not, or a
    viewer and we would disagree on where the stream ends."""
    length = value.raw_get("/Length")
    if isinstance(length, generic.IndirectObject):
        length = handler.get_object(length)
    if int(length) != len(value.encoded_data):
        raise _Unaccounted(at, "a stream whose /Length does not match its data")


def _read_xref_table(cursor: _Cursor, handler: Any, parts: _UpdateParts) -> None:
    parts.xref_offset = cursor.pos
    stream = BytesIO(cursor.data)
    stream.seek(cursor.pos + len(b"xref"))
    try:
        # pyHanko's table reader consumes the ``trailer`` keyword that ends the table.
        parts.entries = list(parse_xref_table(stream, strict=True))
        trailer = generic.read_object(stream, generic.TrailerReference(handler))
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise _Unaccounted(cursor.pos, f"an unreadable xref table ({type(exc).__name__})") from exc
    if not isinstance(trailer, generic.DictionaryObject):
        raise _Unaccounted(cursor.pos, "a trailer that is no dictionary")
    if "/XRefStm" in trailer:
        # A hybrid section (what a writer does to a file that has one): more entries in a
        # cross-reference stream, which a reader merges into this revision. That stream must be an
        # object of this update; one elsewhere (prepared inside the signed bytes) could redefine
        # what the page draws.
        try:
            parts.hybrid_offset = int(trailer.raw_get("/XRefStm"))
        except (TypeError, ValueError) as exc:
            raise _Unaccounted(cursor.pos, "an /XRefStm that is no offset") from exc
    parts.trailer = trailer
    cursor.pos = stream.tell()


def _read_update(cursor: _Cursor, handler: Any, previous_xref: int | None) -> Update:
    parts = _UpdateParts(start=cursor.pos)
    while True:
        cursor.skip_whitespace()
        if cursor.pos >= len(cursor.data):
            raise _Unaccounted(parts.start, "an update that ends without startxref and %%EOF")
        if cursor.at(b"xref"):
            if parts.xref_offset is not None:
                raise _Unaccounted(cursor.pos, "two cross-reference sections in one update")
            _read_xref_table(cursor, handler, parts)
            continue
        if cursor.at(b"startxref"):
            break
        if parts.xref_offset is not None:
            raise _Unaccounted(
                cursor.pos, "bytes between the cross-reference section and startxref"
            )
        offset = cursor.pos
        value = _read_object(cursor, handler, parts)
        if isinstance(value, generic.StreamObject) and entry(value, "/Type") == "/XRef":
            try:
                parts.xref_streams[offset] = (value, list(parse_xref_stream(value, strict=True)))
            except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
                raise _Unaccounted(
                    offset, f"an unreadable xref stream ({type(exc).__name__})"
                ) from exc
    match = _START_XREF.match(cursor.data, cursor.pos)
    if match is None:
        raise _Unaccounted(cursor.pos, "startxref not followed by an offset and %%EOF")
    _sections(parts, int(match.group(1)))
    if parts.xref_offset is None or parts.trailer is None:
        raise _Unaccounted(cursor.pos, "an update without a cross-reference section")
    if int(match.group(1)) != parts.xref_offset:
        raise _Unaccounted(cursor.pos, "startxref does not point at the update's xref section")
    _check_entries(parts, previous_xref)
    cursor.pos = match.end()
    return Update(
        start=parts.start,
        end=cursor.pos,
        xref_offset=parts.xref_offset,
        objects={number: offset for number, (_, offset) in parts.objects.items()},
        values=parts.values,
        trailer=parts.trailer,
        freed=frozenset(
            e.idnum for e in parts.entries if e.idnum != 0 and e.xref_type == XRefType.FREE
        ),
        compressed=frozenset(
            e.idnum for e in parts.entries if e.xref_type == XRefType.IN_OBJ_STREAM
        ),
        generations={number: generation for number, (generation, _) in parts.objects.items()},
    )


def _sections(parts: _UpdateParts, start_xref: int) -> None:
    """The update's cross-reference section: its table (with the stream its ``/XRefStm`` names,
    whose entries join the table's), or its one cross-reference stream."""
    streams = parts.xref_streams
    if parts.xref_offset is None:  # no table: the section is a stream, the one startxref names
        if len(streams) > 1 or (streams and start_xref not in streams):
            raise _Unaccounted(parts.start, "cross-reference streams that startxref does not name")
        if streams:
            parts.xref_offset = start_xref
            parts.trailer, parts.entries = streams[start_xref]
        return
    if parts.hybrid_offset is None:
        if streams:
            raise _Unaccounted(min(streams), "a cross-reference stream beside the table")
        return
    if set(streams) != {parts.hybrid_offset}:
        raise _Unaccounted(
            parts.xref_offset, "an /XRefStm that names no cross-reference stream of this update"
        )
    # The table comes first for a reader (ISO 32000-2 §7.5.8.4, as pyHanko reads it); an object
    # the two list differently is read one way by one viewer and another by the next: refused.
    table = {e.idnum: (e.xref_type, e.location, e.generation) for e in parts.entries}
    for hybrid in streams[parts.hybrid_offset][1]:
        listed = table.get(hybrid.idnum)
        if listed is None:
            parts.entries.append(hybrid)
        elif listed != (hybrid.xref_type, hybrid.location, hybrid.generation):
            raise _Unaccounted(
                parts.hybrid_offset,
                f"object {hybrid.idnum} listed differently in the table and in its /XRefStm",
            )


def _check_entries(parts: _UpdateParts, previous_xref: int | None) -> None:
    """Each object the update defines is listed at its offset; each listed object is defined here."""
    assert parts.trailer is not None and parts.xref_offset is not None  # noqa: S101 - checked above
    prev = parts.trailer.raw_get("/Prev") if "/Prev" in parts.trailer else None
    if previous_xref is None or prev is None or int(prev) != previous_xref:
        raise _Unaccounted(parts.start, "an update whose /Prev does not name the revision before")
    if not parts.entries and not parts.objects:
        raise _Unaccounted(parts.xref_offset, "an empty update")
    listed: set[int] = set()
    for xref_entry in parts.entries:
        if xref_entry.idnum == 0:
            # Object 0 heads the free list: listed in use, it makes MuPDF "repair" the file and
            # take whatever definitions its scan finds last, hidden ones in the signed bytes too.
            if xref_entry.xref_type != XRefType.FREE:
                raise _Unaccounted(parts.xref_offset, "object 0 listed as in use")
            continue
        if xref_entry.xref_type == XRefType.STANDARD:
            defined = parts.objects.get(xref_entry.idnum)
            if defined != (xref_entry.generation, xref_entry.location):
                raise _Unaccounted(
                    parts.xref_offset,
                    f"the xref lists object {xref_entry.idnum} where it is not defined",
                )
            listed.add(xref_entry.idnum)
        elif xref_entry.xref_type == XRefType.IN_OBJ_STREAM:
            if xref_entry.location.obj_stream_id not in parts.object_streams:
                raise _Unaccounted(
                    parts.xref_offset,
                    f"object {xref_entry.idnum} listed in an object stream this update does not define",
                )
            listed.add(xref_entry.idnum)
    # Cross-reference streams need not list themselves.
    xref_streams = {n for n, (_, offset) in parts.objects.items() if offset in parts.xref_streams}
    unlisted = set(parts.objects) - listed - xref_streams
    if unlisted:
        number = min(unlisted)
        raise _Unaccounted(
            parts.objects[number][1], f"object {number} defined but not in the xref section"
        )


def analyse_updates(document: bytes, start: int, handler: Any) -> UpdateAnalysis:
    """Read ``document[start:]`` as a sequence of well-formed incremental updates.

    ``start`` is the end of a signed revision (the end of a signature's byte range); ``handler`` is
    the pyHanko reader of the whole document (it resolves indirect stream lengths)."""
    cursor = _Cursor(document, start)
    handler = StrictAboutRepeatedKeys(handler)
    updates: list[Update] = []
    previous_xref = previous_start_xref(document, start)
    while True:
        cursor.skip_whitespace()
        if cursor.pos >= len(document):
            return UpdateAnalysis(updates, len(document))
        try:
            update = _read_update(cursor, handler, previous_xref)
        except _Unaccounted as unaccounted:
            return UpdateAnalysis(updates, unaccounted.offset, unaccounted.problem)
        updates.append(update)
        previous_xref = update.xref_offset


def rebuilt_view(document: bytes, end: int | None = None) -> dict[int, int]:
    """Where a viewer that rebuilds the cross-reference table finds each object in
    ``document[:end]``: the last ``N G obj`` at the start of a line, wherever it is (stream data
    included)."""
    return {int(match.group(1)): match.start(1) for match in _line_headers(document, 0, end)}


def unlisted_definition(
    document: bytes, reader: Any, *, before: int | None = None
) -> tuple[int, int] | None:
    """``(object number, offset)`` of an object that a viewer rebuilding the cross-reference table
    (as viewers do with a damaged file) would read from a definition other than the one the
    sections list, or ``None``. Such a viewer takes the last ``N G obj`` at a line start wherever it
    is, stream data included: a document holding one unlisted, behind the listed one, shows what
    was checked and signed until a small "damage" added after signing makes viewers rebuild.

    ``before``: only definitions before this offset (a signature's bytes), of objects no section
    after it redefines (what follows is :func:`hidden_definitions`' part)."""
    xrefs = reader.xrefs
    listed: set[int] = set()
    current: dict[int, int] = {}
    for revision in range(xrefs.total_revisions):
        data = xrefs.get_xref_data(revision)
        sections = [data] if data.hybrid is None else [data, data.hybrid.xref_data]
        for section in sections:
            for number, (_, offset) in section.standard_xrefs.items():
                current[number] = _token_at(document, offset)
            for number in (*section.xrefs_in_objstm, *section.freed):
                current.pop(number, None)
            listed.update(current.values())
        # A cross-reference stream is an object no section needs to list.
        listed.add(_token_at(document, xrefs.get_startxref_for_revision(revision)))
        if data.hybrid is not None:
            listed.add(_token_at(document, data.hybrid.meta_info.start_location))
    for number, offset in rebuilt_view(document, before).items():
        if before is not None and current.get(number, -1) >= before:
            continue
        if offset not in listed or current.get(number, offset) != offset:
            return number, offset
    return None


def _token_at(document: bytes, offset: int) -> int:
    while offset < len(document) and document[offset] in _WHITESPACE:
        offset += 1
    return offset


def hidden_definitions(document: bytes, after: int, analysis: UpdateAnalysis) -> list[int]:
    """Offsets after ``after`` where a rebuilding viewer finds an object definition that the
    strict reading did not account for as an object of an update (e.g. hidden in stream data)."""
    accounted = {offset for update in analysis.updates for offset in update.objects.values()}
    return [
        match.start(1)
        for match in _line_headers(document, after, analysis.accounted_until)
        if match.start(1) not in accounted
    ]


def _line_headers(document: bytes, start: int, end: int | None = None) -> Iterator[re.Match[bytes]]:
    """The object headers at a line start in ``document[start:end]``, in order."""
    end = len(document) if end is None else end
    if start == 0:
        first = _FIRST_OBJECT_HEADER.match(document, 0, end)
        if first is not None:
            yield first
    yield from _LINE_OBJECT_HEADER.finditer(document, max(start - 1, 0), end)
