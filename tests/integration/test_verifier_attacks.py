"""Attack suite: the verifier's verdict under every known class of PDF signature attack.

Every case starts from a document the running service signed in this test run (keys in the test
token, the session's fresh test PKI), manipulates it as an attacker would (``tests/pdf_attacks.py``,
one function per attack class), and checks the verdict through the API and through the public page.
None of the manipulations can re-sign with the service's key, so anything better than the expected
verdict means the verifier was fooled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import httpx
import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields as pyhanko_fields
from pyhanko.sign import signers
from pyhanko.sign.signers import cms_embedder
from pyhanko_certvalidator.registry import SimpleCertificateStore

from devstack import Stack, StackInfo, softhsm
from devstack.demo import transcript_pdf
from devstack.dss_validator import DssRefusedDocument, DssReport, DssValidator
from devstack.pki import ISSUING, ROOT
from devstack.stack import TOKEN_LABEL
from gateway_runtime.keystore import TokenKeystore
from signing_service.appearance import VisibleStamp
from signing_service.errors import DocumentNotSignable
from signing_service.keystore import TokenGate, token_pdf_signer
from signing_service.preparation import FieldLock
from signing_service.sandbox import DocumentSandbox
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from tests import pdf_attacks as attack
from tests.conftest import TokenFactory
from tests.pdf_inspection import annotation_texts
from tests.public_page import check_on_public_page
from tests.signing_app import der_certificate, seal_signer, sign_with, software_signed

pytestmark = [
    pytest.mark.keycloak,
    pytest.mark.redis,
    pytest.mark.softhsm,
    pytest.mark.pki,
    pytest.mark.usefixtures("public_page_budget"),
]

PAGE_VERDICTS = {
    "TOTAL_PASSED": "Chữ ký hợp lệ",
    "INDETERMINATE": "Chưa xác định được",
    "TOTAL_FAILED": "Chữ ký KHÔNG hợp lệ",
}


@pytest.fixture(scope="module")
def headers(client_token: TokenFactory) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {client_token('demo-eoffice')}",
        "Content-Type": "application/pdf",
    }


def _sign(info: StackInfo, headers: dict[str, str], pdf: bytes, **params: str) -> bytes:
    response = httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        params=params,
        content=pdf,
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.content


def verify(info: StackInfo, headers: dict[str, str], pdf: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{info.signing_url}/v1/documents:verify", content=pdf, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def page(info: StackInfo, pdf: bytes) -> httpx.Response:
    with httpx.Client(base_url=info.signing_url, timeout=60) as browser:
        return check_on_public_page(browser, pdf)


def signed_elsewhere(document: bytes, signer: Any) -> bytes:
    """``document`` signed as other signing software would (pyHanko, no checks of the service)."""
    signed: bytes = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(document), strict=False),
        signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=pyhanko_fields.SigSeedSubFilter.PADES
        ),
        signer=signer,
    ).getvalue()
    return signed


@pytest.fixture(scope="module")
def signed(
    stack_info: StackInfo, headers: dict[str, str], software_signer: tuple[rsa.RSAPrivateKey, Any]
) -> dict[str, bytes]:
    """Fresh documents signed by the service: a transcript at each level with a grade on it; and
    two the service refuses to sign, signed by other software."""
    transcript = transcript_pdf(["HOC BA DIEN TU", "Diem Toan: 7"], pages=1)
    documents = {
        level: _sign(stack_info, headers, transcript, level=level)
        for level in ("B-B", "B-T", "B-LT", "B-LTA")
    }
    documents["other-B-T"] = _sign(
        stack_info, headers, transcript_pdf(["CONG VAN", "So 12"]), level="B-T"
    )
    documents["form"] = _sign(
        stack_info, headers, attack.form_pdf({"diem_toan": "7", "ghi_chu": None}), level="B-T"
    )
    # A page prepared by the submitter: "10" drawn, then hidden under a box showing "7".
    documents["overlay"] = _sign(stack_info, headers, attack.overlay_pdf(), level="B-T")
    # A page prepared by the submitter that draws an object the document does not define.
    documents["dangling"] = _sign(stack_info, headers, attack.dangling_reference_pdf(), level="B-T")
    # Two the service refuses to sign, since each holds a definition no cross-reference section
    # lists (test_a_document_that_a_rebuilding_viewer_reads_differently_is_not_signed), signed by
    # other software: one holding, unused, a cross-reference stream that would redefine its
    # overlay; one holding a second definition of its page content.
    for name, document in (
        ("hybrid", attack.hybrid_prepared_pdf()),
        ("repair", attack.repair_prepared_pdf()),
    ):
        documents[name] = signed_elsewhere(document, software_signer[1])
    return documents


@dataclass(frozen=True)
class Case:
    attack_class: str
    base: str
    manipulate: Callable[[dict[str, bytes]], bytes]
    indication: str
    subindication: str | None


GRADE = (b"Diem Toan: 7", b"Diem Toan: 10")
CASES = {
    "isa-empty-xref-stream": Case(
        "Incremental Saving Attack (objects behind an xref stream with no entries)",
        "B-T",
        lambda d: attack.isa_behind_empty_xref_stream(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-empty-xref-table": Case(
        "Incremental Saving Attack (objects behind an empty xref table)",
        "B-T",
        lambda d: attack.isa_behind_empty_xref(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-no-xref": Case(
        "Incremental Saving Attack (objects with no xref section at all)",
        "B-T",
        lambda d: attack.isa_without_xref(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-dangling-startxref": Case(
        "Incremental Saving Attack (startxref pointing nowhere)",
        "B-T",
        lambda d: attack.isa_dangling_startxref(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-unlisted-object": Case(
        "Incremental Saving Attack (an object the update's xref does not list)",
        "B-T",
        lambda d: attack.isa_unlisted_object_in_update(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-defined-twice": Case(
        "Incremental Saving Attack (one object defined twice; the viewer keeps the second)",
        "B-T",
        lambda d: attack.isa_object_defined_twice(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "isa-after-b-lta": Case(
        "Incremental Saving Attack on a B-LTA document (after the archive timestamp)",
        "B-LTA",
        lambda d: attack.isa_behind_empty_xref_stream(d["B-LTA"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "content-change-in-dss-update": Case(
        "Page content rewritten in a revision dressed as long-term validation data (a /DSS)",
        "B-LT",
        lambda d: attack.content_change_inside_a_dss_update(d["B-LT"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "trailing-garbage": Case(
        "Bytes after %%EOF that are no PDF structure",
        "B-B",
        lambda d: attack.trailing_garbage(d["B-B"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "content-changed": Case(
        "Page content changed in a well-formed incremental update (control)",
        "B-LT",
        lambda d: attack.honest_content_change(d["B-LT"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "timestamp-gentime-edited": Case(
        "Signature timestamp with an edited genTime",
        "B-T",
        lambda d: attack.timestamp_gentime_edited(d["B-T"]),
        "INDETERMINATE",
        "SIG_CONSTRAINTS_FAILURE",
    ),
    "timestamp-signature-broken": Case(
        "Signature timestamp whose own CMS signature is broken",
        "B-T",
        lambda d: attack.timestamp_signature_broken(d["B-T"]),
        "INDETERMINATE",
        "SIG_CONSTRAINTS_FAILURE",
    ),
    "timestamp-copied": Case(
        "Signature timestamp copied from another signature (wrong message imprint)",
        "B-T",
        lambda d: attack.timestamp_copied_from(d["B-T"], d["other-B-T"]),
        "INDETERMINATE",
        "SIG_CONSTRAINTS_FAILURE",
    ),
    "archive-timestamp-broken": Case(
        "B-LTA document timestamp whose signature is broken",
        "B-LTA",
        lambda d: attack.document_timestamp_broken(d["B-LTA"]),
        "TOTAL_FAILED",
        "SIG_CRYPTO_FAILURE",
    ),
    "acroform-removed": Case(
        "/AcroForm removed after signing (signature stripping)",
        "B-T",
        lambda d: attack.acroform_removed(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "signature-field-dropped": Case(
        "Signature field taken out of /Fields after signing (signature stripping)",
        "B-T",
        lambda d: attack.signature_field_dropped(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "subfilter-renamed": Case(
        "Signature hidden behind an unknown /SubFilter",
        "B-T",
        lambda d: attack.subfilter_renamed(d["B-T"]),
        "TOTAL_FAILED",
        "FORMAT_FAILURE",
    ),
    "form-field-refilled": Case(
        "Form field that was filled when signed given a new value and appearance",
        "form",
        lambda d: attack.refill_field(d["form"], "diem_toan", "10"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "form-field-appearance-only": Case(
        "Form field that was filled when signed given a new appearance only",
        "form",
        lambda d: attack.refill_field(d["form"], "diem_toan", "10", value_too=False),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "form-redrawn-need-appearances": Case(
        "Shadow attack, replace: viewers told to redraw the fields the signer saw"
        " (/NeedAppearances set after signing)",
        "form",
        lambda d: attack.form_redrawn(d["form"], "need-appearances"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "form-redrawn-font-swapped": Case(
        "Shadow attack, replace: the form's font swapped and the fields redrawn with it",
        "form",
        lambda d: attack.form_redrawn(d["form"], "font-swapped"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "locked-empty-field-filled": Case(
        "Empty form field filled after a signature that locked the fields (FieldMDP)",
        "form",
        lambda d: attack.refill_field(d["form"], "ghi_chu", "ky luat"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-hide-freed": Case(
        "Shadow attack, hide: the overlay the signer saw freed in a later update",
        "overlay",
        lambda d: attack.shadow_hide_by_freeing(d["overlay"], with_dss=False),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-hide-freed-as-validation-data": Case(
        "Shadow attack, hide: the overlay freed in an update dressed as validation data (a /DSS)",
        "overlay",
        lambda d: attack.shadow_hide_by_freeing(d["overlay"], with_dss=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-replace-in-object-stream": Case(
        "Shadow attack, hide-and-replace: the page redefined in an object stream",
        "overlay",
        lambda d: attack.shadow_replace_in_object_stream(d["overlay"], with_dss=False),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-replace-in-object-stream-as-validation-data": Case(
        "Shadow attack, hide-and-replace: the page redefined in an object stream of an update"
        " dressed as validation data (a /DSS)",
        "overlay",
        lambda d: attack.shadow_replace_in_object_stream(d["overlay"], with_dss=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-dangling-reference-defined": Case(
        "Shadow attack: an object the signed page drew without defining it, added later",
        "dangling",
        lambda d: attack.define_dangling_object(d["dangling"], with_dss=False),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "shadow-dangling-reference-defined-as-validation-data": Case(
        "Shadow attack: an object the signed page drew without defining it, added by an update"
        " dressed as validation data (a /DSS)",
        "dangling",
        lambda d: attack.define_dangling_object(d["dangling"], with_dss=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "sneaky-signature-field": Case(
        "Sneaky Signature Attack: an empty signature field added after signing paints over the page",
        "B-T",
        lambda d: attack.sneaky_signature_field(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "sneaky-signature-field-separate-widget": Case(
        "Sneaky Signature Attack: the same, its widget a kid of the field (not merged with it)",
        "B-T",
        lambda d: attack.sneaky_signature_field(d["B-T"], separate_widget=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "sneaky-signature-place-redrawn": Case(
        "Sneaky Signature Attack: a blank place for the next signer, added after signing (which"
        " passes), given an appearance that paints over the page",
        "B-T",
        lambda d: attack.redraw_empty_field(
            attack.empty_signature_field_added(d["B-T"]), "ChoNguoiKyTiepTheo"
        ),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "hybrid-xrefstm": Case(
        "Shadow attack through a hybrid section: a later update's /XRefStm names a cross-reference"
        " stream prepared inside the signed bytes",
        "hybrid",
        lambda d: attack.hybrid_xref_stream_update(d["hybrid"], with_dss=False),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "hybrid-update-shadow-replace": Case(
        "Shadow attack, hide-and-replace, in a hybrid update: the page rewritten inside an object"
        " stream that only the update's own /XRefStm lists, beside a /DSS",
        "overlay",
        lambda d: attack.shadow_replace_in_hybrid_update(d["overlay"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "hybrid-update-conflicting": Case(
        "A hybrid update whose table and /XRefStm list the catalogue in two places (one viewer"
        " reads one, the next the other)",
        "overlay",
        lambda d: attack.hybrid_update(d["overlay"], conflicting=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "hybrid-xrefstm-as-validation-data": Case(
        "Shadow attack through a hybrid section, in an update dressed as validation data (a /DSS)",
        "hybrid",
        lambda d: attack.hybrid_xref_stream_update(d["hybrid"], with_dss=True),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "duplicate-key-page": Case(
        "Parser differential: the page rewritten with a second /Contents (pyHanko reads the first"
        " value of a repeated key, viewers the last)",
        "B-T",
        lambda d: attack.duplicate_key_page(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "duplicate-key-page-in-object-stream": Case(
        "Parser differential: the page rewritten with a second /Contents inside an object stream"
        " of the update (pyHanko's difference analysis saw no change until 2026-12-04)",
        "B-T",
        lambda d: attack.duplicate_key_page_in_object_stream(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "duplicate-key-catalog-as-validation-data": Case(
        "Parser differential: a catalogue with /DSS and a second /Pages (a new page tree), dressed"
        " as validation data",
        "B-LT",
        lambda d: attack.duplicate_key_catalog_as_validation_data(d["B-LT"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "object-zero-in-use": Case(
        "Forced repair: an update listing object 0 in use, so that MuPDF rebuilds the xref and"
        " shows a definition hidden in the signed bytes",
        "repair",
        lambda d: attack.object_zero_in_use(d["repair"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "usf-contents-removed": Case(
        "Universal Signature Forgery: /Contents removed from the signature in a later update",
        "B-T",
        lambda d: attack.usf_signature_dictionary(d["B-T"], "contents-removed"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "usf-contents-empty": Case(
        "Universal Signature Forgery: the signature's /Contents emptied in a later update",
        "B-T",
        lambda d: attack.usf_signature_dictionary(d["B-T"], "contents-empty"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "usf-byterange-removed": Case(
        "Universal Signature Forgery: /ByteRange removed from the signature in a later update",
        "B-T",
        lambda d: attack.usf_signature_dictionary(d["B-T"], "byterange-removed"),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "usf-byterange-zeroed": Case(
        "Universal Signature Forgery: the signature's /ByteRange made [0 0 0 0] in a later update",
        "B-T",
        lambda d: attack.usf_signature_dictionary(d["B-T"], "byterange-zeroed"),
        "TOTAL_FAILED",
        "HASH_FAILURE",
    ),
    "signature-wrapping": Case(
        "Signature Wrapping: the signed bytes moved apart, the forgery between them",
        "B-T",
        lambda d: attack.signature_wrapping(d["B-T"], *GRADE),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
    "javascript-added": Case(
        "JavaScript /OpenAction added after signing",
        "B-T",
        lambda d: attack.with_open_action_javascript(d["B-T"]),
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_attack_is_not_a_pass(
    stack_info: StackInfo, headers: dict[str, str], signed: dict[str, bytes], name: str
) -> None:
    case = CASES[name]
    assert verify(stack_info, headers, signed[case.base])["indication"] == "TOTAL_PASSED"
    manipulated = case.manipulate(signed)
    report = verify(stack_info, headers, manipulated)
    assert (report["indication"], report["subindication"]) == (
        case.indication,
        case.subindication,
    ), f"{case.attack_class}: {report}"
    answer = page(stack_info, manipulated)
    assert answer.status_code == 200
    assert PAGE_VERDICTS[case.indication] in answer.text, case.attack_class
    assert PAGE_VERDICTS["TOTAL_PASSED"] not in answer.text


def test_a_signature_with_nothing_to_check_is_reported_not_skipped(
    stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """Universal Signature Forgery on a document never signed: a field whose signature names a
    format and the principal, with no /Contents or /ByteRange. It is a signature that fails, not a
    reason to refuse the document (it was a 422 for the whole file) nor one to leave out."""
    forged = attack.usf_unsigned(transcript_pdf(["HOC BA DIEN TU", "Diem Toan: 10"]))
    report = verify(stack_info, headers, forged)
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    [signature] = report["signatures"]
    assert signature["field_name"] == "Signature1"
    assert PAGE_VERDICTS["TOTAL_FAILED"] in page(stack_info, forged).text


def test_broken_timestamp_is_reported_and_proves_nothing(
    stack_info: StackInfo, headers: dict[str, str], signed: dict[str, bytes]
) -> None:
    """Timestamp forgery: the token is reported as failed, and the signature is not timestamped."""
    report = verify(stack_info, headers, attack.timestamp_gentime_edited(signed["B-T"]))
    [signature] = report["signatures"]
    assert signature["timestamped"] is False
    assert signature["timestamp"]["indication"] == "TOTAL_FAILED"
    assert signature["problems"], signature


def test_signature_placeholder_is_reported_beside_the_real_signature(
    stack_info: StackInfo, headers: dict[str, str], signed: dict[str, bytes]
) -> None:
    """One empty signature field (for the next signer) does not spoil the real signature."""
    document = attack.empty_signature_field_added(signed["B-T"])
    report = verify(stack_info, headers, document)
    assert report["indication"] == "TOTAL_PASSED", report
    assert [s["field_name"] for s in report["signatures"]] == ["Signature1"]
    assert {(w["code"], w["subject"]) for w in report["warnings"]} >= {
        ("unsigned-signature-field", "ChoNguoiKyTiepTheo")
    }
    answer = page(stack_info, document)
    assert "ChoNguoiKyTiepTheo" in answer.text and "chưa được ký" in answer.text


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (attack.with_open_action_javascript, "javascript"),
        (attack.with_executable_attachment, "executable-attachment"),
    ],
)
def test_active_content_is_refused_by_the_seal(
    stack_info: StackInfo, headers: dict[str, str], make: Callable[[bytes], bytes], kind: str
) -> None:
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=make(transcript_pdf(["THONG BAO"])),
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 409, response.text
    assert kind in response.json()["detail"]


def test_active_content_signed_where_allowed_is_named_in_the_verdict(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    with seal_signer(stack, stack_info) as signer:
        document = sign_with(
            signer,
            attack.with_open_action_javascript(transcript_pdf(["THONG BAO"])),
            SignatureRequest(allow_active_content=True),
        )
    report = verify(stack_info, headers, document)
    assert report["indication"] == "TOTAL_PASSED"
    warnings = [w for w in report["warnings"] if w["code"] == "active-content"]
    assert warnings and "javascript" in warnings[0]["message_en"]
    assert "nội dung chủ động" in page(stack_info, document).text


def test_filling_an_empty_field_is_permitted_and_said_where_nothing_is_locked(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """Form filling (what DocMDP P=2 allows) stays a pass, with a warning; refilling what the
    signer saw fails even when the signature locks nothing."""
    form = attack.form_pdf({"diem_toan": "7", "ghi_chu": None})
    with seal_signer(stack, stack_info) as signer:
        document = sign_with(
            signer, form, SignatureRequest(level=SignatureLevel.B_B, lock=FieldLock.NONE)
        )
    filled = verify(stack_info, headers, attack.refill_field(document, "ghi_chu", "da xem"))
    assert filled["indication"] == "TOTAL_PASSED", filled
    assert ("field-filled-after-signing", "ghi_chu") in {
        (w["code"], w["subject"]) for w in filled["warnings"]
    }
    refilled = verify(stack_info, headers, attack.refill_field(document, "diem_toan", "10"))
    assert (refilled["indication"], refilled["subindication"]) == (
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    )


def test_an_update_in_hybrid_form_is_read_as_its_writer_meant(
    stack_info: StackInfo, headers: dict[str, str], signed: dict[str, bytes]
) -> None:
    """Not an attack: validation data added the way a writer updates a hybrid-reference file (a
    cross-reference table whose /XRefStm names a cross-reference stream of the same update, listing
    the /DSS inside an object stream). Every byte is accounted for and the signature passes; until
    2026-12-03 any /XRefStm in an update was refused, which failed such documents."""
    report = verify(stack_info, headers, attack.hybrid_update(signed["overlay"]))
    assert report["indication"] == "TOTAL_PASSED", report
    assert [s["modification_level"] for s in report["signatures"]] == ["LTA_UPDATES"]


@pytest.mark.parametrize("xmp", [False, True], ids=["info-dictionary", "xmp-metadata"])
def test_a_title_changed_after_signing_is_said(
    stack_info: StackInfo, headers: dict[str, str], xmp: bool
) -> None:
    """Attack class: metadata retitling. A transcript's title ("Học bạ - Nguyễn Văn A") changed
    after signing to another's diploma. The pages are what was signed, so the verdict stays a pass
    (pyHanko and EU DSS permit metadata updates: validation data writers touch the dates), but a
    viewer shows the new title in its window (``/DisplayDocTitle``) and the document's properties:
    the verdict says so, through the API and the public page. A countersignature by the service
    (pyHanko rewrites the XMP packet when it signs) keeps the title and says nothing."""
    titled = attack.retitled(transcript_pdf(["HOC BA DIEN TU"]), "Học bạ - Nguyễn Văn A", xmp=xmp)
    document = _sign(stack_info, headers, titled, level="B-T")
    countersigned = _sign(stack_info, headers, document, level="B-T")
    for honest in (document, countersigned):
        report = verify(stack_info, headers, honest)
        assert report["indication"] == "TOTAL_PASSED", report
        assert "document-information-changed" not in {w["code"] for w in report["warnings"]}
    forged = attack.retitled(document, "Bằng tốt nghiệp loại Giỏi - Nguyễn Văn B", xmp=xmp)
    report = verify(stack_info, headers, forged)
    assert report["indication"] == "TOTAL_PASSED", report
    assert ("document-information-changed", "XMP title" if xmp else "Title") in {
        (w["code"], w["subject"]) for w in report["warnings"]
    }
    shown = page(stack_info, forged).text
    assert "Thông tin tài liệu (tiêu đề" in shown and "Title" not in shown


@pytest.mark.parametrize("variant", ["need-appearances", "font-swapped", "default-appearance"])
def test_fields_redrawn_from_other_inputs_fail_even_where_nothing_is_locked(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str], variant: str
) -> None:
    """Shadow attack, *replace*: a signature that locks nothing still fixes what the signer saw.
    Telling viewers to redraw the fields (``/NeedAppearances``), with the form's font swapped or
    the grade's default appearance made white, shows the same value otherwise."""
    form = attack.form_pdf({"diem_toan": "7", "ghi_chu": None})
    with seal_signer(stack, stack_info) as signer:
        document = sign_with(
            signer, form, SignatureRequest(level=SignatureLevel.B_B, lock=FieldLock.NONE)
        )
    assert verify(stack_info, headers, document)["indication"] == "TOTAL_PASSED"
    report = verify(stack_info, headers, attack.form_redrawn(document, variant))
    assert (report["indication"], report["subindication"]) == (
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ), report
    assert "diem_toan" in str(report["signatures"][0]["problems"])


