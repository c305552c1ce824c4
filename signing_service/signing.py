"""PAdES signing of PDF documents with a key held in the token.

The domain logic knows nothing of HTTP: it takes untrusted bytes and a level, and returns the signed
document. pyHanko does the PDF work; the private key operation happens inside the PKCS#11 token.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO

import aiohttp
import structlog
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

from signing_service.documents import UntrustedDocument, open_document, sha256_hex
from signing_service.errors import SigningFailed, TimestampUnavailable

_log = structlog.get_logger(__name__)


class SignatureLevel(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"


@dataclass(frozen=True)
class SignedDocument:
    content: bytes
    field_name: str
    level: SignatureLevel
    input_sha256: str
    output_sha256: str


class DocumentSigner:
    """Signs documents with one token key. Token operations are serialised: one session, one lock."""

    def __init__(
        self,
        signer: signers.Signer,
        *,
        key_label: str,
        tsa_url: str | None = None,
        tsa_timeout: float = 10.0,
    ) -> None:
        self._signer = signer
        self.key_label = key_label
        self._tsa_url = tsa_url
        self._tsa_timeout = tsa_timeout
        self._lock = asyncio.Lock()

    def supports(self, level: SignatureLevel) -> bool:
        return level is SignatureLevel.B_B or self._tsa_url is not None

    async def sign(
        self,
        document: UntrustedDocument,
        level: SignatureLevel,
        *,
        reason: str | None = None,
        location: str | None = None,
    ) -> SignedDocument:
        reader = open_document(document)
        existing = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
        number = len(existing) + 1
        while f"Signature{number}" in existing:
            number += 1
        field_name = f"Signature{number}"
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
        )
        timestamper = None
        if level is SignatureLevel.B_T:
            if not self._tsa_url:
                raise TimestampUnavailable("no TSA configured")
            timestamper = HTTPTimeStamper(self._tsa_url, timeout=self._tsa_timeout)
        pdf_signer = signers.PdfSigner(meta, signer=self._signer, timestamper=timestamper)
        writer = IncrementalPdfFileWriter(BytesIO(document), strict=False)
        output = BytesIO()
        try:
            async with self._lock:
                await pdf_signer.async_sign_pdf(writer, output=output)
        except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
            _log.error("signing.tsa_failed", error=type(exc).__name__)
            raise TimestampUnavailable() from exc
        except PyHankoSigningError as exc:
            _log.error("signing.failed", error=type(exc).__name__)
            raise SigningFailed() from exc
        content = output.getvalue()
        return SignedDocument(
            content=content,
            field_name=field_name,
            level=level,
            input_sha256=sha256_hex(document),
            output_sha256=sha256_hex(content),
        )
