"""Verification of the signatures in a PDF, reported in the terms of ETSI TS 119 102-2.

Each signature gets an ``indication`` (``TOTAL_PASSED``, ``INDETERMINATE``, ``TOTAL_FAILED``) and, unless
it passed, a ``subindication`` (``HASH_FAILURE``, ``NO_CERTIFICATE_CHAIN_FOUND``, ``REVOKED``, ...). The
document's overall indication is the worst of its signatures; a document without signatures is
``INDETERMINATE`` / ``SIGNED_DATA_NOT_FOUND``.

A change after a signature beyond what it permits (anything but form filling, annotations allowed by
its DocMDP level, or LTA updates) fails the document whatever the trust in the signer: a grade changed
after the teacher signed is exactly what this must catch.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.ades import ades_with_time_validation
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.policy_decl import (
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from signing_service import name_matching
from signing_service.documents import UntrustedDocument, open_document

name_matching.install()


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"


_SEVERITY = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


@dataclass(frozen=True)
class SignatureReport:
    field_name: str
    #: ``signature`` or ``document_timestamp`` (the B-LTA archive timestamp).
    kind: str
    signer: str
    signing_time: str | None
    timestamped: bool
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification_level: str | None
    indication: Indication
    subindication: str | None


@dataclass(frozen=True)
class VerificationReport:
    indication: Indication
    subindication: str | None
    signatures: list[SignatureReport] = field(default_factory=list)


def load_trust_store(folder: Path) -> list[asn1_x509.Certificate]:
    """Every certificate (PEM or DER) in ``folder``: the trust anchors of verification."""
    roots: list[asn1_x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".pem", ".crt", ".cer"}:
            continue
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            from asn1crypto import pem

            for _, _, der in pem.unarmor(data, multiple=True):
                roots.append(asn1_x509.Certificate.load(der))
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return roots


def _malformed(field_name: str, is_timestamp: bool) -> SignatureReport:
    return SignatureReport(
        field_name=field_name,
        kind="document_timestamp" if is_timestamp else "signature",
        signer="",
        signing_time=None,
        timestamped=False,
        intact=False,
        valid=False,
        trusted=False,
        coverage="UNKNOWN",
        modification_level=None,
        indication=Indication.TOTAL_FAILED,
        subindication="FORMAT_FAILURE",
    )


def _classify(
    status: PdfSignatureStatus | DocumentTimestampStatus,
) -> tuple[Indication, str | None]:
    if not status.intact:
        return Indication.TOTAL_FAILED, "HASH_FAILURE"
    if not status.valid:
        return Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    level = status.modification_level
    docmdp_ok = getattr(status, "docmdp_ok", None)
    if (level is not None and level not in _PERMITTED_LEVELS) or docmdp_ok is False:
        return Indication.TOTAL_FAILED, "MODIFIED_AFTER_SIGNING"
    if not status.trusted or status.trust_problem_indic is not None:
        indic = status.trust_problem_indic
        # AdESSubIndic is a mixin of pyHanko's AdESFailure/AdESIndeterminate enums.
        name = str(getattr(indic, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND")
        if name == "REVOKED":
            return Indication.TOTAL_FAILED, name
        return Indication.INDETERMINATE, name
    return Indication.TOTAL_PASSED, None


#: Point-in-time results that proof of existence (a timestamp, the DSS) may still turn around.
_NEEDS_POE = {
    "REVOKED_NO_POE",
    "REVOKED_CA_NO_POE",
    "OUT_OF_BOUNDS_NO_POE",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
}


async def _with_time_indication(
    embedded: EmbeddedPdfSignature,
    trust_roots: list[asn1_x509.Certificate],
    backend: AIOHttpFetcherBackend | None,
) -> tuple[Indication, str | None]:
    """ETSI EN 319 102-1 validation with time and long-term data (§5.5, §5.6.3), as pyHanko
    implements it: the signature timestamp, the DSS and document timestamps serve as proofs of
    existence, so a signature made before its certificate was revoked still passes."""
    spec = SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=trust_roots),
            revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(fetcher_backend=backend),
    )
    result = await ades_with_time_validation(
        embedded.signed_data, spec, raw_digest=embedded.compute_digest()
    )
    indic = result.ades_subindic
    if isinstance(indic, AdESPassed):
        return Indication.TOTAL_PASSED, None
    if isinstance(indic, AdESFailure):
        return Indication.TOTAL_FAILED, indic.name
    if isinstance(indic, AdESIndeterminate):
        return Indication.INDETERMINATE, indic.name
    return Indication.INDETERMINATE, str(getattr(indic, "name", indic))


_PERMITTED_LEVELS = {
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
}


class _RevocationCache:
    """OCSP responses, CRLs and issuer certificates fetched by one worker process, kept ``ttl`` s.

    pyHanko's fetchers remember what they fetched for as long as they live; renewing them after
    ``ttl`` bounds how stale a cached "good" answer can be. ``ttl`` 0 fetches afresh every time.
    """

    def __init__(self) -> None:
        self._backend: AIOHttpFetcherBackend | None = None
        self._fetchers: Fetchers | None = None
        self._created = 0.0

    @property
    def backend(self) -> AIOHttpFetcherBackend | None:
        return self._backend

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()
        self._backend = self._fetchers = None

    async def fetchers(self, ttl: float, request_timeout: float) -> Fetchers:
        if self._fetchers is None or time.monotonic() - self._created >= ttl:
            await self.close()
            self._backend = AIOHttpFetcherBackend(per_request_timeout=request_timeout)
            self._fetchers = self._backend.get_fetchers()
            self._created = time.monotonic()
        return self._fetchers


_WORKER_CACHE = _RevocationCache()
_WORKER_LOOP: asyncio.AbstractEventLoop | None = None
#: The trust anchors as parsed in this worker, by their DER: parsed once, not once per document.
_WORKER_ROOTS: dict[tuple[bytes, ...], list[asn1_x509.Certificate]] = {}


def verify_document_in_worker(
    document: UntrustedDocument, trust_roots_der: list[bytes], cache_seconds: float = 0.0
) -> VerificationReport:
    """:func:`verify_document` for the sandbox's worker processes: trust anchors as DER, and one
    event loop and revocation cache kept for the life of the worker."""
    global _WORKER_LOOP
    if _WORKER_LOOP is None:
        _WORKER_LOOP = asyncio.new_event_loop()
    key = tuple(trust_roots_der)
    roots = _WORKER_ROOTS.get(key)
    if roots is None:
        _WORKER_ROOTS.clear()
        roots = _WORKER_ROOTS[key] = [asn1_x509.Certificate.load(der) for der in key]
    return _WORKER_LOOP.run_until_complete(
        async_verify_document(document, roots, cache=_WORKER_CACHE, cache_seconds=cache_seconds)
    )


def verify_document(
    document: UntrustedDocument, trust_roots: list[asn1_x509.Certificate]
) -> VerificationReport:
    """Validate every signature of ``document`` against ``trust_roots`` (fresh revocation data)."""

    async def run() -> VerificationReport:
        cache = _RevocationCache()
        try:
            return await async_verify_document(document, trust_roots, cache=cache)
        finally:
            await cache.close()

    return asyncio.run(run())


async def async_verify_document(
    document: UntrustedDocument,
    trust_roots: list[asn1_x509.Certificate],
    *,
    cache: _RevocationCache,
    cache_seconds: float = 0.0,
    revocation_timeout: float = 5.0,
) -> VerificationReport:
    reader = open_document(document)
    reports: list[SignatureReport] = []
    fetchers = await cache.fetchers(cache_seconds, revocation_timeout)
    for embedded in reader.embedded_signatures:
        # Revocation is checked over the network (OCSP, then CRL) with a short timeout; when it cannot
        # be established the signature is INDETERMINATE rather than passed ("hard-fail").
        context = ValidationContext(
            trust_roots=trust_roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetchers=fetchers,
        )
        is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
        status: PdfSignatureStatus | DocumentTimestampStatus
        try:
            if is_timestamp:
                status = await async_validate_pdf_timestamp(embedded, validation_context=context)
            else:
                status = await async_validate_pdf_signature(
                    embedded, signer_validation_context=context
                )
        except SignatureValidationError:
            reports.append(_malformed(str(embedded.field_name), is_timestamp))
            continue
        indication, sub = _classify(status)
        has_poe = getattr(status, "timestamp_validity", None) is not None
        if sub in _NEEDS_POE and has_poe:
            # Past signature validation either proves the signature existed in time (PASSED),
            # finds it definitely bad (FAILED), or leaves the current-time result standing
            # (EN 319 102-1 §5.6.2.4: "return the current time indication/sub-indication").
            with_time = await _with_time_indication(embedded, trust_roots, cache.backend)
            if with_time[0] is not Indication.INDETERMINATE:
                indication, sub = with_time
        cert = status.signing_cert
        reported = (
            status.timestamp
            if isinstance(status, DocumentTimestampStatus)
            else status.signer_reported_dt
        )
        reports.append(
            SignatureReport(
                field_name=str(
                    embedded.field_name
                ),  # a plain str: pyHanko's keeps a reference to the whole reader
                kind="document_timestamp" if is_timestamp else "signature",
                signer=cert.subject.human_friendly if cert is not None else "",
                signing_time=reported.isoformat() if reported else None,
                timestamped=is_timestamp or getattr(status, "timestamp_validity", None) is not None,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                coverage=status.coverage.name if status.coverage else "UNKNOWN",
                modification_level=status.modification_level.name
                if status.modification_level is not None
                else None,
                indication=indication,
                subindication=sub,
            )
        )
    if not reports:
        return VerificationReport(Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND", [])
    worst = max(reports, key=lambda r: _SEVERITY[r.indication])
    return VerificationReport(worst.indication, worst.subindication, reports)
