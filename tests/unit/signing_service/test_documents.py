from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from devstack.demo import transcript_pdf
from signing_service.documents import UntrustedDocument, open_document
from signing_service.errors import EncryptedDocument, InvalidDocument


def test_a_pdf_opens() -> None:
    reader = open_document(UntrustedDocument(transcript_pdf(["x"])))
    assert reader.root["/Pages"]["/Count"] == 1


@pytest.mark.parametrize(
    "content",
    [b"", b"hello", b"<html>%PDF-</html>"[:4], b"PK\x03\x04" + b"\x00" * 100],
    ids=["empty", "text", "html", "zip"],
)
def test_not_a_pdf_is_refused(content: bytes) -> None:
    with pytest.raises(InvalidDocument):
        open_document(UntrustedDocument(content))


def test_truncated_pdf_is_refused() -> None:
    pdf = transcript_pdf(["x"])
    with pytest.raises(InvalidDocument):
        open_document(UntrustedDocument(pdf[: len(pdf) // 3]))


def test_encrypted_pdf_is_refused() -> None:
    writer = copy_into_new_writer(PdfFileReader(BytesIO(transcript_pdf(["x"]))))
    writer.encrypt("owner-pw", "user-pw")
    out = BytesIO()
    writer.write(out)
    with pytest.raises(EncryptedDocument):
        open_document(UntrustedDocument(out.getvalue()))


@pytest.mark.parametrize(
    "raw",
    [
        b"<48656c6c6f> rest",
        b"<4 8 6\n5>x",
        b"<486>",
        b"<>",
        b"<48%comment\n65>",
        b"<4G>",
        b"<4865",
        b"<" + b"ab" * 70_000 + b">tail",
        b"<" + b"ab" * 40_000 + b"%x\n" + b"cd" * 40_000 + b">",
    ],
)
def test_fast_hex_string_reader_matches_pyhanko(raw: bytes) -> None:
    """The hex-string reader installed by ``documents`` answers exactly as pyHanko's own."""
    import io

    from signing_service import documents

    def read(reader: Any) -> tuple[Any, int] | str:
        stream = io.BytesIO(raw)
        try:
            value = reader(stream)
        except Exception as exc:  # noqa: BLE001 - the error type is what is compared
            return type(exc).__name__
        return value.original_bytes, stream.tell()

    assert read(documents._read_hex_string) == read(documents._ORIGINAL_READ_HEX)