def test_a_parent_fields_appearance_is_part_of_what_its_kids_showed(
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shadow attack, *replace*, through inheritance: the grade is the kid of a parent field that
    alone holds the font and colour (``/DA``) it is drawn with, and the form asks viewers to redraw
    (``/NeedAppearances``), which signing software other than pyHanko leaves as it found it. After
    signing, the parent's ``/DA`` writes in white: the grade's own dictionary is untouched."""
    _, signer = software_signer
    keep = pyhanko_fields.ensure_sig_flags  # pyHanko clears /NeedAppearances; others do not
    monkeypatch.setattr(
        cms_embedder, "ensure_sig_flags", lambda writer, **_: keep(writer, lock_sig_flags=False)
    )
    form = attack.grouped_form(attack.form_pdf({"diem_toan": "7", "ghi_chu": None}))
    document = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(form), strict=False),
        signers.PdfSignatureMetadata(field_name="GVCN"),
        signer=signer,
    ).getvalue()
    signed_form = PdfFileReader(BytesIO(document), strict=False).root["/AcroForm"]
    assert signed_form.get("/NeedAppearances") is not None  # the signer saw the fields redrawn
    assert verify(stack_info, headers, document)["indication"] == "TOTAL_PASSED"
    report = verify(stack_info, headers, attack.form_redrawn(document, "parent-default-appearance"))
    assert (report["indication"], report["subindication"]) == (
        "TOTAL_FAILED",
        "MODIFIED_AFTER_SIGNING",
    ), report
    assert "diem.diem_toan" in str(report["signatures"][0]["problems"])


@pytest.mark.parametrize("object_stream", [False, True], ids=["plain-object", "object-stream"])
def test_a_signature_over_a_document_two_viewers_read_differently_does_not_pass(
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
    object_stream: bool,
) -> None:
    """Attack class: parser differential under a signature made elsewhere. The service refuses to
    sign a document that names a key twice in one dictionary (``test_hostile_documents``); other
    signing software signs it. Here the page's resources name its form ``/G1`` twice: pyHanko's
    lenient reader, and so its whole validation, keeps the first ("Diem Toan: 7"), poppler and
    MuPDF draw the last ("Diem Toan: 10"). Nobody can say which of the two was signed: the verdict
    is INDETERMINATE / FORMAT_FAILURE, naming the object and the key. The same document without
    the repetition, signed the same way, passes."""
    _, signer = software_signer
    for repeated in (False, True):
        document = attack.ambiguous_resources_pdf(object_stream=object_stream, repeated=repeated)
        signed = signed_elsewhere(document, signer)
        report = verify(stack_info, headers, signed)
        if not repeated:
            assert report["indication"] == "TOTAL_PASSED", report
            continue
        assert (report["indication"], report["subindication"]) == (
            "INDETERMINATE",
            "FORMAT_FAILURE",
        ), report
        [problem] = report["signatures"][0]["problems"]
        assert "twice" in problem and "/G1" in problem, problem
        assert PAGE_VERDICTS["INDETERMINATE"] in page(stack_info, signed).text


@pytest.mark.parametrize("base", ["repair", "hybrid", "in-a-stream"])
def test_a_definition_hidden_in_the_signed_bytes_is_named(
    stack_info: StackInfo,
    headers: dict[str, str],
    signed: dict[str, bytes],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
    base: str,
) -> None:
    """Attack class: forced repair, prepared before a signature made elsewhere. The service refuses
    to sign a document holding a definition that no cross-reference section lists
    (``test_hostile_documents``); other software signs it. Every viewer that follows the sections
    shows what was signed, and a damage added later to make viewers rebuild them fails the
    signature (``object-zero-in-use``), so it passes; but the answer names the object (until
    2026-12-04 it said nothing), on the API and the public page. The service's own signatures
    carry no such warning."""
    if base == "in-a-stream":
        document = signed_elsewhere(
            attack.definition_hidden_in_stream(transcript_pdf(["Diem Toan: 7"])), software_signer[1]
        )
    else:
        document = signed[base]
    contents = (
        PdfFileReader(BytesIO(document), strict=False)
        .root["/Pages"]["/Kids"][0]
        .raw_get("/Contents")
    )
    if not isinstance(contents, IndirectObject):  # the overlay draws two; the second is redefined
        contents = contents.raw_get(len(contents) - 1)
    report = verify(stack_info, headers, document)
    assert report["indication"] == "TOTAL_PASSED", report
    named = [w for w in report["warnings"] if w["code"] == "unlisted-definition"]
    assert [w["subject"] for w in named] == [f"object {contents.idnum}"], report["warnings"]
    assert "rebuilds the table" in named[0]["message_en"]
    assert "bảng tham chiếu không liệt kê" in page(stack_info, document).text
    own = verify(stack_info, headers, signed["B-LT"])
    assert not [w for w in own["warnings"] if w["code"] == "unlisted-definition"], own


def test_revoked_signer_with_a_forged_timestamp_does_not_pass(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """A timestamp is proof of existence only if it validates: a forged one must not turn a revoked
    certificate (REVOKED_NO_POE) into a pass."""
    keystore = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    sandbox = DocumentSandbox(workers=1, memory_budget_bytes=256 << 20, timeout_seconds=30)
    try:
        label = "attack-suite-revoked"
        if not keystore.has_key(label):
            keystore.generate_rsa_key(label)
        cert = stack.pki.issue_from_csr(
            keystore.certificate_request(label, {"common_name": "Giáo viên bị thu hồi (attack)"})
        )
        signer = DocumentSigner(
            token_pdf_signer(
                TokenGate(keystore),
                label,
                asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
                [der_certificate(stack.pki.cert_path(ISSUING))],
            ),
            key_label=label,
            trust_roots=[der_certificate(stack.pki.cert_path(ROOT))],
            sandbox=sandbox,
            tsa_url=stack.pki.urls.tsa,
        )
        stamped = sign_with(
            signer, transcript_pdf(["HOC BA"]), SignatureRequest(level=SignatureLevel.B_T)
        )
    finally:
        sandbox.close()
        keystore.close()
    time.sleep(1.1)  # revocation times have one-second precision
    stack.pki.revoke(cert.serial_number)
    honest = verify(stack_info, headers, stamped)
    assert honest["indication"] == "TOTAL_PASSED", honest  # proof of existence before revocation
    for forged in (
        attack.timestamp_gentime_edited(stamped),
        attack.timestamp_signature_broken(stamped),
    ):
        report = verify(stack_info, headers, forged)
        assert report["indication"] != "TOTAL_PASSED", report
        assert report["signatures"][0]["timestamped"] is False


@pytest.fixture(scope="module")
def software_signer(stack: Stack) -> tuple[rsa.RSAPrivateKey, Any]:
    """A key outside the token with a certificate from the session's (trusted) test CA: the
    attacker here is a legitimate signer whose software builds a malformed container."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Phần mềm ký lỗi")]))
        .sign(key, hashes.SHA256())
    )
    cert = stack.pki.issue_from_csr(csr.public_bytes(serialization.Encoding.DER))
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs(
            [der_certificate(stack.pki.cert_path(ISSUING))]
        ),
    )
    return key, signer


