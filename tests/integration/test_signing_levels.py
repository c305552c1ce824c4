"""Signing at every PAdES level, visibly, sequentially and with certification, then verifying:
real token key, real TSA, OCSP and CRL from the test PKI, through the running service."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from devstack import Stack, StackInfo
from signing_service.revocation import load_trust_store
from tests.conftest import TokenFactory
from tests.pdf_inspection import annotation_texts, replace_page_text, stamp_fonts

pytestmark = [pytest.mark.keycloak, pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]


@pytest.fixture(scope="module")
def headers(client_token: TokenFactory) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {client_token('demo-eoffice')}",
        "Content-Type": "application/pdf",
    }


def _sign(info: StackInfo, headers: dict[str, str], pdf: bytes, **params: str) -> httpx.Response:
    return httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        params=params,
        content=pdf,
        headers=headers,
        timeout=60,
    )


def _verify(info: StackInfo, headers: dict[str, str], pdf: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{info.signing_url}/v1/documents:verify", content=pdf, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_every_level_signs_and_verifies(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes, level: str
) -> None:
    signed = _sign(stack_info, headers, demo_pdf, level=level)
    assert signed.status_code == 200, signed.text
    reader = PdfFileReader(BytesIO(signed.content))
    has_dss = "/DSS" in reader.root
    assert has_dss == (level in {"B-LT", "B-LTA"})
    if has_dss:
        dss = reader.root["/DSS"]
        assert "/OCSPs" in dss or "/CRLs" in dss
    subfilters = [str(s.sig_object["/SubFilter"]) for s in reader.embedded_signatures]
    assert subfilters[0] == "/ETSI.CAdES.detached"
    assert ("/ETSI.RFC3161" in subfilters) == (level == "B-LTA")
    report = _verify(stack_info, headers, signed.content)
    assert report["indication"] == "TOTAL_PASSED", report


def test_b_lt_adds_its_dss_in_a_later_revision_that_validates_offline(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    """The DSS (signer's and TSA's chains and revocation data) comes in a revision of its own after
    the signed one, as EN 319 142-1 lays out B-LT (and as EU DSS recognises it), and a validator
    with no network finds in it all it needs."""
    signed = _sign(stack_info, headers, demo_pdf, level="B-LT")
    assert signed.status_code == 200, signed.text
    reader = PdfFileReader(BytesIO(signed.content))
    [signature] = reader.embedded_signatures
    assert signature.signed_revision == reader.xrefs.total_revisions - 2
    assert "/DSS" not in reader.get_historical_root(signature.signed_revision)
    assert "/DSS" in reader.root
    assert signature.evaluate_signature_coverage().name == "ENTIRE_REVISION"
    roots = load_trust_store(Path(stack_info.trust_store))
    offline = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = validate_pdf_signature(signature, signer_validation_context=offline)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted


def test_visible_stamp_carries_vietnamese_text_that_reads_back(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    before = datetime.now(UTC)
    signed = _sign(stack_info, headers, demo_pdf, level="B-T", visible="true")
    assert signed.status_code == 200, signed.text
    [text] = annotation_texts(signed.content)
    # The seal says it is the organisation's seal, not a person's signature; no title, no "-",
    # and no unit (an application's token names none: the seal is the department's own).
    assert "Dấu cơ quan / Organisation seal: Sở GD&ĐT — Dấu cơ quan" in text
    assert "Ký bởi" not in text and "Chức vụ" not in text and ": -" not in text
    assert "Đơn vị" not in text
    # The time is local, with its zone (UTC+7), and is the signing time.
    shown = re.search(r"(\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) \(UTC\+07:00\)", text)
    assert shown, text
    local = datetime.strptime(shown.group(1), "%d/%m/%Y %H:%M:%S").replace(
        tzinfo=timezone(timedelta(hours=7))
    )
    assert abs(local - before) < timedelta(minutes=2), (local, before)
    # The font is embedded (a subset of Noto Sans), not a reference to a viewer's font.
    fonts = stamp_fonts(signed.content)
    assert fonts and all(embedded for _, embedded in fonts), fonts
    assert all("NotoSans" in name for name, _ in fonts), fonts
    assert _verify(stack_info, headers, signed.content)["indication"] == "TOTAL_PASSED"


def test_the_sample_transcript_reads_in_vietnamese_before_and_after_a_visible_seal(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """The sample documents the stack seeds say what they say with every diacritic (an embedded
    font with a ToUnicode map, not Helvetica showing "?"), and still do once sealed visibly."""
    from pdfminer.high_level import extract_text

    sample = (stack.folder / "demo" / "hoc-ba-mau.pdf").read_bytes()
    for words in ("HỌC BẠ ĐIỆN TỬ (MẪU)", "Nguyễn Thị Thuỳ Dương", "Ngữ văn 9,0", "Học lực: Giỏi"):
        assert words in extract_text(BytesIO(sample)), words
    signed = _sign(stack_info, headers, sample, level="B-T", visible="true")
    assert signed.status_code == 200, signed.text
    assert "Lớp 10A1 — Năm học 2026-2027" in extract_text(BytesIO(signed.content))
    [stamp] = annotation_texts(signed.content)
    assert "Sở GD&ĐT" in stamp
    assert _verify(stack_info, headers, signed.content)["indication"] == "TOTAL_PASSED"
    letter = (stack.folder / "demo" / "cong-van-mau.pdf").read_bytes()
    assert "Sở Giáo dục và Đào tạo — Văn phòng" in extract_text(BytesIO(letter))


def test_a_free_text_title_is_refused_before_anything_is_signed(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    """A seal has no title, and a person's comes from their certificate: "Chức vụ: Hiệu trưởng"
    typed by an app beside the seal would read as a principal's signature."""
    response = _sign(stack_info, headers, demo_pdf, visible="true", title="Hiệu trưởng")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "stamp-title-not-accepted"


