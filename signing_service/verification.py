"""Verification of the signatures in a PDF, reported in the terms of ETSI TS 119 102-2.

Each signature gets an ``indication`` (``TOTAL_PASSED``, ``INDETERMINATE``, ``TOTAL_FAILED``) and, unless
it passed, a ``subindication`` (``HASH_FAILURE``, ``NO_CERTIFICATE_CHAIN_FOUND``, ``REVOKED``, ...). The
document's overall indication is the worst of its signatures; a document without signatures is
``INDETERMINATE`` / ``SIGNED_DATA_NOT_FOUND``.

``TOTAL_PASSED`` must mean that the document a person sees is the document that was signed, at the time
it claims. So, beyond pyHanko's cryptographic and difference analysis, a signature fails
(``TOTAL_FAILED`` / ``MODIFIED_AFTER_SIGNING``) when:

- any byte after its signed revision is not part of a well-formed, fully analysed incremental update,
  or a viewer that rebuilds the cross-reference table would find an object the analysis did not see
  (the Incremental Saving Attack, :mod:`signing_service.revisions`);
- a form field that was filled when it was signed shows something else now (:mod:`.form_fields`);
- it was in the document in an earlier revision and is gone now (``/AcroForm`` or the field removed);
- a change goes beyond what it permits (anything but form filling, or the DSS and document
  timestamps of long-term validation).

and it is at best ``INDETERMINATE`` / ``SIG_CONSTRAINTS_FAILURE`` when its signature timestamp does not
validate (broken token signature, edited ``genTime``, a message imprint that is not of this signature's
value, an untrusted TSA): only a valid token is proof of existence. Signed attributes that are missing
(PAdES requires them) or not DER-encoded (CMS signs their DER encoding; EU DSS agrees) fail the
signature. Warnings (active content, empty signature fields, later revisions, fields filled after
signing) go with the report, for the API and the public page.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DocInfoRule,
    DSSCompareRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.fields import enumerate_sig_fields
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
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from signing_service import name_matching
from signing_service.active_content import find_active_content
from signing_service.der import NotDer, check_der
from signing_service.documents import UntrustedDocument, entry, open_document
from signing_service.errors import InvalidDocument
from signing_service.form_fields import FieldTreeTooLarge, changed_fields, field_states
from signing_service.revisions import UpdateAnalysis, analyse_updates, hidden_definitions
from signing_service.sandbox import worker_loop

name_matching.install()


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"


_SEVERITY = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


@dataclass(frozen=True)
class Warning:
    """Something a reader of the verdict should know, even when it passes."""

    code: str
    message_vi: str
    message_en: str
    #: The field, object or signature the warning is about, where there is one.
    subject: str | None = None


@dataclass(frozen=True)
class TimestampReport:
    """The signature timestamp token (RFC 3161) of a signature, validated on its own."""

    indication: Indication
    subindication: str | None
    time: str | None
    authority: str


@dataclass(frozen=True)
class SignatureReport:
    field_name: str
    #: ``signature`` or ``document_timestamp`` (the B-LTA archive timestamp).
    kind: str
    signer: str
    signing_time: str | None
    #: A signature timestamp that validated: proof that the signature existed at its time.
    timestamped: bool
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification_level: str | None
    indication: Indication
    subindication: str | None
    timestamp: TimestampReport | None = None
    #: Why the signature did not pass, in English words for the operator (never document content).
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VerificationReport:
    indication: Indication
    subindication: str | None
    signatures: list[SignatureReport] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)


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


# -- the document's structure ----------------------------------------------------------------------

_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")
#: How many earlier ``%%EOF`` markers are tried when the whole file cannot be read.
_SALVAGE_ATTEMPTS = 8


@dataclass(frozen=True)
class _Opened:
    reader: PdfFileReader
    data: bytes
    #: Where the readable part ends when what follows could not be read at all (else ``None``).
    unreadable_from: int | None = None


def _open(document: UntrustedDocument) -> _Opened:
    """Open the document; if it cannot be read as a whole, open its longest prefix that ends a
    revision and has signatures, so that those signatures are reported as modified rather than
    the file as unreadable (bytes appended after a signature must fail it, not hide it)."""
    try:
        return _Opened(open_document(document), document)
    except InvalidDocument as whole_error:
        ends = [m.end() for m in _EOF.finditer(document)]
        for end in reversed(ends[-_SALVAGE_ATTEMPTS:]):
            if end >= len(document):
                continue
            prefix = UntrustedDocument(document[:end])
            try:
                reader = open_document(prefix)
                if any(True for _ in enumerate_sig_fields(reader, filled_status=True)):
                    return _Opened(reader, prefix, unreadable_from=end)
            except (InvalidDocument, SignatureValidationError, KeyError, TypeError, ValueError):
                continue
        raise whole_error


def _signed_end(embedded: EmbeddedPdfSignature) -> int:
    byte_range = entry(embedded.sig_object, "/ByteRange")
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        raise SignatureValidationError("malformed /ByteRange")
    return int(byte_range[2]) + int(byte_range[3])


# -- the CMS container -------------------------------------------------------------------------------


def _signed_attributes_problem(signed_data: cms.SignedData) -> tuple[str, str] | None:
    """PAdES (EN 319 142-1 §6.3) requires signed attributes; CMS (RFC 5652 §5.4) signs their DER
    encoding. A verifier that hashes them as stored accepts a signature over a BER encoding that a
    DER-conformant verifier (EU DSS) rejects; we reject it too."""
    signer_info = signed_data["signer_infos"][0]
    attributes = signer_info["signed_attrs"]
    if not attributes:
        return "FORMAT_FAILURE", "the signature has no signed attributes (PAdES requires them)"
    try:
        check_der(attributes.dump())  # as found in the file, with its [0] IMPLICIT tag
    except NotDer:
        return "SIG_CRYPTO_FAILURE", "the signed attributes are not DER-encoded"
    return None


def _timestamp_report(status: TimestampSignatureStatus) -> TimestampReport:
    if not status.intact:
        indication, sub = Indication.TOTAL_FAILED, "HASH_FAILURE"
    elif not status.valid:
        indication, sub = Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    elif not status.trusted:
        indication = Indication.INDETERMINATE
        sub = str(getattr(status.trust_problem_indic, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND")
    else:
        indication, sub = Indication.TOTAL_PASSED, None
    cert = status.signing_cert
    return TimestampReport(
        indication=indication,
        subindication=sub,
        time=status.timestamp.isoformat(),
        authority=cert.subject.human_friendly if cert is not None else "",
    )


# -- verdicts ----------------------------------------------------------------------------------------

#: pyHanko's default difference policy, without in-place rewrites of appearance streams: an
#: appearance stream overwritten under its old object number is never "form filling" here (pyHanko's
#: own warning calls such updates inherently risky), and pyHanko's check of them misreads streams
#: made before the signed revision as updated, which broke every locked form's B-LT document.
DIFF_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
        MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(),
            SigFieldModificationRule(allow_in_place_appearance_stream_changes=False),
            GenericFieldModificationRule(allow_in_place_appearance_stream_changes=False),
        ],
    ),
)

_PERMITTED_LEVELS = {
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
}

#: Point-in-time results that proof of existence (a timestamp, the DSS) may still turn around.
_NEEDS_POE = {
    "REVOKED_NO_POE",
    "REVOKED_CA_NO_POE",
    "OUT_OF_BOUNDS_NO_POE",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
}


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


def _worse(
    current: tuple[Indication, str | None], candidate: tuple[Indication, str | None]
) -> tuple[Indication, str | None]:
    return candidate if _SEVERITY[candidate[0]] > _SEVERITY[current[0]] else current


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
#: The trust anchors as parsed in this worker, by their DER: parsed once, not once per document.
_WORKER_ROOTS: dict[tuple[bytes, ...], list[asn1_x509.Certificate]] = {}


def worker_roots(trust_roots_der: list[bytes]) -> list[asn1_x509.Certificate]:
    key = tuple(trust_roots_der)
    roots = _WORKER_ROOTS.get(key)
    if roots is None:
        _WORKER_ROOTS.clear()
        roots = _WORKER_ROOTS[key] = [asn1_x509.Certificate.load(der) for der in key]
    return roots


def verify_document_in_worker(
    document: UntrustedDocument, trust_roots_der: list[bytes], cache_seconds: float = 0.0
) -> VerificationReport:
    """:func:`verify_document` for the sandbox's worker processes: trust anchors as DER, and one
    event loop and revocation cache kept for the life of the worker."""
    return worker_loop().run_until_complete(
        async_verify_document(
            document,
            worker_roots(trust_roots_der),
            cache=_WORKER_CACHE,
            cache_seconds=cache_seconds,
        )
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


# -- the verifier ------------------------------------------------------------------------------------


@dataclass
class _Structure:
    """What the strict reading of the document found, shared by every signature's verdict."""

    opened: _Opened
    analysis: UpdateAnalysis | None
    #: The first offset after which something was not accounted for (``None``: all accounted).
    unaccounted_from: int | None
    problem: str | None
    #: Field states per signed revision, computed once per revision.
    fields_at: dict[int, Any] = field(default_factory=dict)