def test_a_certificate_swapped_for_another_of_the_same_key_does_not_pass(
    stack: Stack,
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
) -> None:
    """Attack class: certificate substitution. A teacher's key certified twice (a re-issue naming
    the principal's title, say): the signature made under one certificate, the other put in the
    CMS's unsigned certificate set and signer identifier. The value still verifies with the key;
    the signed signing-certificate attribute names the first certificate, so the verdict must not
    pass the signature as the second's."""
    key, signer = software_signer
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hiệu trưởng (tráo)")]))
        .sign(key, hashes.SHA256())
    )
    other = stack.pki.issue_from_csr(csr.public_bytes(serialization.Encoding.DER))
    document = software_signed(signer)
    assert verify(stack_info, headers, document)["indication"] == "TOTAL_PASSED"
    swapped = attack.certificate_swapped(document, other.public_bytes(serialization.Encoding.DER))
    report = verify(stack_info, headers, swapped)
    assert report["indication"] == "TOTAL_FAILED", report
    assert "Hiệu trưởng (tráo)" not in str(report["signatures"][0].get("signer", ""))
    assert PAGE_VERDICTS["TOTAL_PASSED"] not in page(stack_info, swapped).text


@pytest.mark.parametrize(
    ("manipulate", "subindication"),
    [
        (attack.resign_over_ber_signed_attributes, "SIG_CRYPTO_FAILURE"),
        (attack.resign_without_signed_attributes, "FORMAT_FAILURE"),
    ],
    ids=["ber-signed-attributes", "no-signed-attributes"],
)
def test_malformed_signer_info_fails(
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
    manipulate: Callable[[bytes, rsa.RSAPrivateKey], bytes],
    subindication: str,
) -> None:
    """Signed attributes not DER-encoded (the ETSI plugtests expect a failure; EU DSS says
    SIG_CRYPTO_FAILURE) and signatures without signed attributes fail, though the key is trusted
    and the value verifies over what is stored."""
    key, signer = software_signer
    document = software_signed(signer)
    assert verify(stack_info, headers, document)["indication"] == "TOTAL_PASSED"
    report = verify(stack_info, headers, manipulate(document, key))
    assert (report["indication"], report["subindication"]) == ("TOTAL_FAILED", subindication), (
        report
    )


