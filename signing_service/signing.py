"""PAdES signing of PDF documents with a key held in the token.

The domain logic knows nothing of HTTP: it takes untrusted bytes and a :class:`SignatureRequest`, and
returns the signed document. pyHanko does the PDF work; the private key operation happens inside the
PKCS#11 token. Levels follow ETSI EN 319 142-1: B-B, B-T (RFC 3161 timestamp), B-LT (certificates and
revocation data embedded in a DSS), B-LTA (plus a document timestamp over all of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from typing import Any

import aiohttp
import structlog
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import LayoutError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from signing_service import name_matching
from signing_service.appearance import VisibleStamp, stamp_box, stamp_style
from signing_service.documents import UntrustedDocument, open_document, sha256_hex
from signing_service.errors import (
    DocumentNotSignable,
    RevocationUnavailable,
    SigningFailed,
    TimestampUnavailable,
)

_log = structlog.get_logger(__name__)


#: pyHanko's refusals that come from the document's own state (its locks and seed values), not from us.
_DOCUMENT_STATE_REFUSALS = (
    "Certification signatures must be the first",
    "Author signature forbids all changes",
    "Inconsistency in form field data",
    "Failed to read /Lock",
    "The seed value dictionary",
    "Attempting to sign document with hybrid",
)


def _media_box(page: Any) -> tuple[float, float, float, float]:
    """A page's /MediaBox, inherited from its parents if need be (A4 if none says)."""
    node = page
    for _ in range(32):
        if "/MediaBox" in node:
            x0, y0, x1, y1 = (float(v) for v in node["/MediaBox"])
            return (x0, y0, x1, y1)
        if "/Parent" not in node:
            break
        node = node["/Parent"]
    return (0.0, 0.0, 595.0, 842.0)


name_matching.install()

_DSS_IN_SIGNED_REVISION = DSSContentSettings(
    placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
)