def test_stamp_on_a_page_that_does_not_exist_is_a_409(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    response = _sign(stack_info, headers, demo_pdf, visible="true", page="7")
    assert response.status_code == 409
    assert response.json()["code"] == "document-not-signable"


def test_sequential_signatures_both_pass(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    teacher = _sign(stack_info, headers, demo_pdf, level="B-T", reason="Giáo viên chủ nhiệm")
    principal = _sign(stack_info, headers, teacher.content, level="B-T", reason="Hiệu trưởng")
    assert principal.headers["x-signature-field"] == "Signature2"
    report = _verify(stack_info, headers, principal.content)
    assert report["indication"] == "TOTAL_PASSED"
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED"] * 2


def test_grade_changed_after_signing_fails_the_whole_document(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    signed = _sign(stack_info, headers, demo_pdf, level="B-T").content
    # An incremental update that leaves the signed bytes intact but changes what the page shows.
    altered = replace_page_text(signed, b"10A1", b"10A9")
    report = _verify(stack_info, headers, altered)
    assert report["indication"] == "TOTAL_FAILED"
    assert report["subindication"] == "MODIFIED_AFTER_SIGNING"
    [signature] = report["signatures"]
    assert signature["intact"] is True  # the signature itself is fine: the change came after it


def test_certified_document_allows_a_further_signature_but_not_a_content_change(
    stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    certified = _sign(stack_info, headers, demo_pdf, level="B-T", certify="true")
    assert certified.status_code == 200, certified.text
    reader = PdfFileReader(BytesIO(certified.content))
    assert "/DocMDP" in reader.root["/Perms"]

    countersigned = _sign(stack_info, headers, certified.content, level="B-T")
    assert _verify(stack_info, headers, countersigned.content)["indication"] == "TOTAL_PASSED"

    again = _sign(stack_info, headers, certified.content, certify="true")
    assert again.status_code == 409

    altered = replace_page_text(certified.content, b"10A1", b"10A9")
    assert _verify(stack_info, headers, altered)["indication"] == "TOTAL_FAILED"


def test_signature_whose_certificate_is_revoked_no_longer_passes(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str], demo_pdf: bytes
) -> None:
    """Once the signer's certificate is revoked (OCSP and CRL say so), a signature without proof of
    existence before the revocation is INDETERMINATE/REVOKED_NO_POE (ETSI EN 319 102-1 basic
    validation). A signature timestamp from before the revocation is that proof: validation with
    time (§5.5) passes it. A signature timestamp only bounds the signature from above, so a B-T
    made after the revocation stays REVOKED_NO_POE; TOTAL_FAILED/REVOKED needs a content
    timestamp."""
    import asyncio

    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    from devstack import softhsm
    from devstack.pki import ISSUING
    from devstack.stack import TOKEN_LABEL
    from gateway_runtime.keystore import TokenKeystore
    from signing_service import (
        DocumentSigner,
        SignatureLevel,
        SignatureRequest,
        token_pdf_signer,
    )
    from signing_service.documents import UntrustedDocument
    from signing_service.keystore import TokenGate
    from signing_service.sandbox import DocumentSandbox

    keystore = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    try:
        if not keystore.has_key("teacher-revoked"):
            keystore.generate_rsa_key("teacher-revoked")
        csr = keystore.certificate_request(
            "teacher-revoked", {"common_name": "Giáo viên bị thu hồi"}
        )
        cert = stack.pki.issue_from_csr(csr)
        issuing = stack.pki.certificate(ISSUING).public_bytes(serialization.Encoding.DER)
        signer = token_pdf_signer(
            TokenGate(keystore),
            "teacher-revoked",
            asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            [asn1_x509.Certificate.load(issuing)],
        )
        from devstack.pki import ROOT

        root = stack.pki.certificate(ROOT).public_bytes(serialization.Encoding.DER)
        sandbox = DocumentSandbox(
            workers=1, memory_budget_bytes=256 * 1024 * 1024, timeout_seconds=30
        )
        document_signer = DocumentSigner(
            signer,
            key_label="teacher-revoked",
            trust_roots=[asn1_x509.Certificate.load(root)],
            sandbox=sandbox,
            tsa_url=stack.pki.urls.tsa,
        )

        async def sign_before_and_after_revocation() -> tuple[bytes, bytes, bytes]:
            try:
                before = await document_signer.sign(
                    UntrustedDocument(demo_pdf), SignatureRequest(level=SignatureLevel.B_B)
                )
                assert _verify(stack_info, headers, before.content)["indication"] == "TOTAL_PASSED"
                stamped = await document_signer.sign(
                    UntrustedDocument(demo_pdf), SignatureRequest(level=SignatureLevel.B_T)
                )
                await asyncio.sleep(1.1)  # times have one-second precision
                stack.pki.revoke(cert.serial_number)
                after = await document_signer.sign(
                    UntrustedDocument(demo_pdf), SignatureRequest(level=SignatureLevel.B_T)
                )
            finally:
                await document_signer.aclose()
                sandbox.close()
            return before.content, stamped.content, after.content

        before, stamped, after = asyncio.run(sign_before_and_after_revocation())
    finally:
        keystore.close()

    report = _verify(stack_info, headers, before)
    assert (report["indication"], report["subindication"]) == ("INDETERMINATE", "REVOKED_NO_POE")
    report = _verify(stack_info, headers, after)
    assert (report["indication"], report["subindication"]) == ("INDETERMINATE", "REVOKED_NO_POE")
    # With-time validation (EN 319 102-1 §5.5): the signature timestamp proves the signature
    # existed before the revocation, so it still passes.
    report = _verify(stack_info, headers, stamped)
    assert (report["indication"], report["subindication"]) == ("TOTAL_PASSED", None), report