# -- a second opinion: EU DSS ------------------------------------------------------------------------


def _dss_objects(report: DssReport, clean: DssReport) -> list[str]:
    """What EU DSS holds against a document that it did not hold against the untouched one:
    a signature or timestamp that does not pass, a modification it detected, a new error or
    warning. Empty when DSS has nothing to say."""
    objections: list[str] = []
    if not report.signatures:
        objections.append("no signature found")
    for token in report.tokens():
        if token.indication not in ("TOTAL_PASSED", "PASSED"):
            objections.append(f"{token.id[:8]}: {token.indication}/{token.sub_indication}")
        if token.pdf is not None and token.pdf.modifications_detected:
            objections.append(f"{token.id[:8]}: modifications detected")
    added = {m.key for token in report.tokens() for m in (*token.errors, *token.warnings)} - {
        m.key for token in clean.tokens() for m in (*token.errors, *token.warnings)
    }
    objections.extend(sorted(added))
    return objections


@pytest.mark.dss
@pytest.mark.parametrize("name", sorted(CASES))
def test_ours_is_never_looser_than_eu_dss(
    stack_info: StackInfo,
    headers: dict[str, str],
    signed: dict[str, bytes],
    dss_validator: DssValidator,
    name: str,
) -> None:
    """Wherever EU DSS fails or flags a manipulated document, ours fails it too. (DSS misses the
    Incremental Saving Attack, so agreeing with DSS is the floor; the differences are in
    docs/signing.md.)"""
    case = CASES[name]
    manipulated = case.manipulate(signed)
    clean = dss_validator.validate(signed[case.base])
    try:
        objections = _dss_objects(dss_validator.validate(manipulated), clean)
    except DssRefusedDocument as refused:
        objections = [f"refused: {refused.message}"]
    ours = verify(stack_info, headers, manipulated)
    print(f"\n{name}: DSS {objections or 'no objection'}; ours {ours['indication']}")
    if objections:
        assert ours["indication"] != "TOTAL_PASSED", (case.attack_class, objections)


