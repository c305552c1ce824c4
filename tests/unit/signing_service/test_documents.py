from __future__ import annotations

from io import BytesIO

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
