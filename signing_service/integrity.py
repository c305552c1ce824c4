"""What happened to a signed document after each signature: the strict reading of its later bytes,
the form fields it showed, signatures that were there and are gone.

The verifier (:mod:`signing_service.verification`) asks these questions once per document
(:func:`analyse_structure`) and per signature; each answer is a fact, the verdict is the verifier's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.metadata import model as xmp_model
from pyhanko.pdf_utils.metadata import xmp_xml
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DocInfoRule,
    DSSCompareRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from signing_service.active_content import find_active_content
from signing_service.documents import UntrustedDocument, entry, open_document
from signing_service.errors import InvalidDocument
from signing_service.form_fields import FieldTreeTooLarge, changed_fields, field_states
from signing_service.repeated_keys import repeated_key
from signing_service.reports import Warning
from signing_service.revisions import (
    Update,
    UpdateAnalysis,
    analyse_updates,
    hidden_definitions,
    unlisted_definition,
)

_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")
#: How many earlier ``%%EOF`` markers are tried when the whole file cannot be read.
_SALVAGE_ATTEMPTS = 8

#: What pyHanko raises on a signature field or dictionary it cannot read.
_UNREADABLE = (
    PdfError,
    SignatureValidationError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


@dataclass(frozen=True)
class OpenedDocument:
    reader: PdfFileReader
    data: bytes
    #: Where the readable part ends when what follows could not be read at all (else ``None``).
    unreadable_from: int | None = None


def open_for_verification(document: UntrustedDocument) -> OpenedDocument:
    """Open the document; if it cannot be read as a whole, open its longest prefix that ends a
    revision and has signatures, so that those signatures are reported as modified rather than
    the file as unreadable (bytes appended after a signature must fail it, not hide it)."""
    try:
        return OpenedDocument(open_document(document), document)
    except InvalidDocument as whole_error:
        ends = [m.end() for m in _EOF.finditer(document)]
        for end in reversed(ends[-_SALVAGE_ATTEMPTS:]):
            if end >= len(document):
                continue
            prefix = UntrustedDocument(document[:end])
            try:
                reader = open_document(prefix)
                if any(True for _ in enumerate_sig_fields(reader, filled_status=True)):
                    return OpenedDocument(reader, prefix, unreadable_from=end)
            except (InvalidDocument, SignatureValidationError, KeyError, TypeError, ValueError):
                continue
        raise whole_error


def signed_end(embedded: EmbeddedPdfSignature) -> int:
    byte_range = entry(embedded.sig_object, "/ByteRange")
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        raise SignatureValidationError("malformed /ByteRange")
    return int(byte_range[2]) + int(byte_range[3])


@dataclass
class Structure:
    """What the strict reading of the document found, shared by every signature's verdict."""

    opened: OpenedDocument
    analysis: UpdateAnalysis | None
    #: The first offset after which something was not accounted for (``None``: all accounted).
    unaccounted_from: int | None
    problem: str | None
    #: ``(offset of the update, object number)``: objects an update defines that the revision
    #: before it referred to without defining.
    late_definitions: list[tuple[int, int]] = field(default_factory=list)
    #: Field states per signed revision, computed once per revision.
    fields_at: dict[int, Any] = field(default_factory=dict)
    #: Where the bytes every signature covers name a key twice in one dictionary ("object 12 0,
    #: /Contents"): pyHanko judged the first value, a viewer shows the last.
    repeated_key: str | None = None
    #: ``(object number, offset)``: a definition in the bytes every signature covers that no
    #: cross-reference section lists, which a viewer rebuilding the table (a damaged copy) shows
    #: instead of the one listed (:func:`~signing_service.revisions.unlisted_definition`).
    unlisted_definition: tuple[int, int] | None = None


