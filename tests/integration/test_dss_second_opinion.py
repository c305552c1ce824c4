"""A second opinion on the service's signatures from EU DSS 6.3, the European Commission's reference
validator: documents signed through the running service at every PAdES level must pass DSS's default
policy at the level asked for, and DSS's verdict must change when the signed document is attacked.

DSS trusts only the test PKI's root and fetches OCSP responses and CRLs from the test PKI, as the
gateway's own verifier does; it shares no code with pyHanko.
"""

from __future__ import annotations

import re
from io import BytesIO

import httpx
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from devstack import StackInfo
from devstack.dss_validator import (
    DssRefusedDocument,
    DssReport,
    DssSignature,
    DssTimestamp,
    DssValidator,
)
from tests.conftest import TokenFactory
from tests.pdf_inspection import replace_page_text

pytestmark = [
    pytest.mark.keycloak,
    pytest.mark.softhsm,
    pytest.mark.pki,
    pytest.mark.redis,
    pytest.mark.dss,
]


@pytest.fixture(scope="module")
def headers(client_token: TokenFactory) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {client_token('demo-eoffice')}",
        "Content-Type": "application/pdf",
    }


def _sign(info: StackInfo, headers: dict[str, str], pdf: bytes, level: str) -> bytes:
    response = httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        params={"level": level},
        content=pdf,
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.content


def _explain(report: DssReport) -> str:
    """The report in a few lines, for assertion messages."""
    lines = []
    for token in report.tokens():
        kind = token.signature_format if isinstance(token, DssSignature) else token.type
        lines.append(f"{token.id[:12]} {kind}: {token.indication}/{token.sub_indication}")
        lines.extend(f"  E {m.key}: {m.text}" for m in token.errors)
        lines.extend(f"  W {m.key}: {m.text}" for m in token.warnings)
        lines.extend(f"  I {m.key}: {m.text}" for m in token.infos)
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("level", "dss_format"),
    [
        ("B-B", "PAdES-BASELINE-B"),
        ("B-T", "PAdES-BASELINE-T"),
        ("B-LT", "PAdES-BASELINE-LT"),
        ("B-LTA", "PAdES-BASELINE-LTA"),
    ],
)
def test_dss_passes_each_level_and_finds_the_level_asked_for(
    stack_info: StackInfo,
    headers: dict[str, str],
    dss_validator: DssValidator,
    demo_pdf: bytes,
    level: str,
    dss_format: str,
) -> None:
    """DSS determines the level from what the file holds (a signature timestamp for -T, validation
    data in a DSS dictionary added after the signature for -LT, a document timestamp over it for
    -LTA), so a level the service claims but did not build shows up here."""
    signed = _sign(stack_info, headers, demo_pdf, level)
    report = dss_validator.validate(signed)
    assert report.signatures_count == 1, _explain(report)
    [signature] = report.signatures
    assert signature.field_name == "Signature1"
    assert signature.intact and signature.cryptographically_valid
    assert (signature.indication, signature.sub_indication) == ("TOTAL_PASSED", None), _explain(
        report
    )
    assert signature.signature_format == dss_format, _explain(report)
    assert signature.pdf is not None and not signature.pdf.modifications_detected
    assert not signature.pdf.undefined_changes
    # Nothing to object to: no error or warning on the signature or its timestamps (the only
    # remarks are eIDAS qualification ones, as the test PKI is on no EU trusted list).
    tokens: list[DssSignature | DssTimestamp] = [signature, *signature.timestamps]
    for token in tokens:
        assert (token.errors, token.warnings) == ((), ()), _explain(report)
    kinds = sorted(t.type or "" for t in signature.timestamps)
    expected = {
        "B-B": [],
        "B-T": ["SIGNATURE_TIMESTAMP"],
        "B-LT": ["SIGNATURE_TIMESTAMP"],
        "B-LTA": ["DOCUMENT_TIMESTAMP", "SIGNATURE_TIMESTAMP"],
    }[level]
    assert kinds == expected, _explain(report)
    for timestamp in signature.timestamps:
        assert timestamp.indication == "PASSED", _explain(report)