@pytest.mark.dss
@pytest.mark.parametrize(
    ("manipulate", "dss_indication"),
    [
        (attack.resign_over_ber_signed_attributes, "TOTAL_FAILED"),
        (attack.resign_without_signed_attributes, None),
    ],
    ids=["ber-signed-attributes", "no-signed-attributes"],
)
def test_malformed_signer_info_dss_and_ours(
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
    dss_validator: DssValidator,
    manipulate: Callable[[bytes, rsa.RSAPrivateKey], bytes],
    dss_indication: str | None,
) -> None:
    key, signer = software_signer
    document = manipulate(software_signed(signer), key)
    report = dss_validator.validate(document)
    print(f"\nDSS: {[(s.indication, s.sub_indication) for s in report.signatures]}")
    if dss_indication is not None:
        assert [s.indication for s in report.signatures] == [dss_indication]
    assert verify(stack_info, headers, document)["indication"] == "TOTAL_FAILED"


def _stamp() -> VisibleStamp:
    return VisibleStamp(
        signer="Sở GD&ĐT — Dấu cơ quan", unit="", verify_url="https://xacminh.example/v", seal=True
    )


def _signature_boxes(pdf: bytes) -> dict[str, tuple[float, ...]]:
    """Each signature field's widget rectangle on the page, by field name."""
    reader = PdfFileReader(BytesIO(pdf))
    return {
        str(name): tuple(float(v) for v in reference.get_object()["/Rect"])
        for name, _, reference in pyhanko_fields.enumerate_sig_fields(reader)
    }


