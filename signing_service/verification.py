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

and it is at best ``INDETERMINATE`` / ``FORMAT_FAILURE`` when the signed bytes name a key twice in one
dictionary (pyHanko judges the first value, viewers show the last: :mod:`.repeated_keys`), and
``INDETERMINATE`` / ``SIG_CONSTRAINTS_FAILURE`` when its signature timestamp does not
validate (broken token signature, edited ``genTime``, a message imprint that is not of this signature's
value, an untrusted TSA): only a valid token is proof of existence. Signed attributes that are missing
(PAdES requires them) or not DER-encoded (CMS signs their DER encoding; EU DSS agrees) fail the
signature. Warnings (active content, empty signature fields, later revisions, fields filled after
signing) go with the report, for the API and the public page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext

from signing_service import name_matching, path_memo
from signing_service.documents import UntrustedDocument
from signing_service.integrity import (
    DIFF_POLICY,
    Paint,
    Structure,
    analyse_structure,
    document_warnings,
    later_changes_warning,
    open_for_verification,
    refilled_fields,
    removed_signatures,
    signature_fields,
    signed_end,
    validation_data_only,
)
from signing_service.path_memo import MemoisedContext
from signing_service.reports import (
    SEVERITY,
    Indication,
    SignatureReport,
    TimestampReport,
    VerificationReport,
    Warning,
    failed_report,
)
from signing_service.revocation import (
    RevocationCache,
    worker_roots,
)
from signing_service.sandbox import worker_loop
from signing_service.verdicts import (
    NEEDS_POE,
    Verdict,
    classify,
    signed_attributes_problem,
    timestamp_report,
    with_time_indication,
)

name_matching.install()
path_memo.install()


_WORKER_CACHE = RevocationCache()


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
        cache = RevocationCache()
        try:
            return await async_verify_document(document, trust_roots, cache=cache)
        finally:
            await cache.close()

    return asyncio.run(run())


# -- the verifier ------------------------------------------------------------------------------------


def _only_validation_data_after(structure: Structure, embedded: EmbeddedPdfSignature) -> bool:
    reader = structure.opened.reader
    analysis = structure.analysis
    total = reader.xrefs.total_revisions
    later = range(embedded.signed_revision + 1, total)
    if (
        not later
        or analysis is None
        or structure.unaccounted_from is not None
        or bool(structure.late_definitions)
    ):
        return False
    # The strictly read updates are the document's last revisions, in order.
    first = total - len(analysis.updates)
    if later.start < first:
        return False
    return all(
        validation_data_only(reader, revision, analysis.updates[revision - first])
        for revision in later
    )


async def _verify_one(
    embedded: EmbeddedPdfSignature,
    structure: Structure,
    trust_roots: list[asn1_x509.Certificate],
    context: Callable[[], ValidationContext],
    cache: RevocationCache,
    warnings: list[Warning],
    painting_empty: list[tuple[str, Paint, int]],
) -> SignatureReport:
    is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    # Revisions that provably only add validation data (a B-LT document's DSS) need no full
    # difference analysis: pyHanko's walks every path of the document to say LTA_UPDATES.
    lta_only = _only_validation_data_after(structure, embedded)
    status: PdfSignatureStatus | DocumentTimestampStatus
    if is_timestamp:
        status = await async_validate_pdf_timestamp(
            embedded, validation_context=context(), diff_policy=DIFF_POLICY, skip_diff=lta_only
        )
    else:
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=context(),
            ts_validation_context=context(),
            diff_policy=DIFF_POLICY,
            skip_diff=lta_only,
        )
    verdict = Verdict(*classify(status))
    if status.coverage is not None and status.coverage.name not in {
        "ENTIRE_FILE",
        "ENTIRE_REVISION",
    }:
        verdict.fail("FORMAT_FAILURE", "the signature does not cover a whole revision")

    if not is_timestamp:
        problem = signed_attributes_problem(embedded.signed_data)
        if problem is not None:
            verdict.fail(*problem)

    if (
        structure.unaccounted_from is not None
        and signed_end(embedded) <= structure.unaccounted_from
    ):
        verdict.fail(
            "MODIFIED_AFTER_SIGNING",
            f"bytes after the signed revision are not a well-formed incremental update: "
            f"{structure.problem}",
        )

    if structure.repeated_key is not None:
        verdict.at_best_indeterminate(
            "FORMAT_FAILURE",
            f"the signed document names a key twice in one dictionary ({structure.repeated_key}): "
            "viewers differ on which value they show, so what was signed is not one document",
        )

    for offset, number in structure.late_definitions:
        if signed_end(embedded) <= offset:
            verdict.fail(
                "MODIFIED_AFTER_SIGNING",
                f"object {number}, which the signed revision refers to without defining it, "
                "is defined by a later update",
            )
            break

    for name, paint, changed in painting_empty:
        if changed <= embedded.signed_revision:
            continue
        if paint is Paint.CONTENT:
            verdict.fail(
                "MODIFIED_AFTER_SIGNING",
                f"empty signature field {name!r}, added or redrawn after signing, draws text or "
                "images on the page (a sneaky signature)",
            )
        else:
            warning = Warning(
                "empty-field-drawn-after-signing",
                f"Ô chữ ký trống {name!r} được thêm sau khi ký và được vẽ thành một khung trên "
                "trang; khung có thể che nội dung bên dưới.",
                f"Empty signature field {name!r}, added after signing, is drawn as a box on the "
                "page; it may cover what lies under it.",
                subject=name,
            )
            if warning not in warnings:
                warnings.append(warning)

    changes = refilled_fields(structure, embedded)
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
        timestamp = timestamp_report(ts_status)
        timestamped = timestamp.indication is Indication.TOTAL_PASSED
        if not timestamped:
            verdict.at_best_indeterminate(
                "SIG_CONSTRAINTS_FAILURE",
                f"the signature timestamp does not validate ({timestamp.subindication}); "
                "it proves nothing about when the document was signed",
            )

    if verdict.subindication in NEEDS_POE and timestamped and not verdict.problems:
        # Past signature validation either proves the signature existed in time (PASSED), finds it
        # definitely bad (FAILED), or leaves the current-time result standing (EN 319 102-1
        # §5.6.2.4: "return the current time indication/sub-indication"). Only a timestamp that
        # validated above is proof of existence.
        with_time = await with_time_indication(embedded, trust_roots, cache.backend)
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
        signer_name=str(cert.subject.native.get("common_name", "")) if cert is not None else "",
        signing_time=reported.isoformat() if reported else None,
        timestamped=timestamped,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        coverage=status.coverage.name if status.coverage else "UNKNOWN",
        modification_level="LTA_UPDATES"
        if lta_only
        else status.modification_level.name
        if status.modification_level is not None
        else None,
        indication=verdict.indication,
        subindication=verdict.subindication,
        timestamp=timestamp,
        problems=verdict.problems,
    )