def analyse_structure(opened: OpenedDocument, embedded: list[EmbeddedPdfSignature]) -> Structure:
    data = opened.data
    if opened.unreadable_from is not None:
        return Structure(
            opened,
            None,
            opened.unreadable_from,
            f"bytes after offset {opened.unreadable_from} are not a readable PDF revision",
        )
    ends = []
    for signature in embedded:
        try:
            ends.append(signed_end(signature))
        except (SignatureValidationError, ValueError, TypeError):
            continue
    if not ends:
        return Structure(opened, None, None, None)
    start = min(ends)
    analysis = analyse_updates(data, start, opened.reader)
    if not analysis.complete:
        return Structure(
            opened,
            analysis,
            analysis.accounted_until,
            f"{analysis.problem} (offset {analysis.accounted_until})",
        )
    hidden = hidden_definitions(data, start, analysis)
    if hidden:
        return Structure(
            opened,
            analysis,
            hidden[0],
            f"an object definition hidden in the data of another object (offset {hidden[0]})",
        )
    return Structure(
        opened,
        analysis,
        None,
        None,
        late_definitions=late_definitions(opened, analysis),
        # What follows ``start`` was read strictly above (analyse_updates), and searched for
        # hidden definitions (hidden_definitions).
        repeated_key=repeated_key(data, opened.reader, before=start),
        unlisted_definition=unlisted_definition(data, opened.reader, before=start),
    )


#: A walk of a revision's objects stops here (a hostile document's graph is not walked for ever).
_WALK_LIMIT = 200_000


def _referenced(reader: PdfFileReader, revision: int, numbers: set[int]) -> int | None:
    """The first of ``numbers`` that revision ``revision`` refers to from its trailer on (what a
    viewer reaches), walking dictionaries, arrays and stream dictionaries; ``None`` if none. A
    graph too large to walk whole counts as referring to them (it cannot be shown not to)."""
    resolver = reader.get_historical_resolver(revision)
    stack: list[Any] = [resolver.trailer_view]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            if item.idnum in numbers:
                return item.idnum
            if item.idnum in seen:
                continue
            seen.add(item.idnum)
            if len(seen) > _WALK_LIMIT:
                return min(numbers)
            try:
                item = resolver(item.reference)
            except _UNREADABLE:
                continue
        if isinstance(item, generic.DictionaryObject):
            stack.extend(item.raw_get(k) for k in item)
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item)
    return None


#: The end of a reference ``N G R`` as written in a file; the numbers are read backwards from it
#: (any digits: ``0500 0 R`` is object 500 to readers). Searching for the rare ``<space>R`` first
#: is five times faster on a large file than a pattern that starts with the digits.
_REFERENCE_END = re.compile(rb"[\x00\t\n\x0c\r ]R(?![A-Za-z0-9_])")
_DIGITS = frozenset(b"0123456789")
_SPACES = frozenset(b"\x00\t\n\x0c\r ")


#: How far back a comment's ``%`` is looked for on the line before a reference's token, and how
#: many comment lines are read back between two tokens (beyond either: "cannot tell").
_COMMENT_WINDOW = 1 << 16
_COMMENT_LINES = 16


class _Uncertain(Exception):
    """A reference whose tokens are separated by a comment longer than the window."""


def _run_before(data: bytes, end: int, kind: frozenset[int], limit: int | None = None) -> int:
    """Where the run of ``kind`` bytes that ends at ``end`` starts (at most ``limit`` bytes back)."""
    start = end
    while start > 0 and (limit is None or end - start < limit) and data[start - 1] in kind:
        start -= 1
    return start


def _space_before(data: bytes, end: int) -> int:
    """Where the whitespace (comments included: PDF reads a comment as whitespace) that ends at
    ``end`` starts."""
    start = _run_before(data, end, _SPACES)
    lines = 0
    while start < end and any(c in b"\r\n" for c in data[start:end]):
        lines += 1
        if lines > _COMMENT_LINES:
            raise _Uncertain()
        # The whitespace holds a line end: the line before it may end in a comment.
        window = max(0, start - _COMMENT_WINDOW)
        line_start = max(data.rfind(b"\n", window, start), data.rfind(b"\r", window, start)) + 1
        if line_start == 0 and window > 0:
            raise _Uncertain()  # a line longer than the window
        percent = data.find(b"%", line_start, start)
        if percent < 0:
            break
        end, start = percent, _run_before(data, percent, _SPACES)
    return start