def _analyse_structure(opened: _Opened, embedded: list[EmbeddedPdfSignature]) -> _Structure:
    data = opened.data
    if opened.unreadable_from is not None:
        return _Structure(
            opened,
            None,
            opened.unreadable_from,
            f"bytes after offset {opened.unreadable_from} are not a readable PDF revision",
        )
    ends = []
    for signature in embedded:
        try:
            ends.append(_signed_end(signature))
        except (SignatureValidationError, ValueError, TypeError):
            continue
    if not ends:
        return _Structure(opened, None, None, None)
    start = min(ends)
    analysis = analyse_updates(data, start, opened.reader)
    if not analysis.complete:
        return _Structure(
            opened,
            analysis,
            analysis.accounted_until,
            f"{analysis.problem} (offset {analysis.accounted_until})",
        )
    hidden = hidden_definitions(data, start, analysis)
    if hidden:
        return _Structure(
            opened,
            analysis,
            hidden[0],
            f"an object definition hidden in the data of another object (offset {hidden[0]})",
        )
    return _Structure(opened, analysis, None, None)


def _field_states_at(structure: _Structure, revision: int | None) -> Any:
    """Field states of a historical revision (``None``: the document as it is now)."""
    key = -1 if revision is None else revision
    if key not in structure.fields_at:
        reader = structure.opened.reader
        root = reader.root if revision is None else reader.get_historical_root(revision)
        try:
            structure.fields_at[key] = field_states(root)
        except FieldTreeTooLarge:
            structure.fields_at[key] = None
    return structure.fields_at[key]