class SignatureLevel(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def needs_timestamp(self) -> bool:
        return self is not SignatureLevel.B_B

    @property
    def reserved_bytes(self) -> int:
        """Room for the CMS container: the chain, plus a timestamp token from B-T on."""
        return 12 * 1024 if self is SignatureLevel.B_B else 24 * 1024

    @property
    def embeds_revocation(self) -> bool:
        return self in {SignatureLevel.B_LT, SignatureLevel.B_LTA}


@dataclass(frozen=True)
class SignatureRequest:
    level: SignatureLevel = SignatureLevel.B_B
    reason: str | None = None
    location: str | None = None
    #: A certification (DocMDP) signature: the document may afterwards only get form filling and
    #: further signatures; anything else breaks it. Only the first signature of a document can certify.
    certify: bool = False
    stamp: VisibleStamp | None = None


@dataclass(frozen=True)
class SignedDocument:
    content: bytes
    field_name: str
    level: SignatureLevel
    certified: bool
    input_sha256: str
    output_sha256: str


@dataclass
class _TsaSession:
    session: aiohttp.ClientSession | None = None


class DocumentSigner:
    """Signs documents with one token key; many documents at once (the signer serialises the token)."""

    def __init__(
        self,
        signer: signers.Signer,
        *,
        key_label: str,
        trust_roots: list[asn1_x509.Certificate],
        tsa_url: str | None = None,
        tsa_timeout: float = 10.0,
    ) -> None:
        self._signer = signer
        self.key_label = key_label
        self._trust_roots = trust_roots
        self._tsa_url = tsa_url
        self._tsa_timeout = tsa_timeout
        # One HTTP session to the TSA for the service's life, shared by every signer made with
        # :meth:`with_signer`: a connection per timestamp costs more than the timestamp.
        self._tsa: _TsaSession = _TsaSession()

    def with_signer(self, signer: signers.Signer, *, key_label: str) -> DocumentSigner:
        """The same signing (trust roots, TSA and its session) with another key."""
        other = DocumentSigner(
            signer,
            key_label=key_label,
            trust_roots=self._trust_roots,
            tsa_url=self._tsa_url,
            tsa_timeout=self._tsa_timeout,
        )
        other._tsa = self._tsa
        return other

    @property
    def signer_name(self) -> str:
        cert = self._signer.signing_cert
        return str(cert.subject.native.get("common_name", "")) if cert is not None else ""

    async def aclose(self) -> None:
        if self._tsa.session is not None:
            await self._tsa.session.close()

    def supports(self, level: SignatureLevel) -> bool:
        return not level.needs_timestamp or self._tsa_url is not None

    def _validation_context(self) -> ValidationContext:
        # Fetching is on: B-LT embeds the OCSP responses and CRLs it fetches now.
        return ValidationContext(
            trust_roots=self._trust_roots, allow_fetching=True, revocation_mode="require"
        )

    async def sign(self, document: UntrustedDocument, request: SignatureRequest) -> SignedDocument:
        reader = open_document(document)
        if request.certify and reader.embedded_signatures:
            raise DocumentNotSignable("a certification signature must be the document's first")
        existing = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
        number = len(existing) + 1
        while f"Signature{number}" in existing:
            number += 1
        field_name = f"Signature{number}"
        level = request.level
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=request.reason,
            location=request.location,
            certify=request.certify,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            embed_validation_info=level.embeds_revocation,
            validation_context=self._validation_context() if level.embeds_revocation else None,
            use_pades_lta=level is SignatureLevel.B_LTA,
            # The validation data (the signer's and the TSA's, gathered before signing) goes into
            # the signed revision itself: a B-LT document of one revision, which validators without
            # incremental-update analysis accept, and which a verifier checks without diffing a
            # DSS-only update (measured in bench/signing_throughput.py).
            dss_settings=_DSS_IN_SIGNED_REVISION,
        )
        timestamper = None
        if level.needs_timestamp:
            if not self._tsa_url:
                raise TimestampUnavailable("no TSA configured")
            if self._tsa.session is None or self._tsa.session.closed:
                self._tsa.session = aiohttp.ClientSession()
            timestamper = HTTPTimeStamper(
                self._tsa_url, timeout=self._tsa_timeout, session=self._tsa.session
            )
        field_spec = None
        text_params = None
        style = None
        if request.stamp is not None:
            pages = reader.root["/Pages"]["/Count"]
            page = request.stamp.page
            index = pages - 1 if page == -1 else page - 1
            if not 0 <= index < pages:
                raise DocumentNotSignable(f"page {page} does not exist (the document has {pages})")
            media_box = _media_box(reader.find_page_for_modification(index)[0].get_object())
            field_spec = fields.SigFieldSpec(
                field_name,
                on_page=index,
                box=stamp_box(media_box),
            )
            text_params = request.stamp.text_params()
            style = stamp_style()
        pdf_signer = signers.PdfSigner(
            meta,
            signer=self._signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=field_spec,
        )
        writer = IncrementalPdfFileWriter(BytesIO(document), strict=False)
        output = BytesIO()
        try:
            await pdf_signer.async_sign_pdf(
                writer,
                output=output,
                appearance_text_params=text_params,
                # Reserving the signature container's size up front saves pyHanko a dry-run
                # signature per document (its way of measuring the container).
                bytes_reserved=level.reserved_bytes,
            )
        except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
            _log.error("signing.tsa_failed", error=type(exc).__name__)
            raise TimestampUnavailable() from exc
        except (PathBuildingError, PathValidationError) as exc:
            _log.error("signing.revocation_failed", error=type(exc).__name__)
            raise RevocationUnavailable() from exc
        except LayoutError as exc:
            raise DocumentNotSignable("the visible stamp does not fit on the page") from exc
        except PyHankoSigningError as exc:
            if isinstance(exc.__cause__, PathBuildingError | PathValidationError):
                _log.error("signing.chain_invalid", error=type(exc.__cause__).__name__)
                raise RevocationUnavailable() from exc
            message = str(exc)
            if message.startswith(_DOCUMENT_STATE_REFUSALS):
                raise DocumentNotSignable(message[:200]) from exc
            _log.error("signing.failed", error=type(exc).__name__, detail=message[:200])
            raise SigningFailed() from exc
        content = output.getvalue()
        return SignedDocument(
            content=content,
            field_name=field_name,
            level=level,
            certified=request.certify,
            input_sha256=sha256_hex(document),
            output_sha256=sha256_hex(content),
        )