def _first_references(data: bytes, end: int) -> dict[int, int] | None:
    """Where each object number is first referred to in ``data[:end]`` (as bytes: stream data
    and superseded objects included, so a hit only means "look closer"); ``None`` when a
    reference could not be read back (a comment too long between its tokens)."""
    first: dict[int, int] = {}
    try:
        for match in _REFERENCE_END.finditer(data, 0, end):
            generation_end = _space_before(data, match.start() + 1)
            generation_start = _run_before(data, generation_end, _DIGITS, 20)
            number_end = _space_before(data, generation_start)
            number_start = _run_before(data, number_end, _DIGITS, 20)
            if number_start < number_end < generation_start < generation_end:
                first.setdefault(int(data[number_start:number_end]), number_start)
    except _Uncertain:
        return None
    return first


def late_definitions(opened: OpenedDocument, analysis: UpdateAnalysis) -> list[tuple[int, int]]:
    """Objects that an update after a signature *defines* and that the revision before it already
    *referred to* without defining, as ``(offset of the update, object number)``: the signer's
    viewer showed nothing there (a reference to an undefined object is null), the update fills it
    — a page's content, an overlay — as a "new" object. pyHanko's difference analysis takes such an
    object for an addition nobody uses.

    One pass over the bytes before the last update (object streams decoded) finds where each number
    is first referred to; only an update whose new objects were referred to before it gets a walk
    of the earlier revision's objects from its trailer, which decides."""
    reader = opened.reader
    xrefs = reader.xrefs
    if not analysis.updates:
        return []
    first = xrefs.total_revisions - len(analysis.updates)
    in_bytes = _first_references(opened.data, analysis.updates[-1].start)
    in_streams: dict[int, int] | None = {}  # number -> first revision whose object streams refer
    for revision in range(xrefs.total_revisions - 1):
        for stream_ref in xrefs.object_streams_used_in(revision):
            try:
                data = reader.get_object(stream_ref).data
            except (PdfError, KeyError, TypeError, ValueError, AttributeError):
                continue
            numbers_here = _first_references(data, len(data))
            if numbers_here is None or in_streams is None:
                in_streams = None
                continue
            for number in numbers_here:
                in_streams.setdefault(number, revision)
    found: list[tuple[int, int]] = []
    for index, update in enumerate(analysis.updates):
        revision = first + index
        if revision < 1:
            continue
        defined = {n: update.generations.get(n, 0) for n in (*update.objects, *update.compressed)}
        numbers = {
            n
            for n, generation in defined.items()
            if xrefs.get_historical_ref(generic.Reference(n, generation, reader), revision - 1)
            is None
        }
        if not numbers:
            continue
        if (
            in_bytes is not None
            and in_streams is not None
            and not any(
                in_bytes.get(n, update.start) < update.start
                or in_streams.get(n, revision) < revision
                for n in numbers
            )
        ):
            continue
        referenced = _referenced(reader, revision - 1, numbers)
        if referenced is not None:
            found.append((update.start, referenced))
    return found


def _field_states_at(structure: Structure, revision: int | None) -> Any:
    """Field states of a historical revision (``None``: the document as it is now)."""
    key = -1 if revision is None else revision
    if key not in structure.fields_at:
        reader = structure.opened.reader
        root = reader.root if revision is None else reader.get_historical_root(revision)
        try:
            structure.fields_at[key] = field_states(root)
        except FieldTreeTooLarge:
            structure.fields_at[key] = None
    return structure.fields_at[key]


