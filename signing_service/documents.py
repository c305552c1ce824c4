"""Uploaded PDFs, before and after they are trusted to parse.

An upload is ``UntrustedDocument`` bytes until :func:`open_document` has checked its header, parsed its
structure and refused encryption. Errors name the problem without echoing the content.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any, NewType

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from signing_service.errors import DocumentTooComplex, EncryptedDocument, InvalidDocument

UntrustedDocument = NewType("UntrustedDocument", bytes)


def entry(dictionary: Any, key: str, default: Any = None) -> Any:
    """``dictionary[key]`` with indirect references followed (pyHanko's ``get`` does not follow
    them), or ``default`` when the key is absent or the value cannot be resolved."""
    if not isinstance(dictionary, generic.DictionaryObject) or key not in dictionary:
        return default
    try:
        return dictionary[key]
    except (PdfError, KeyError, ValueError, TypeError, IndexError):
        return default


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


# -- a faster reader for PDF hex strings ---------------------------------------------------------
# pyHanko reads a hex string one byte at a time through a Python generator. A signature's /Contents
# is a hex string of twice the reserved container (48 KiB for B-T and above), so reading it was a
# third of the time of verifying a document (profiled in-process: 23 of 62 ms). This reader finds
# the closing '>' in one search and decodes with binascii; anything unusual inside the string (a
# comment, a byte that is neither hex nor whitespace, no closing '>') goes back to pyHanko's own
# reader, which keeps its exact behaviour and error messages.
_ORIGINAL_READ_HEX = generic.read_hex_string_from_stream
_PLAIN_HEX = re.compile(rb"[0-9A-Fa-f\x00\t\n\x0c\r ]*")
_WHITESPACE = b"\x00\t\n\x0c\r "
_CHUNK = 64 * 1024


def _read_hex_string(stream: IO[bytes]) -> Any:
    start = stream.tell()
    stream.read(1)  # the opening '<'
    buffered = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        buffered += chunk
        end = buffered.find(b">", len(buffered) - len(chunk))
        if end >= 0:
            body = buffered[:end]
            if _PLAIN_HEX.fullmatch(body):
                stream.seek(start + 1 + end + 1)
                digits = body.translate(None, _WHITESPACE)
                if len(digits) % 2:
                    digits += b"0"
                return generic.pdf_string(binascii.unhexlify(digits))
            break
        if not _PLAIN_HEX.fullmatch(buffered):
            break
    stream.seek(start)
    return _ORIGINAL_READ_HEX(stream)


generic.read_hex_string_from_stream = _read_hex_string


@dataclass(frozen=True)
class DocumentFacts:
    """What the pre-flight inspection learnt about a document that parsed within the limits."""

    pages: int
    objects: int
    revisions: int
    signatures: int
    #: The document's own title (its metadata), for the record kept of what was signed.
    title: str = ""


def inspect_document(document: UntrustedDocument, max_objects: int) -> DocumentFacts:
    """Open ``document`` and touch what signing will touch; refuse one with too many objects."""
    reader = open_document(document)
    xrefs = reader.xrefs
    objects = sum(len(xrefs.explicit_refs_in_revision(r)) for r in range(xrefs.total_revisions))
    if objects > max_objects:
        raise DocumentTooComplex(f"{objects} objects; the limit is {max_objects}")
    pages = int(reader.root["/Pages"]["/Count"])
    # Every filled signature field, read or not: one whose signature cannot be read is still a
    # step taken, and signing refuses it by name (``integrity.signature_fields``).
    signatures = sum(value is not None for _, value, _ in enumerate_sig_fields(reader))
    return DocumentFacts(
        pages=pages,
        objects=objects,
        revisions=xrefs.total_revisions,
        signatures=signatures,
        title=document_title(reader),
    )


def document_title(reader: Any) -> str:
    """The title in the document's information dictionary, if it is a plain string."""
    try:
        title = reader.trailer_view["/Info"]["/Title"]
    except (KeyError, TypeError, AttributeError, ValueError):
        return ""
    return unicodedata.normalize("NFC", str(title))[:200] if isinstance(title, str) else ""