async def async_verify_document(
    document: UntrustedDocument,
    trust_roots: list[asn1_x509.Certificate],
    *,
    cache: RevocationCache,
    cache_seconds: float = 0.0,
    revocation_timeout: float = 5.0,
) -> VerificationReport:
    opened = open_for_verification(document)
    reader = opened.reader
    fields = signature_fields(reader)
    embedded = fields.embedded
    structure = analyse_structure(opened, embedded)
    fetchers = await cache.fetchers(cache_seconds, revocation_timeout)
    memo = cache.path_memo  # the paths checked with these fetchers' revocation data

    def context() -> ValidationContext:
        # Revocation is checked over the network (OCSP, then CRL) with a short timeout; when it
        # cannot be established the signature is INDETERMINATE rather than passed ("hard-fail").
        return MemoisedContext(
            memo=memo,
            trust_roots=trust_roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetchers=fetchers,
        )

    warnings = document_warnings(structure, embedded, fields.empty)
    reports: list[SignatureReport] = []
    for signature in embedded:
        is_timestamp = signature.sig_object_type == "/DocTimeStamp"
        kind = "document_timestamp" if is_timestamp else "signature"
        try:
            reports.append(
                await _verify_one(
                    signature,
                    structure,
                    trust_roots,
                    context,
                    cache,
                    warnings,
                    fields.painting_empty,
                )
            )
        except (SignatureValidationError, ValueError, TypeError, KeyError) as exc:
            reports.append(
                failed_report(
                    str(signature.field_name),
                    kind,
                    "FORMAT_FAILURE",
                    f"the signature cannot be read ({type(exc).__name__})",
                )
            )
    for name, subfilter in fields.unsupported:
        reports.append(
            failed_report(
                name,
                "signature",
                "FORMAT_FAILURE",
                f"unsupported signature format {subfilter[:40]!r}",
            )
        )
    present = {r.field_name for r in reports}
    signed_before = set(removed_signatures(reader, present))
    for name, problem in fields.unreadable:
        present.add(name)
        if name in signed_before:  # a readable signature once: its dictionary was rewritten
            reports.append(
                failed_report(
                    name,
                    "signature",
                    "MODIFIED_AFTER_SIGNING",
                    "the signature was rewritten after signing and can no longer be read",
                )
            )
        else:
            reports.append(
                failed_report(
                    name, "signature", "FORMAT_FAILURE", f"the signature cannot be read ({problem})"
                )
            )
    for name in sorted(signed_before - present):
        reports.append(
            failed_report(
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
            warnings.append(later_changes_warning(str(level)))
    if not reports:
        return VerificationReport(Indication.INDETERMINATE, "SIGNED_DATA_NOT_FOUND", [], warnings)
    worst = max(reports, key=lambda r: SEVERITY[r.indication])
    return VerificationReport(worst.indication, worst.subindication, reports, warnings)