def refilled_fields(
    structure: Structure, embedded: EmbeddedPdfSignature
) -> tuple[list[str], list[str]] | None:
    """Fields refilled and filled since ``embedded``'s revision (``None``: cannot tell)."""
    signed_revision = embedded.signed_revision
    if signed_revision == structure.opened.reader.xrefs.total_revisions - 1:
        return [], []
    before = _field_states_at(structure, signed_revision)
    now = _field_states_at(structure, None)
    if before is None or now is None:
        return None
    return changed_fields(before, now)


@dataclass(frozen=True)
class SignatureFields:
    """Every filled or empty signature field of a document, sorted as the verifier reports them."""

    #: The signatures that can be read, in signing order.
    embedded: list[EmbeddedPdfSignature]
    empty: list[str]
    #: ``(name, /SubFilter)``: filled fields in a format pyHanko skips silently (a verifier must not).
    unsupported: list[tuple[str, str]]
    #: ``(name, what failed)``: filled fields whose signature dictionary cannot be read — no
    #: ``/Contents`` or ``/ByteRange``, or ones of the wrong type (the *universal signature forgery*:
    #: a signature that shows in a viewer's panel with nothing to check). Reported, never skipped.
    unreadable: list[tuple[str, str]]
    #: ``(name, what it draws, revision)``: empty fields whose widgets draw on their page, and the
    #: last revision that changed the field or what it draws.
    painting_empty: list[tuple[str, Paint, int]] = field(default_factory=list)