def test_a_stamp_after_a_certification_fills_the_place_the_certification_left(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """The real workload of a transcript: certified by the homeroom teacher (DocMDP P=2), then
    stamped visibly by the principal. PDF permits no new visible signature after a certification
    (a new annotation could be laid over what was certified), so the certification leaves an empty,
    locked place for each later step of the policy, and the stamp fills it: both signatures pass,
    the stamps never overlap, and the last step's lock holds."""
    with seal_signer(stack, stack_info) as signer:
        certified = sign_with(
            signer,
            transcript_pdf(["HOC BA", "Diem Toan: 7"]),
            SignatureRequest(certify=True, stamp=_stamp(), later_locks=(FieldLock.DOCUMENT,)),
        )
    waiting = verify(stack_info, headers, certified)
    assert waiting["indication"] == "TOTAL_PASSED", waiting
    assert ("unsigned-signature-field", "Signature2") in {
        (w["code"], w["subject"]) for w in waiting["warnings"]
    }
    with seal_signer(stack, stack_info) as signer:
        stamped = sign_with(
            signer, certified, SignatureRequest(lock=FieldLock.DOCUMENT, stamp=_stamp())
        )
    report = verify(stack_info, headers, stamped)
    assert report["indication"] == "TOTAL_PASSED", report
    assert [(s["field_name"], s["indication"]) for s in report["signatures"]] == [
        ("Signature1", "TOTAL_PASSED"),
        ("Signature2", "TOTAL_PASSED"),
    ]
    assert not [w for w in report["warnings"] if w["code"] == "unsigned-signature-field"]
    assert len(annotation_texts(stamped)) == 2
    first, second = _signature_boxes(stamped).values()
    apart = first[2] <= second[0] or second[2] <= first[0] or first[3] <= second[1]
    assert apart or second[3] <= first[1], (first, second)  # never one over the other
    # The place carried its step's lock: nothing but validation data may follow.
    with seal_signer(stack, stack_info) as signer, pytest.raises(DocumentNotSignable):
        sign_with(signer, stamped, SignatureRequest())


def test_a_new_visible_signature_over_a_certification_is_refused_and_fails(
    stack: Stack,
    stack_info: StackInfo,
    headers: dict[str, str],
    software_signer: tuple[rsa.RSAPrivateKey, Any],
) -> None:
    """Attack: annotation overlay after certification — a new visible signature field, whose
    appearance may cover what was certified, added by another signer's software. The service
    refuses to make one (it would break the certification it verifies), and when someone else's
    software makes it, the certification fails."""
    with seal_signer(stack, stack_info) as signer:
        certified = sign_with(
            signer, transcript_pdf(["HOC BA", "Diem Toan: 7"]), SignatureRequest(certify=True)
        )
        with pytest.raises(DocumentNotSignable, match="no signature place left"):
            sign_with(signer, certified, SignatureRequest(stamp=_stamp()))
    writer = IncrementalPdfFileWriter(BytesIO(certified))
    overlaid = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(
            field_name="Diem", subfilter=pyhanko_fields.SigSeedSubFilter.PADES
        ),
        signer=software_signer[1],
        new_field_spec=pyhanko_fields.SigFieldSpec("Diem", on_page=0, box=(60, 600, 400, 700)),
    ).getvalue()
    report = verify(stack_info, headers, overlaid)
    assert report["indication"] == "TOTAL_FAILED", report
    assert report["signatures"][0]["subindication"] == "MODIFIED_AFTER_SIGNING", report