def _refilled_fields(
    structure: _Structure, embedded: EmbeddedPdfSignature
) -> tuple[list[str], list[str]] | None:
    """Fields refilled and filled since ``embedded``'s revision (``None``: cannot tell)."""
    signed_revision = embedded.signed_revision
    if signed_revision == structure.opened.reader.xrefs.total_revisions - 1:
        return [], []
    before = _field_states_at(structure, signed_revision)
    now = _field_states_at(structure, None)
    if before is None or now is None:
        return None
    return changed_fields(before, now)


@dataclass
class _Verdict:
    indication: Indication
    subindication: str | None
    problems: list[str] = field(default_factory=list)

    def fail(self, subindication: str, problem: str) -> None:
        if self.indication is not Indication.TOTAL_FAILED:
            self.indication, self.subindication = Indication.TOTAL_FAILED, subindication
        self.problems.append(problem)

    def at_best_indeterminate(self, subindication: str, problem: str) -> None:
        if self.indication is Indication.TOTAL_PASSED:
            self.indication, self.subindication = Indication.INDETERMINATE, subindication
        self.problems.append(problem)


async def _verify_one(
    embedded: EmbeddedPdfSignature,
    structure: _Structure,
    trust_roots: list[asn1_x509.Certificate],
    context: Callable[[], ValidationContext],
    cache: _RevocationCache,
    warnings: list[Warning],
) -> SignatureReport:
    is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    status: PdfSignatureStatus | DocumentTimestampStatus
    if is_timestamp:
        status = await async_validate_pdf_timestamp(
            embedded, validation_context=context(), diff_policy=DIFF_POLICY
        )
    else:
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=context(),
            ts_validation_context=context(),
            diff_policy=DIFF_POLICY,
        )
    verdict = _Verdict(*_classify(status))
    if status.coverage is not None and status.coverage.name not in {
        "ENTIRE_FILE",
        "ENTIRE_REVISION",
    }:
        verdict.fail("FORMAT_FAILURE", "the signature does not cover a whole revision")

    if not is_timestamp:
        problem = _signed_attributes_problem(embedded.signed_data)
        if problem is not None:
            verdict.fail(*problem)

    if (
        structure.unaccounted_from is not None
        and _signed_end(embedded) <= structure.unaccounted_from
    ):
        verdict.fail(
            "MODIFIED_AFTER_SIGNING",
            f"bytes after the signed revision are not a well-formed incremental update: "
            f"{structure.problem}",
        )

    changes = _refilled_fields(structure, embedded)
    if changes is None:
        verdict.fail("MODIFIED_AFTER_SIGNING", "the form is too large to compare field by field")
    else:
        refilled, filled = changes
        for name in refilled:
            verdict.fail(
                "MODIFIED_AFTER_SIGNING",
                f"form field {name!r} was filled when signed and shows something else now",
            )
        for name in filled:
            warning = Warning(
                "field-filled-after-signing",
                f"Trường {name!r} được điền sau khi ký (chữ ký cho phép điền biểu mẫu).",
                f"Field {name!r} was filled after signing (the signature permits form filling).",
                subject=name,
            )
            if warning not in warnings:
                warnings.append(warning)

    timestamp: TimestampReport | None = None
    timestamped = is_timestamp
    ts_status = getattr(status, "timestamp_validity", None)
    if ts_status is not None:
        timestamp = _timestamp_report(ts_status)
        timestamped = timestamp.indication is Indication.TOTAL_PASSED
        if not timestamped:
            verdict.at_best_indeterminate(
                "SIG_CONSTRAINTS_FAILURE",
                f"the signature timestamp does not validate ({timestamp.subindication}); "
                "it proves nothing about when the document was signed",
            )

    if verdict.subindication in _NEEDS_POE and timestamped and not verdict.problems:
        # Past signature validation either proves the signature existed in time (PASSED), finds it
        # definitely bad (FAILED), or leaves the current-time result standing (EN 319 102-1
        # §5.6.2.4: "return the current time indication/sub-indication"). Only a timestamp that
        # validated above is proof of existence.
        with_time = await _with_time_indication(embedded, trust_roots, cache.backend)
        if with_time[0] is not Indication.INDETERMINATE:
            verdict.indication, verdict.subindication = with_time

    cert = status.signing_cert
    reported = (
        status.timestamp
        if isinstance(status, DocumentTimestampStatus)
        else status.signer_reported_dt
    )
    return SignatureReport(
        # A plain str: pyHanko's keeps a reference to the whole reader.
        field_name=str(embedded.field_name),
        kind="document_timestamp" if is_timestamp else "signature",
        signer=cert.subject.human_friendly if cert is not None else "",
        signing_time=reported.isoformat() if reported else None,
        timestamped=timestamped,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=status.coverage.name if status.coverage else "UNKNOWN",
        modification_level=status.modification_level.name
        if status.modification_level is not None
        else None,
        indication=verdict.indication,
        subindication=verdict.subindication,
        timestamp=timestamp,
        problems=verdict.problems,
    )