_KNOWN_SUBFILTERS = frozenset(
    {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/ETSI.RFC3161", "/adbe.pkcs7.sha1"}
)


def signature_fields(reader: PdfFileReader, *, painting: bool = True) -> SignatureFields:
    """Read every signature field once: one that cannot be read is reported, not a reason to refuse
    the document (its other signatures are still judged). ``painting``: also look for empty fields
    whose widgets were given something to draw after the first signature (verification; signing
    has no use for it)."""
    found = SignatureFields([], [], [], [])
    try:
        fields = list(enumerate_sig_fields(reader))
    except _UNREADABLE as exc:
        raise InvalidDocument(f"unreadable signature fields ({type(exc).__name__})") from exc
    for name, value, sig_field in fields:
        if value is None:
            found.empty.append(str(name))
            painted = _painted_since(reader, sig_field) if painting else None
            if painted is not None:
                found.painting_empty.append((str(name), *painted))
            continue
        try:
            subfilter = entry(value.get_object(), "/SubFilter")
        except _UNREADABLE as exc:
            found.unreadable.append((str(name), type(exc).__name__))
            continue
        if subfilter not in _KNOWN_SUBFILTERS:
            found.unsupported.append((str(name), str(subfilter)))
            continue
        try:
            signature = EmbeddedPdfSignature(reader, sig_field, str(name))
            signed_end(signature)
            _ = signature.signed_revision
        except (*_UNREADABLE, AssertionError) as exc:  # pyHanko asserts /V is a dictionary
            found.unreadable.append((str(name), type(exc).__name__))
            continue
        found.embedded.append(signature)
    found.embedded.sort(key=lambda e: e.signed_revision)
    return found


#: Widget flags that keep an annotation off the screen: Hidden (bit 2), NoView (bit 6).
_INVISIBLE_FLAGS = 2 | 32
#: A field with more widgets, or an appearance with more parts, than this is taken to draw content.
_WIDGET_LIMIT = 64
_APPEARANCE_LIMIT = 64
#: Content-stream operators that show text, images or other drawings (form XObjects).
_SHOWS_CONTENT = re.compile(rb"(?<![A-Za-z0-9*])(?:Tj|TJ|Do|BI|sh|'|\")(?![A-Za-z0-9*])")


class Paint(IntEnum):
    """What an empty signature field's widgets put on the page."""

    NOTHING = 0
    #: Only a box: a background, a border, rectangles (a placeholder for the next signer).
    BOX = 1
    #: Text, an image or a drawing of its own (what the Sneaky Signature Attack writes).
    CONTENT = 2


def _appearance_paint(value: Any) -> Paint:
    """What an appearance (a stream, or a dictionary of appearance states) draws."""
    found = Paint.NOTHING
    stack = [value]
    seen: set[tuple[int, int]] = set()
    visited = 0
    while stack:
        item = stack.pop()
        visited += 1
        if visited > _APPEARANCE_LIMIT:
            return Paint.CONTENT
        if isinstance(item, generic.IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        if isinstance(item, generic.StreamObject):
            if not item.encoded_data:
                continue
            try:
                data = item.data
            except Exception:  # noqa: BLE001 - a filter pyHanko cannot decode: not shown harmless
                return Paint.CONTENT
            if _SHOWS_CONTENT.search(data):
                return Paint.CONTENT
            if data.strip():
                found = Paint.BOX
        elif isinstance(item, generic.DictionaryObject):
            stack.extend(item.raw_get(k) for k in item)
    return found


def _widget_paint(widget: generic.DictionaryObject) -> Paint:
    flags = int(entry(widget, "/F", 0))
    rect = [float(v) for v in widget["/Rect"]]
    if flags & _INVISIBLE_FLAGS or len(rect) != 4:
        return Paint.NOTHING
    if abs(rect[2] - rect[0]) < 1 or abs(rect[3] - rect[1]) < 1:
        return Paint.NOTHING
    paint = Paint.NOTHING
    appearance = entry(widget, "/AP")
    if isinstance(appearance, generic.DictionaryObject) and "/N" in appearance:
        paint = _appearance_paint(appearance.raw_get("/N"))
    characteristics = entry(widget, "/MK")
    if isinstance(characteristics, generic.DictionaryObject) and any(
        isinstance(entry(characteristics, k), generic.ArrayObject) and len(characteristics[k]) > 0
        for k in ("/BG", "/BC")
    ):
        paint = max(paint, Paint.BOX)
    return paint


def _painted_since(reader: PdfFileReader, sig_field: Any) -> tuple[Paint, int] | None:
    """For an empty signature field whose widgets draw on their page: what they draw, and the last
    revision that changed the field, a widget or an appearance (``None``: nothing is drawn). What
    cannot be read is taken to draw content, changed in the last revision."""
    try:
        field_object = sig_field.get_object()
        holders: list[tuple[generic.Reference | None, generic.DictionaryObject]] = [
            (
                sig_field.reference if isinstance(sig_field, generic.IndirectObject) else None,
                field_object,
            )
        ]
        kids = field_object.raw_get("/Kids") if "/Kids" in field_object else None
        if isinstance(kids, generic.IndirectObject):
            kids = kids.get_object()
        if isinstance(kids, generic.ArrayObject):
            if len(kids) > _WIDGET_LIMIT:
                return Paint.CONTENT, reader.xrefs.total_revisions - 1
            for index in range(len(kids)):
                kid = kids.raw_get(index)
                value = kid.get_object() if isinstance(kid, generic.IndirectObject) else kid
                if isinstance(value, generic.DictionaryObject):
                    ref = kid.reference if isinstance(kid, generic.IndirectObject) else None
                    holders.append((ref, value))
        paint = max((_widget_paint(h) for _, h in holders if "/Rect" in h), default=Paint.NOTHING)
        if paint is Paint.NOTHING:
            return None
        refs = [ref for ref, _ in holders if ref is not None]
        for _, holder in holders:
            appearance = holder.raw_get("/AP") if "/AP" in holder else None
            if isinstance(appearance, generic.IndirectObject):
                refs.append(appearance.reference)
                appearance = appearance.get_object()
            if isinstance(appearance, generic.DictionaryObject) and "/N" in appearance:
                normal = appearance.raw_get("/N")
                if isinstance(normal, generic.IndirectObject):
                    refs.append(normal.reference)
        return paint, max((reader.xrefs.get_last_change(ref) for ref in refs), default=0)
    except _UNREADABLE:
        return Paint.CONTENT, reader.xrefs.total_revisions - 1


def removed_signatures(reader: PdfFileReader, present: set[str]) -> list[str]:
    """Signature fields that held a signature in some earlier revision and are gone now (the
    field, its value or the whole ``/AcroForm`` removed after signing)."""
    removed: set[str] = set()
    for revision in range(reader.xrefs.total_revisions - 1):
        resolver = reader.get_historical_resolver(revision)
        try:
            for name, value, _ in enumerate_sig_fields(resolver, filled_status=True):
                if value is not None and str(name) not in present:
                    removed.add(str(name))
        except _UNREADABLE:
            continue
    return sorted(removed)


#: pyHanko's default difference policy, without in-place rewrites of appearance streams: an
#: appearance stream overwritten under its old object number is never "form filling" here (pyHanko's
#: own warning calls such updates inherently risky), and pyHanko's check of them misreads streams
#: made before the signed revision as updated, which broke every locked form's B-LT document.
DIFF_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
        MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(),
            SigFieldModificationRule(allow_in_place_appearance_stream_changes=False),
            GenericFieldModificationRule(allow_in_place_appearance_stream_changes=False),
        ],
    ),
)


