"""Documents of a batch are named by their file names, and two files of the same name (two students'
"hoc-ba.pdf" from two folders) are both kept, each with a name of its own, as a browser saves them."""

from __future__ import annotations

import asyncio
import hashlib
from io import BytesIO

from signing_service.batch_uploads import Upload, received, triage_uploads
from signing_service.documents import DocumentFacts, UntrustedDocument


async def _no_signatures(document: UntrustedDocument) -> DocumentFacts:
    return DocumentFacts(pages=1, objects=3, revisions=1, signatures=0)


def test_a_name_used_again_gets_a_number_and_nothing_is_refused() -> None:
    uploads: list[Upload] = [
        received(name, BytesIO(content), 1024)
        for name, content in [
            ("lop-10A1/hoc-ba.pdf", b"a"),
            ("lop-10A2/hoc-ba.pdf", b"b"),
            ("hoc-ba.pdf", b"c"),
            ("hoc-ba (2).pdf", b"d"),
            (None, b"e"),
            ("README", b"f"),
            ("README", b"g"),
        ]
    ]
    triaged = asyncio.run(triage_uploads(uploads, _no_signatures))
    names = [name for name, _ in triaged.documents]
    assert names == [
        "hoc-ba.pdf",
        "hoc-ba (2).pdf",
        "hoc-ba (3).pdf",
        "hoc-ba (2) (2).pdf",
        "document-5",
        "README",
        "README (2)",
    ]
    assert len(set(names)) == len(names) and triaged.refused == {}
    assert [upload.read() for _, upload in triaged.documents] == [
        b"a",
        b"b",
        b"c",
        b"d",
        b"e",
        b"f",
        b"g",
    ]


def test_an_upload_is_hashed_where_it_lies_and_one_over_the_limit_is_named_only() -> None:
    content = bytes(range(256)) * 5000  # over one read chunk
    kept = received("hoc-ba.pdf", BytesIO(content), len(content))
    assert kept.sha256 == hashlib.sha256(content).hexdigest() and kept.read() == content
    over = received("big.pdf", BytesIO(content), len(content) - 1)
    assert over.file is None and over.read() == b""
    triaged = asyncio.run(triage_uploads([over], _no_signatures))
    assert triaged.refused == {0: "document-too-large"}
