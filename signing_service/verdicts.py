"""One signature's verdict in the terms of ETSI TS 119 102-2, from pyHanko's status: the indication and
subindication (:func:`classify`), the signature timestamp's own report (:func:`timestamp_report`), the
signed attributes' encoding (:func:`signed_attributes_problem`), validation with proofs of existence
(:func:`with_time_indication`) and the verdict that checks only make worse (:class:`Verdict`).
:mod:`signing_service.verification` puts them together for each signature of a document."""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.ades import ades_with_time_validation
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    TimestampSignatureStatus,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from signing_service.der import NotDer, check_der
from signing_service.reports import Indication, TimestampReport

# -- the CMS container -------------------------------------------------------------------------------


def signed_attributes_problem(signed_data: cms.SignedData) -> tuple[str, str] | None:
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


def timestamp_report(status: TimestampSignatureStatus) -> TimestampReport:
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

PERMITTED_LEVELS = {
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
}

#: Point-in-time results that proof of existence (a timestamp, the DSS) may still turn around.
NEEDS_POE = {
    "REVOKED_NO_POE",
    "REVOKED_CA_NO_POE",
    "OUT_OF_BOUNDS_NO_POE",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
}


def classify(
    status: PdfSignatureStatus | DocumentTimestampStatus,
) -> tuple[Indication, str | None]:
    if not status.intact:
        return Indication.TOTAL_FAILED, "HASH_FAILURE"
    if not status.valid:
        return Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    level = status.modification_level
    docmdp_ok = getattr(status, "docmdp_ok", None)
    if (level is not None and level not in PERMITTED_LEVELS) or docmdp_ok is False:
        return Indication.TOTAL_FAILED, "MODIFIED_AFTER_SIGNING"
    if not status.trusted or status.trust_problem_indic is not None:
        indic = status.trust_problem_indic
        # AdESSubIndic is a mixin of pyHanko's AdESFailure/AdESIndeterminate enums.
        name = str(getattr(indic, "name", None) or "NO_CERTIFICATE_CHAIN_FOUND")
        if name == "REVOKED":
            return Indication.TOTAL_FAILED, name
        return Indication.INDETERMINATE, name
    return Indication.TOTAL_PASSED, None


async def with_time_indication(
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


@dataclass
class Verdict:
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