_LEVEL_VI = {"FORM_FILLING": "điền biểu mẫu, thêm chữ ký", "ANNOTATIONS": "thêm chú thích"}


def document_warnings(
    structure: Structure,
    embedded: list[EmbeddedPdfSignature],
    empty_fields: list[str],
) -> list[Warning]:
    warnings: list[Warning] = []
    reader = structure.opened.reader
    last_signed = max((e.signed_revision for e in embedded), default=-1)
    for content in find_active_content(reader.root):
        signed = content.object_number and (
            reader.xrefs.get_last_change(generic.Reference(content.object_number, 0, reader))
            <= last_signed
        )
        warnings.append(
            Warning(
                "active-content",
                f"Tài liệu chứa nội dung chủ động ({content.kind.value})"
                + (" trong phần đã ký." if signed else "."),
                f"The document contains active content ({content.kind.value})"
                + (" in its signed part." if signed else "."),
                subject=f"object {content.object_number}" if content.object_number else None,
            )
        )
    if structure.unlisted_definition is not None:
        number, offset = structure.unlisted_definition
        warnings.append(
            Warning(
                "unlisted-definition",
                f"Phần đã ký chứa một định nghĩa khác của đối tượng {number} (vị trí {offset}) mà "
                "bảng tham chiếu không liệt kê: trình xem dựng lại bảng (khi tệp bị hỏng) sẽ hiển "
                "thị định nghĩa đó thay cho nội dung đã ký.",
                f"The signed bytes hold another definition of object {number} (offset {offset}) "
                "that no cross-reference section lists: a viewer that rebuilds the table (for a "
                "damaged copy) shows it instead of what was signed.",
                subject=f"object {number}",
            )
        )
    for name in empty_fields:
        warnings.append(
            Warning(
                "unsigned-signature-field",
                f"Ô chữ ký {name!r} chưa được ký.",
                f"Signature field {name!r} is empty (not signed).",
                subject=name,
            )
        )
    if embedded:
        first_signed = min(e.signed_revision for e in embedded)
        try:
            before = _shown_metadata(reader.get_historical_resolver(first_signed))
        except _UNREADABLE:
            before = {}
        now = _shown_metadata(reader)
        if changed := sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k)):
            names = ", ".join(changed)
            names_vi = ", ".join(_SHOWN_VI.get(name, name) for name in changed)
            warnings.append(
                Warning(
                    "document-information-changed",
                    f"Thông tin tài liệu ({names_vi}) đã bị thay đổi sau chữ ký đầu tiên: trình xem "
                    "có thể hiển thị tiêu đề, tác giả khác với lúc ký.",
                    f"The document information ({names}) was changed after the first signature: "
                    "a viewer may show a title or author that was not signed.",
                    subject=names,
                )
            )
    return warnings