def test_a_place_that_does_not_lock_as_the_step_must_is_refused(
    stack: Stack, stack_info: StackInfo
) -> None:
    """Attack: a place left without a lock (by a certification made elsewhere, or an author's
    empty field) offered to a step that must lock the document: signing into it would leave the
    document open to changes the policy forbids, so the service refuses."""
    with seal_signer(stack, stack_info) as signer:
        certified = sign_with(
            signer,
            transcript_pdf(["HOC BA"]),
            SignatureRequest(certify=True, later_locks=(FieldLock.FIELDS,)),
        )
        with pytest.raises(DocumentNotSignable, match="one that locks as it must"):
            sign_with(signer, certified, SignatureRequest(lock=FieldLock.DOCUMENT, stamp=_stamp()))


def test_a_lock_behind_a_format_the_service_cannot_read_is_not_signed_over(
    stack: Stack, stack_info: StackInfo
) -> None:
    """Attack class: lock bypass through an unknown format. A signature that locks the document
    (its field's lock, DocMDP P=1) whose ``/SubFilter`` names a format the service does not know
    (a legacy one such as ``adbe.x509.rsa_sha1``; here the service's own, renamed): pyHanko skips
    such signatures, so until 2026-12-04 the lock check never saw it and the service signed over
    the lock. Now signing refuses, naming the signature; a certification is refused too (it must
    come first); the same lock in a known format is refused as before."""
    with seal_signer(stack, stack_info) as signer:
        locked = sign_with(
            signer, transcript_pdf(["HOC BA"]), SignatureRequest(lock=FieldLock.DOCUMENT)
        )
        with pytest.raises(DocumentNotSignable, match="locks the document"):
            sign_with(signer, locked, SignatureRequest())
        hidden = attack.subfilter_renamed(locked)
        with pytest.raises(DocumentNotSignable, match="format the service cannot check"):
            sign_with(signer, hidden, SignatureRequest())
        with pytest.raises(DocumentNotSignable, match="must be the document's first"):
            sign_with(signer, hidden, SignatureRequest(certify=True))