def _failed_report(
    field_name: str, kind: str, subindication: str, problem: str, signer: str = ""
) -> SignatureReport:
    return SignatureReport(
        field_name=field_name,
        kind=kind,
        signer=signer,
        signing_time=None,
        timestamped=False,
        intact=False,
        valid=False,
        trusted=False,
        coverage="UNKNOWN",
        modification_level=None,
        indication=Indication.TOTAL_FAILED,
        subindication=subindication,
        problems=[problem],
    )


def _signature_fields(reader: PdfFileReader) -> tuple[list[str], list[tuple[str, str]]]:
    """``(empty, unsupported)``: empty signature fields, and filled ones whose /SubFilter pyHanko
    does not recognise (pyHanko skips those silently; a verifier must not)."""
    empty: list[str] = []
    unsupported: list[tuple[str, str]] = []
    known = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/ETSI.RFC3161", "/adbe.pkcs7.sha1"}
    for name, value, _ in enumerate_sig_fields(reader):
        if value is None:
            empty.append(str(name))
            continue
        subfilter = entry(value.get_object(), "/SubFilter")
        if subfilter not in known:
            unsupported.append((str(name), str(subfilter)))
    return empty, unsupported


def _removed_signatures(reader: PdfFileReader, present: set[str]) -> list[str]:
    """Signature fields that held a signature in some earlier revision and are gone now (the
    field, its value or the whole ``/AcroForm`` removed after signing)."""
    removed: set[str] = set()
    for revision in range(reader.xrefs.total_revisions - 1):
        resolver = reader.get_historical_resolver(revision)
        try:
            for name, value, _ in enumerate_sig_fields(resolver, filled_status=True):
                if value is not None and str(name) not in present:
                    removed.add(str(name))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return sorted(removed)


