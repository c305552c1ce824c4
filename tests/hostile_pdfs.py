"""Hand-built hostile PDFs for the tests: bombs, object floods, broken cross-references."""

from __future__ import annotations

import struct
import zlib

_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_PAGE_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
]


def _body(objects: list[bytes]) -> tuple[bytes, list[int]]:
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    return bytes(out), offsets


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (object 1 is the catalogue) with a correct classic xref table."""
    body, offsets = _body(objects)
    xref = bytearray(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        xref += b"%010d 00000 n \n" % offset
    trailer = b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(body),
    )
    return body + bytes(xref) + trailer


def many_objects(count: int) -> bytes:
    """A valid one-page PDF with ``count`` extra (unreferenced) objects and a classic xref table."""
    return pdf_of(_PAGE_OBJECTS + [b"(filler %d)" % i for i in range(count)])


def cyclic_page_tree() -> bytes:
    """A page tree whose node lists itself among its kids (a reader that recurses never ends)."""
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


def deeply_nested_annotations(depth: int = 20_000) -> bytes:
    """A page whose /Annots is an array nested ``depth`` deep (a recursive parser overflows)."""
    nested = b"[" * depth + b"]" * depth
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots " + nested + b" >>",
        ]
    )


def annotations_not_an_array() -> bytes:
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots 42 >>",
        ]
    )


def fields_not_an_array() -> bytes:
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields /Nothing >> >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


def media_box(value: bytes) -> bytes:
    """A one-page PDF whose page has ``/MediaBox value`` (names, three numbers, ...)."""
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox " + value + b" >>",
        ]
    )


def page_count_lies(count: int = 5) -> bytes:
    """A page tree that claims ``count`` pages and holds one."""
    return pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


def xref_stream_bomb(decompressed_bytes: int) -> bytes:
    """A one-page PDF whose cross-reference stream inflates to ``decompressed_bytes``.

    The reader must inflate the stream to find any object, so the bomb goes off on opening.
    """
    body, offsets = _body(_PAGE_OBJECTS)
    xref_number = len(_PAGE_OBJECTS) + 1
    rows = bytearray(struct.pack(">BIH", 0, 0, 65535))
    for offset in offsets:
        rows += struct.pack(">BIH", 1, offset, 0)
    rows += struct.pack(">BIH", 1, len(body), 0)
    compressor = zlib.compressobj(9)
    data = bytearray(compressor.compress(bytes(rows)))
    chunk = bytes(1024 * 1024)
    remaining = decompressed_bytes
    while remaining > 0:
        data += compressor.compress(chunk[: min(len(chunk), remaining)])
        remaining -= len(chunk)
    data += compressor.flush()
    xref = (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode"
        b" /Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, len(data))
        + bytes(data)
        + b"\nendstream\nendobj\n"
    )
    return body + xref + b"startxref\n%d\n%%%%EOF\n" % len(body)


def broken_xref(pdf: bytes) -> bytes:
    """``pdf`` with its startxref pointing into the middle of an object."""
    head, _, _ = pdf.rpartition(b"startxref")
    return head + b"startxref\n17\n%%EOF\n"
