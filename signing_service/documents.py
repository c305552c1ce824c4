"""Uploaded PDFs, before and after they are trusted to parse.

An upload is ``UntrustedDocument`` bytes until :func:`open_document` has checked its header, parsed its
structure and refused encryption. Errors name the problem without echoing the content.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import NewType

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signing_service.errors import EncryptedDocument, InvalidDocument

UntrustedDocument = NewType("UntrustedDocument", bytes)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_document(document: UntrustedDocument) -> PdfFileReader:
    """Parse ``document`` as a PDF; raise :class:`InvalidDocument` or :class:`EncryptedDocument`."""
    if b"%PDF-" not in document[:1024]:
        raise InvalidDocument("no %PDF- header in the first 1024 bytes")
    try:
        reader = PdfFileReader(BytesIO(document), strict=False)
        if reader.encrypted:
            raise EncryptedDocument()
        # Touch the document catalogue and page tree so that a broken file fails here, not later.
        root = reader.root
        _ = root["/Pages"]
    except EncryptedDocument:
        raise
    except (PdfError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise InvalidDocument(f"unreadable PDF structure ({type(exc).__name__})") from exc
    return reader