_LEVEL_VI = {"FORM_FILLING": "điền biểu mẫu, thêm chữ ký", "ANNOTATIONS": "thêm chú thích"}


def _document_warnings(
    structure: _Structure,
    embedded: list[EmbeddedPdfSignature],
    empty_fields: list[str],
) -> list[Warning]:
    warnings: list[Warning] = []
    reader = structure.opened.reader
    last_signed = max((e.signed_revision for e in embedded), default=-1)
    for content in find_active_content(reader.root):
        signed = content.object_number and (
            reader.xrefs.get_last_change(generic.Reference(content.object_number, 0, reader))
            <= last_signed
        )
        warnings.append(
            Warning(
                "active-content",
                f"Tài liệu chứa nội dung chủ động ({content.kind.value})"
                + (" trong phần đã ký." if signed else "."),
                f"The document contains active content ({content.kind.value})"
                + (" in its signed part." if signed else "."),
                subject=f"object {content.object_number}" if content.object_number else None,
            )
        )
    for name in empty_fields:
        warnings.append(
            Warning(
                "unsigned-signature-field",
                f"Ô chữ ký {name!r} chưa được ký.",
                f"Signature field {name!r} is empty (not signed).",
                subject=name,
            )
        )
    return warnings


def _collect_embedded(reader: PdfFileReader) -> list[EmbeddedPdfSignature]:
    try:
        return list(reader.embedded_signatures)
    except (SignatureValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidDocument(f"unreadable signature fields ({type(exc).__name__})") from exc


async def async_verify_document(
    document: UntrustedDocument,
    trust_roots: list[asn1_x509.Certificate],
    *,
    cache: _RevocationCache,
    cache_seconds: float = 0.0,
    revocation_timeout: float = 5.0,
) -> VerificationReport:
    opened = _open(document)
    reader = opened.reader
    embedded = _collect_embedded(reader)
    empty_fields, unsupported = _signature_fields(reader)
    structure = _analyse_structure(opened, embedded)
    fetchers = await cache.fetchers(cache_seconds, revocation_timeout)

    def context() -> ValidationContext:
        # Revocation is checked over the network (OCSP, then CRL) with a short timeout; when it
        # cannot be established the signature is INDETERMINATE rather than passed ("hard-fail").
        return ValidationContext(
            trust_roots=trust_roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetchers=fetchers,
        )

    warnings = _document_warnings(structure, embedded, empty_fields)
    reports: list[SignatureReport] = []
    for signature in embedded:
        is_timestamp = signature.sig_object_type == "/DocTimeStamp"
        kind = "document_timestamp" if is_timestamp else "signature"
        try:
            reports.append(
                await _verify_one(signature, structure, trust_roots, context, cache, warnings)
            )
        except (SignatureValidationError, ValueError, TypeError, KeyError) as exc:
            reports.append(
                _failed_report(
                    str(signature.field_name),
                    kind,
                    "FORMAT_FAILURE",
                    f"the signature cannot be read ({type(exc).__name__})",
                )
            )
    for name, subfilter in unsupported:
        reports.append(
            _failed_report(
                name,
                "signature",
                "FORMAT_FAILURE",
                f"unsupported signature format {subfilter[:40]!r}",
            )
        )
    present = {r.field_name for r in reports}
    for name in _removed_signatures(reader, present):
        reports.append(
            _failed_report(
                name,
                "signature",
                "MODIFIED_AFTER_SIGNING",
                "the signature was in an earlier revision and has been removed from the document",
            )
        )
    if embedded:
        last = max(embedded, key=lambda e: e.signed_revision)
        level = next(
            (r.modification_level for r in reports if r.field_name == str(last.field_name)), None
        )
        if level not in (None, "NONE", "LTA_UPDATES"):
            warnings.append(
                Warning(
                    "later-revisions",
                    "Tài liệu có thay đổi sau chữ ký cuối cùng mà chữ ký cho phép "
                    f"({_LEVEL_VI.get(level, level)}).",
                    f"The document was changed after its last signature in ways the signature "
                    f"permits ({level.lower().replace('_', ' ')}).",
                )
            )
    if not reports:
        return VerificationReport(Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND", [], warnings)
    worst = max(reports, key=lambda r: _SEVERITY[r.indication])
    return VerificationReport(worst.indication, worst.subindication, reports, warnings)
