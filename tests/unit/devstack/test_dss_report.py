"""The typed form of the EU DSS validator's answers (``devstack/dss_validator.py``).

The answer below is what the validator said (trimmed) about a B-T document whose page 1 was rewritten
in a later incremental update; the integration tests check the same fields against the running
validator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from devstack.dss_validator import parse_report

NO_TRUSTED_LIST = {"key": "QUAL_CERT_TRUSTED_LIST_REACHED_ANS", "text": "Unable to build ..."}

ANSWER: dict[str, Any] = {
    "validationTime": "2026-12-01T15:25:37.241Z",
    "validationPolicy": "QES AdESQC TL based",
    "signaturesCount": 1,
    "validSignaturesCount": 1,
    "timestampsCount": 1,
    "documentTimestampsCount": 0,
    "signatures": [
        {
            "id": "S-AA49",
            "indication": "TOTAL_PASSED",
            "subIndication": None,
            "errors": [],
            "warnings": [
                {
                    "key": "BBB_FC_IVDBSFR_ANS",
                    "text": "Visual difference is detected on page(s) [1]",
                },
                {
                    "key": "BBB_FC_DSCNUOM_ANS",
                    "text": "The document contains undefined object modifications after the "
                    "signature revision!",
                },
            ],
            "infos": [],
            "qualification": {"errors": [NO_TRUSTED_LIST], "warnings": [], "infos": []},
            "signatureFormat": "PAdES-BASELINE-T",
            "signingTime": "2026-12-01T15:23:41Z",
            "bestSignatureTime": "2026-12-01T15:23:42.439Z",
            "signedBy": "Sở GD&ĐT — Dấu cơ quan (thử nghiệm)",
            "fieldName": "Signature1",
            "intact": True,
            "cryptographicallyValid": True,
            "pdf": {
                "fieldNames": ["Signature1"],
                "subFilter": "ETSI.CAdES.detached",
                "byteRange": [0, 1745, 26323, 492],
                "byteRangeValid": True,
                "signatureDictionaryConsistent": True,
                "docMdpPermissions": None,
                "modificationsDetected": True,
                "annotationsOverlapPages": [],
                "visualDifferencePages": [1],
                "pageDifferencePages": [],
                "objectModificationsDetected": True,
                "extensionChanges": [],
                "signatureOrFormFillChanges": [],
                "annotationChanges": [],
                "undefinedChanges": [
                    {
                        "action": "MODIFICATION",
                        "fieldName": None,
                        "type": None,
                        "value": "/Catalog /Pages 2 0 R /Kids 5 0 R /Contents 4 0 R stream",
                    }
                ],
                "modifiedFieldNames": [],
            },
            "timestamps": [
                {
                    "id": "T-01542F",
                    "indication": "FAILED",
                    "subIndication": "SIG_CRYPTO_FAILURE",
                    "errors": [{"key": "BBB_CV_ISI_ANS", "text": "The signature is not intact!"}],
                    "warnings": [],
                    "infos": [],
                    "qualification": {"errors": [NO_TRUSTED_LIST], "warnings": [], "infos": []},
                    "productionTime": "2026-12-01T15:23:42.439Z",
                    "producedBy": "Edu Gateway Test Time Stamping Authority",
                    "type": "SIGNATURE_TIMESTAMP",
                    "archiveTimestampType": None,
                    "fieldName": None,
                    "intact": False,
                    "cryptographicallyValid": False,
                    "messageImprintIntact": True,
                }
            ],
        }
    ],
    "timestamps": [],
}


def test_answer_becomes_typed_report_with_dss_message_keys() -> None:
    report = parse_report(ANSWER)
    [signature] = report.signatures
    assert signature.signature_format == "PAdES-BASELINE-T"
    assert signature.signing_time == dt.datetime(2026, 12, 1, 15, 23, 41, tzinfo=dt.UTC)
    assert signature.pdf is not None
    assert signature.pdf.visual_difference_pages == (1,)
    assert signature.pdf.undefined_changes[0].action == "MODIFICATION"
    [timestamp] = signature.timestamps
    assert (timestamp.indication, timestamp.sub_indication) == ("FAILED", "SIG_CRYPTO_FAILURE")
    # The keys of the signature and of its timestamps; qualification notes are kept apart.
    assert report.message_keys() == {"BBB_FC_IVDBSFR_ANS", "BBB_FC_DSCNUOM_ANS", "BBB_CV_ISI_ANS"}
    assert signature.qualification.errors[0].key == "QUAL_CERT_TRUSTED_LIST_REACHED_ANS"
    assert [t.id for t in report.tokens()] == ["S-AA49", "T-01542F"]


def test_xml_reports_are_kept_when_asked_for() -> None:
    answer = {
        **ANSWER,
        "simpleReportXml": "<SimpleReport/>",
        "detailedReportXml": "<DetailedReport/>",
        "diagnosticDataXml": "<DiagnosticData/>",
    }
    report = parse_report(answer)
    assert report.xml is not None
    assert report.xml.detailed_report_xml == "<DetailedReport/>"
    assert parse_report(ANSWER).xml is None


def test_answer_without_counts_is_refused() -> None:
    """An answer of another shape (another validator version) fails loudly, not as an empty report."""
    broken = {k: v for k, v in ANSWER.items() if k != "signaturesCount"}
    with pytest.raises(ValidationError):
        parse_report(broken)