def test_dss_fails_a_signature_whose_signed_bytes_were_changed(
    stack_info: StackInfo, headers: dict[str, str], dss_validator: DssValidator, demo_pdf: bytes
) -> None:
    """Attack class: tampering inside the signed byte range (one byte of the page content)."""
    signed = _sign(stack_info, headers, demo_pdf, "B-T")
    position = signed.index(b"10A1")
    tampered = signed[:position] + b"10A9" + signed[position + 4 :]
    assert len(tampered) == len(signed)
    report = dss_validator.validate(tampered)
    [signature] = report.signatures
    assert signature.intact is False
    assert (signature.indication, signature.sub_indication) == (
        "TOTAL_FAILED",
        "HASH_FAILURE",
    ), _explain(report)
    # "The reference data object is not intact!"
    assert "BBB_CV_IRDOI_ANS" in {m.key for m in signature.errors}, _explain(report)


def test_dss_sees_page_content_rewritten_in_an_incremental_update(
    stack_info: StackInfo, headers: dict[str, str], dss_validator: DssValidator, demo_pdf: bytes
) -> None:
    """Attack class: incremental-saving attack (a later revision replaces what page 1 shows while
    the signed revision stays intact). DSS's default policy only warns about it; the gateway's own
    verifier fails the document (README)."""
    signed = _sign(stack_info, headers, demo_pdf, "B-T")
    clean = dss_validator.validate(signed)
    [before] = clean.signatures
    assert before.pdf is not None and not before.pdf.modifications_detected

    altered = replace_page_text(signed, b"10A1", b"10A9")
    report = dss_validator.validate(altered)
    [signature] = report.signatures
    assert signature.intact is True  # the signed revision itself is untouched
    assert signature.pdf is not None
    assert signature.pdf.modifications_detected, _explain(report)
    assert 1 in signature.pdf.visual_difference_pages, signature.pdf
    assert signature.pdf.object_modifications_detected
    [change] = signature.pdf.undefined_changes
    assert change.action == "MODIFICATION", change
    assert re.fullmatch(
        r"/Catalog /Pages \d+ 0 R /Kids \d+ 0 R /Contents \d+ 0 R stream", str(change.value)
    )
    # "Visual difference is detected on page(s) [1]", "undefined object modifications after the
    # signature revision": warnings under the default policy, absent from the untouched document.
    added = signature.message_keys() - before.message_keys()
    assert {"BBB_FC_IVDBSFR_ANS", "BBB_FC_DSCNUOM_ANS"} <= added, _explain(report)
    assert (signature.indication, signature.sub_indication) == ("TOTAL_PASSED", None)


def test_dss_refuses_bytes_that_are_not_a_pdf(dss_validator: DssValidator) -> None:
    with pytest.raises(DssRefusedDocument) as refused:
        dss_validator.validate(b"not a PDF at all")
    assert refused.value.message == "Not supported document"


def test_b_lta_document_timestamp_is_the_files_last_signature(
    stack_info: StackInfo, headers: dict[str, str], dss_validator: DssValidator, demo_pdf: bytes
) -> None:
    """The document timestamp DSS finds is the ``/DocTimeStamp`` field pyHanko added last, and
    it passes on its own."""
    signed = _sign(stack_info, headers, demo_pdf, "B-LTA")
    reader = PdfFileReader(BytesIO(signed))
    last = reader.embedded_signatures[-1]
    assert str(last.sig_object["/Type"]) == "/DocTimeStamp"
    report = dss_validator.validate(signed)
    assert report.document_timestamps_count == 1, _explain(report)
    [signature] = report.signatures
    [document_timestamp] = (t for t in signature.timestamps if t.type == "DOCUMENT_TIMESTAMP")
    assert document_timestamp.field_name == last.field_name
    assert document_timestamp.indication == "PASSED", _explain(report)
    assert document_timestamp.pdf is not None
    assert document_timestamp.pdf.sub_filter == "ETSI.RFC3161"