#: Document information a viewer shows (the window title with ``/DisplayDocTitle``, the document's
#: properties), in the information dictionary and in the XMP metadata (which a viewer prefers).
#: Changing it is "LTA_UPDATES" to pyHanko (writers of validation data touch the dates) and passes.
#: XMP is compared as parsed: signing rewrites its serialisation (pyHanko does) keeping the values.
_SHOWN_INFO = ("/Title", "/Author", "/Subject", "/Keywords")
_SHOWN_XMP = {
    xmp_model.DC_TITLE: "XMP title",
    xmp_model.DC_CREATOR: "XMP creator",
    xmp_model.DC_DESCRIPTION: "XMP description",
}
#: The same, as a person reads them on the verification page.
_SHOWN_VI = {
    "Title": "tiêu đề",
    "Author": "tác giả",
    "Subject": "chủ đề",
    "Keywords": "từ khoá",
    "XMP title": "tiêu đề XMP",
    "XMP creator": "tác giả XMP",
    "XMP description": "mô tả XMP",
    "unreadable": "không đọc được",
}


def _shown_metadata(resolver: Any) -> dict[str, str]:
    """What a viewer shows of the document information, as of ``resolver``'s revision."""
    shown: dict[str, str] = {}

    def at_revision(container: Any, key: str) -> Any:
        # An indirect value as of ``resolver``'s revision (``entry`` would give the newest).
        value = container.raw_get(key) if key in container else None
        if isinstance(value, generic.IndirectObject):
            value = resolver.get_object(value.reference)
        return value

    try:
        info = at_revision(resolver.trailer_view, "/Info")
        if isinstance(info, generic.DictionaryObject):
            for key in _SHOWN_INFO:
                value = at_revision(info, key)
                if value is not None:
                    shown[key[1:]] = str(value)
        metadata = at_revision(resolver.root, "/Metadata")
        if isinstance(metadata, generic.StreamObject):
            # pyHanko's XMP reader: lxml without entities (refused), as pyHanko's signing uses it.
            for structure in xmp_xml.parse_xmp(BytesIO(metadata.data)):
                for name, value in structure:
                    if name in _SHOWN_XMP:
                        shown[_SHOWN_XMP[name]] = repr(value)
    except (*_UNREADABLE, SyntaxError, NotImplementedError):
        shown["unreadable"] = "unreadable"
    return shown


def later_changes_warning(level: str) -> Warning:
    """What the changes after the last signature were, when it permits them (form filling...)."""
    return Warning(
        "later-revisions",
        "Tài liệu có thay đổi sau chữ ký cuối cùng mà chữ ký cho phép "
        f"({_LEVEL_VI.get(level, level)}).",
        "The document was changed after its last signature in ways the signature permits "
        f"({level.lower().replace('_', ' ')}).",
    )


# -- long-term validation data: a fast, strict proof --------------------------------------------------

#: Document information entries a validation-data update may change (pyHanko's DSS writer sets them).
_INFO_UPDATES = frozenset({"/ModDate", "/Producer"})


def _same(old: Any, new: Any, depth: int = 0) -> bool:
    """The same PDF value in two revisions: references by number, containers element by element."""
    if depth > 32:
        return False
    if isinstance(old, generic.IndirectObject) or isinstance(new, generic.IndirectObject):
        return (
            isinstance(old, generic.IndirectObject)
            and isinstance(new, generic.IndirectObject)
            and (old.idnum, old.generation) == (new.idnum, new.generation)
        )
    if isinstance(old, generic.DictionaryObject) or isinstance(new, generic.DictionaryObject):
        return (
            isinstance(old, generic.DictionaryObject)
            and isinstance(new, generic.DictionaryObject)
            and set(old) == set(new)
            and all(_same(old.raw_get(k), new.raw_get(k), depth + 1) for k in old)
        )
    if isinstance(old, generic.ArrayObject) or isinstance(new, generic.ArrayObject):
        return (
            isinstance(old, generic.ArrayObject)
            and isinstance(new, generic.ArrayObject)
            and len(old) == len(new)
            and all(_same(a, b, depth + 1) for a, b in zip(old, new, strict=True))
        )
    return type(old) is type(new) and bool(old == new)


