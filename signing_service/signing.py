"""PAdES signing of PDF documents with a key held in the token.

The domain logic knows nothing of HTTP: it takes untrusted bytes and a :class:`SignatureRequest`, and
returns the signed document. pyHanko does the PDF work; the private key operation happens inside the
PKCS#11 token. Levels follow ETSI EN 319 142-1: B-B, B-T (RFC 3161 timestamp), B-LT (certificates and
revocation data embedded in a DSS), B-LTA (plus a document timestamp over all of it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO

import aiohttp
import structlog
from asn1crypto import x509 as asn1_x509
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

from signing_service import name_matching
from signing_service.appearance import VisibleStamp
from signing_service.documents import UntrustedDocument, sha256_hex
from signing_service.errors import SigningFailed, TimestampUnavailable
from signing_service.preparation import (
    FieldLock,
    PreparedSignature,
    SignaturePlan,
    extend_signature,
    prepare_signature,
)
from signing_service.sandbox import DocumentSandbox

_log = structlog.get_logger(__name__)

name_matching.install()


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
    #: What the signature locks (the signing policy decides per document type and step).
    lock: FieldLock = FieldLock.FIELDS
    #: Documents with JavaScript, launch actions or embedded programs are refused unless allowed.
    allow_active_content: bool = False
    stamp: VisibleStamp | None = None
    #: A certification's places for the signatures its document type asks for after it, each with
    #: the lock of its step: after a certification, a visible signature may only fill a place
    #: that was there when the document was certified (a new visible field is not a permitted change).
    later_locks: tuple[FieldLock, ...] = ()

    def to_json(self) -> str:
        """The request as a batch keeps it (in Redis), for the runner that signs its documents."""
        fields = dataclasses.asdict(self)
        fields["level"] = self.level.value
        fields["lock"] = self.lock.value
        fields["later_locks"] = [lock.value for lock in self.later_locks]
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SignatureRequest:
        fields = json.loads(text)
        stamp = fields.pop("stamp")
        return cls(
            **{
                **fields,
                "level": SignatureLevel(fields["level"]),
                "lock": FieldLock(fields["lock"]),
                "later_locks": tuple(FieldLock(v) for v in fields.get("later_locks", ())),
                "stamp": VisibleStamp(**stamp) if stamp else None,
            }
        )


@dataclass(frozen=True)
class SignedDocument:
    content: bytes
    field_name: str
    level: SignatureLevel
    certified: bool
    input_sha256: str
    output_sha256: str
    #: The document's own title (its metadata), read where it was prepared.
    title: str = ""


@dataclass
class _TsaSession:
    session: aiohttp.ClientSession | None = None


class DocumentSigner:
    """Signs documents with one token key; many documents at once (the signer serialises the token).

    Everything that reads the document runs in the sandbox (:mod:`signing_service.preparation`):
    here, only the CMS signature over the prepared digest is made (the key stays in the token) and
    written into the placeholder the worker left for it.
    """

    def __init__(
        self,
        signer: signers.Signer,
        *,
        key_label: str,
        trust_roots: list[asn1_x509.Certificate],
        sandbox: DocumentSandbox,
        max_objects: int = 200_000,
        tsa_url: str | None = None,
        tsa_timeout: float = 10.0,
    ) -> None:
        self._signer = signer
        self.key_label = key_label
        self._trust_roots_der = [root.dump() for root in trust_roots]
        self._sandbox = sandbox
        self._max_objects = max_objects
        self._tsa_url = tsa_url
        self._tsa_timeout = tsa_timeout
        cert = signer.signing_cert
        if cert is None:
            raise SigningFailed("the signer has no certificate")
        self._certificate = cert.dump()
        self._chain = tuple(c.dump() for c in signer.cert_registry if c.dump() != self._certificate)
        # One HTTP session to the TSA for the service's life, shared by every signer made with
        # :meth:`with_signer`: a connection per timestamp costs more than the timestamp.
        self._tsa: _TsaSession = _TsaSession()

    def with_signer(self, signer: signers.Signer, *, key_label: str) -> DocumentSigner:
        """The same signing (trust roots, TSA and its session, sandbox) with another key."""
        other = DocumentSigner(
            signer,
            key_label=key_label,
            trust_roots=[],
            sandbox=self._sandbox,
            max_objects=self._max_objects,
            tsa_url=self._tsa_url,
            tsa_timeout=self._tsa_timeout,
        )
        other._trust_roots_der = self._trust_roots_der
        other._tsa = self._tsa
        return other

    @property
    def signer_name(self) -> str:
        cert = self._signer.signing_cert
        return str(cert.subject.native.get("common_name", "")) if cert is not None else ""

    @property
    def signer_title(self) -> str:
        """The signer's title (X.520 ``title``) from their certificate, if it has one."""
        cert = self._signer.signing_cert
        return str(cert.subject.native.get("title", "")) if cert is not None else ""

    async def aclose(self) -> None:
        if self._tsa.session is not None:
            await self._tsa.session.close()

    def supports(self, level: SignatureLevel) -> bool:
        return not level.needs_timestamp or self._tsa_url is not None

    def _timestamper(self) -> HTTPTimeStamper:
        if not self._tsa_url:
            raise TimestampUnavailable("no TSA configured")
        if self._tsa.session is None or self._tsa.session.closed:
            self._tsa.session = aiohttp.ClientSession()
        return HTTPTimeStamper(self._tsa_url, timeout=self._tsa_timeout, session=self._tsa.session)

    async def sign(self, document: UntrustedDocument, request: SignatureRequest) -> SignedDocument:
        level = request.level
        timestamper = self._timestamper() if level.needs_timestamp else None
        plan = SignaturePlan(
            field_name_prefix="Signature",
            certificate=self._certificate,
            chain=self._chain,
            reserved_bytes=level.reserved_bytes,
            max_objects=self._max_objects,
            reason=request.reason,
            location=request.location,
            certify=request.certify,
            lock=request.lock,
            allow_active_content=request.allow_active_content,
            stamp=request.stamp,
            later_locks=request.later_locks,
        )
        prepared: PreparedSignature = await self._sandbox.run(prepare_signature, document, plan)
        try:
            cms = await self._signer.async_sign(
                prepared.digest.document_digest,
                prepared.md_algorithm,
                use_pades=True,
                timestamper=timestamper,
                signed_attr_settings=PdfCMSSignedAttributes(signing_time=prepared.signing_time),
            )
        except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
            _log.error("signing.tsa_failed", error=type(exc).__name__)
            raise TimestampUnavailable() from exc
        output = BytesIO(prepared.content)
        try:
            prepared.digest.fill_with_cms(output, cms)
        except ValueError as exc:
            _log.error("signing.container_too_large", error=str(exc)[:120])
            raise SigningFailed("the signature container is larger than the room reserved") from exc
        content = output.getvalue()
        if level.embeds_revocation:
            content = await self._sandbox.run(
                extend_signature,
                content,
                prepared.field_name,
                self._trust_roots_der,
                self._tsa_url,
                level is SignatureLevel.B_LTA,
            )
        return SignedDocument(
            content=content,
            field_name=prepared.field_name,
            level=level,
            certified=request.certify,
            input_sha256=sha256_hex(document),
            output_sha256=hashlib.sha256(content).hexdigest(),
            title=prepared.title,
        )


__all__ = [
    "DocumentSigner",
    "FieldLock",
    "SignatureLevel",
    "SignatureRequest",
    "SignedDocument",
]