@pytest.mark.parametrize(
    "make",
    [
        lambda signed: attack.usf_unsigned(transcript_pdf(["HOC BA"])),
        lambda signed: attack.usf_signature_dictionary(signed, "byterange-removed"),
        lambda signed: attack.usf_signature_dictionary(signed, "contents-removed"),
    ],
    ids=["never-signed", "byterange-removed", "contents-removed"],
)
def test_a_signature_the_service_cannot_read_is_not_signed_over(
    stack_info: StackInfo, headers: dict[str, str], make: Callable[[bytes], bytes]
) -> None:
    """Attack class: lock bypass through an unreadable signature (USF shapes). A field holds a
    signature in a format the service knows but without what it takes to read it (no
    ``/ByteRange``, no ``/Contents``): what it locks cannot be known, so signing over it is
    refused with 422 naming the field, never a 500 and never a signature."""
    signed = _sign(stack_info, headers, transcript_pdf(["HOC BA"]), level="B-B")
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=make(signed),
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 422, response.text
    assert "cannot be read" in response.json()["detail"], response.text
    assert "Signature1" in response.json()["detail"], response.text


def test_each_step_fills_its_own_place_and_no_signature_locks_an_empty_one(
    stack: Stack, stack_info: StackInfo, headers: dict[str, str]
) -> None:
    """Three steps on a form: the first certifies and leaves two places (the second step's, which
    locks the fields, and the last's, which locks the document). The second signs invisibly: its
    lock names the form's fields but not the empty places (else filling one later would be a
    change to a field it locked). The last stamps visibly into the place made for a step that
    locks the document, not into the first place left."""
    form = attack.form_pdf({"diem_toan": "7"})
    with seal_signer(stack, stack_info) as signer:
        certified = sign_with(
            signer,
            form,
            SignatureRequest(
                certify=True, stamp=_stamp(), later_locks=(FieldLock.FIELDS, FieldLock.DOCUMENT)
            ),
        )
        second = sign_with(signer, certified, SignatureRequest(lock=FieldLock.FIELDS))
        last = sign_with(signer, second, SignatureRequest(lock=FieldLock.DOCUMENT, stamp=_stamp()))
    report = verify(stack_info, headers, last)
    assert report["indication"] == "TOTAL_PASSED", report
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED"] * 3, report
    filled = {s["field_name"] for s in report["signatures"]}
    assert "Signature3" in filled, filled  # the document-locking place, not the first one
    # The second step's own place stays empty, said as such.
    assert ("unsigned-signature-field", "Signature2") in {
        (w["code"], w["subject"]) for w in report["warnings"]
    }
