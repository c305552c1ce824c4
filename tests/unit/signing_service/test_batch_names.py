"""Documents of a batch are named by their file names, and two files of the same name (two students'
"hoc-ba.pdf" from two folders) are both kept, each with a name of its own, as a browser saves them."""

from __future__ import annotations

import asyncio

from signing_service.batch_uploads import triage_uploads
from signing_service.documents import UntrustedDocument


async def _no_signatures(document: UntrustedDocument) -> int:
    return 0


def test_a_name_used_again_gets_a_number_and_nothing_is_refused() -> None:
    uploads: list[tuple[str | None, bytes | None]] = [
        ("lop-10A1/hoc-ba.pdf", b"a"),
        ("lop-10A2/hoc-ba.pdf", b"b"),
        ("hoc-ba.pdf", b"c"),
        ("hoc-ba (2).pdf", b"d"),
        (None, b"e"),
        ("README", b"f"),
        ("README", b"g"),
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
    assert [content for _, content in triaged.documents] == [
        b"a",
        b"b",
        b"c",
        b"d",
        b"e",
        b"f",
        b"g",
    ]