def _new_reachable(value: Any, written: dict[int, generic.PdfObject]) -> set[int]:
    """Numbers of the objects written in this revision (``written``) reachable from ``value``;
    references to older objects end the walk (they were judged with their own revision)."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, generic.IndirectObject):
            if item.idnum in seen or item.idnum not in written:
                continue
            seen.add(item.idnum)
            item = written[item.idnum]
        if isinstance(item, generic.DictionaryObject):
            stack.extend(item.raw_get(k) for k in item)
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item)
    return seen


def validation_data_only(reader: PdfFileReader, revision: int, update: Update) -> bool:
    """Whether ``revision`` (whose bytes ``update`` read strictly) does nothing but add long-term
    validation data, provably: the catalogue is unchanged but for its ``/DSS``, the document
    information but for its dates, and every other object it writes is new and reachable from the
    ``/DSS`` alone (so no page, field or annotation can see it). ``False`` means "ask the full
    difference analysis".

    pyHanko's analysis says the same of such a revision (``LTA_UPDATES``) after walking every
    path of the document (most of a B-LT verification's time); this check is strictly narrower and
    reads only what the strict reading of the update already read, and the previous catalogue."""
    trailer = update.trailer
    if revision < 1 or trailer is None or "/Encrypt" in trailer:
        return False
    if update.freed or update.compressed:
        # A freed object (an overlay that hid signed content: the shadow attack's "hide"), or one
        # defined inside an object stream (a page rewritten where ``values`` does not look): the
        # full analysis judges those.
        return False
    written = update.values
    try:
        old = reader.get_historical_resolver(revision - 1)
        old_trailer = old.trailer_view
        root = trailer.raw_get("/Root")
        if not isinstance(root, generic.IndirectObject) or not _same(
            old_trailer.raw_get("/Root"), root
        ):
            return False
        old_root, new_root = old.root, written.get(root.idnum, old.root)
        if not isinstance(new_root, generic.DictionaryObject) or "/DSS" not in new_root:
            return False
        if set(old_root) - {"/DSS"} != set(new_root) - {"/DSS"} or not all(
            _same(old_root.raw_get(k), new_root.raw_get(k)) for k in old_root if k != "/DSS"
        ):
            return False
        allowed = {root.idnum}
        info = trailer.raw_get("/Info") if "/Info" in trailer else None
        if isinstance(info, generic.IndirectObject) and info.idnum in written:
            allowed.add(info.idnum)
            old_info = old_trailer.raw_get("/Info") if "/Info" in old_trailer else None
            if old_info is not None:
                before, after = old_info.get_object(), written[info.idnum]
                if not _same(old_info, info) or not isinstance(after, generic.DictionaryObject):
                    return False
                if set(before) - _INFO_UPDATES != set(after) - _INFO_UPDATES or not all(
                    _same(before.raw_get(k), after.raw_get(k))
                    for k in before
                    if k not in _INFO_UPDATES
                ):
                    return False
        dss = _new_reachable(new_root.raw_get("/DSS"), written)
        xrefs = reader.xrefs
        for number, value in written.items():
            if number in allowed or number in dss:
                continue
            if isinstance(value, generic.StreamObject) and entry(value, "/Type") in (
                "/XRef",
                "/ObjStm",
            ):
                continue
            return False  # an object that the DSS does not hold
        old_size = int(old_trailer["/Size"])
        for number in dss | (set(written) - allowed):
            if number < old_size or update.generations.get(number, 0) != 0:
                return False  # a number in use before (under any generation), or reused
            ref = generic.Reference(number, 0, reader)
            if xrefs.get_historical_ref(ref, revision - 1) is not None:
                return False  # an existing object rewritten
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True
