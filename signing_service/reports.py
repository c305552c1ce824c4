"""The verdict on a signed document, in the terms of ETSI TS 119 102-2: what the API returns and the
public page shows.

Each signature gets an ``indication`` (``TOTAL_PASSED``, ``INDETERMINATE``, ``TOTAL_FAILED``) and, unless
it passed, a ``subindication``; the document's overall indication is the worst of its signatures.
``problems`` say why in English words for the operator, never quoting document content; ``warnings``
are what a reader should know even when the document passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    INDETERMINATE = "INDETERMINATE"
    TOTAL_FAILED = "TOTAL_FAILED"


SEVERITY = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


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
    #: The signer's name as people know it (the certificate's common name), beside ``signer``'s
    #: full distinguished name.
    signer_name: str = ""


@dataclass(frozen=True)
class VerificationReport:
    indication: Indication
    subindication: str | None
    signatures: list[SignatureReport] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)


def failed_report(
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
