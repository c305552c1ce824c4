"""A parent holding a printed transcript checks it on a phone, in a real browser.

Headless Chromium at 390 px (a phone): the QR code's reference alone shows the record of the signed
document (title, type, the seal named as the organisation's seal, local time with its zone, level,
SHA-256, status), and an uploaded PDF is said to be that document or not. Attack class: substitution
under a QR code — a different validly signed PDF, the same transcript changed after signing, or bytes
appended to it, uploaded under one reference, must each be told apart from the document of that
reference (all made in this run).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page

from devstack import StackInfo
from devstack.demo import transcript_pdf
from tests.accessibility import serious_violations
from tests.conftest import TokenFactory
from tests.pdf_inspection import replace_page_text
from tests.screenshots import assert_looks_like

pytestmark = [
    pytest.mark.keycloak,
    pytest.mark.softhsm,
    pytest.mark.pki,
    pytest.mark.redis,
    pytest.mark.usefixtures("public_page_budget"),
]

PHONE_WIDTH = 390
TITLE = "Học bạ lớp 10A1 — học kỳ I"


def _sign(info: StackInfo, token: str, pdf: bytes, **params: str) -> httpx.Response:
    response = httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        params=params,
        content=pdf,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response


@pytest.fixture(scope="module")
def signed(stack_info: StackInfo, client_token: TokenFactory) -> httpx.Response:
    pdf = transcript_pdf(["HOC BA - Lop 10A1", "Toan: 8.5"], title=TITLE)
    return _sign(
        stack_info,
        client_token("demo-eoffice"),
        pdf,
        level="B-T",
        visible="true",
        document_type="thong-bao",
    )


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": 844}, is_mobile=True, locale="vi-VN"
    )
    yield context.new_page()
    context.close()


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page is {width} px wide on a {PHONE_WIDTH} px phone"


def _upload(page: Page, content: bytes) -> None:
    page.set_input_files(
        "input[name=document]",
        files=FilePayload(name="hoc-ba.pdf", mimeType="application/pdf", buffer=content),
    )
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_the_qr_code_alone_shows_what_was_signed(
    stack_info: StackInfo, signed: httpx.Response, phone: Page
) -> None:
    reference = signed.headers["x-document-reference"]
    phone.goto(f"{stack_info.signing_url}/verify?ref={reference}")
    record = phone.inner_text("#record")
    assert TITLE in record
    assert "Sở GD&ĐT" in record and "(dấu cơ quan)" in record
    assert "Đơn vị" not in record  # an application's seal names no unit of its own
    assert "Thông báo, văn bản thường" in record
    assert "(UTC+07:00)" in record and "PAdES B-T" in record
    assert signed.headers["x-document-sha256"] in record
    assert "Còn hiệu lực" in phone.inner_text("#record-status")
    assert "Common Name" not in phone.content()
    _fits(phone)
    assert serious_violations(phone) == []


def test_the_right_pdf_is_said_to_be_that_document(
    stack_info: StackInfo, signed: httpx.Response, phone: Page
) -> None:
    phone.goto(f"{stack_info.signing_url}/verify?ref={signed.headers['x-document-reference']}")
    _upload(phone, signed.content)
    assert phone.is_visible("#same-document")
    assert "Chữ ký hợp lệ" in phone.content()
    # The signer by name, not a distinguished name.
    assert "Sở GD&ĐT — Dấu cơ quan" in phone.inner_text("table")
    assert "Common Name" not in phone.content()
    _fits(phone)
    assert serious_violations(phone) == []


def test_substitutes_under_the_reference_are_told_apart(
    stack_info: StackInfo, client_token: TokenFactory, signed: httpx.Response, phone: Page
) -> None:
    other = _sign(
        stack_info, client_token("demo-eoffice"), transcript_pdf(["HOC BA - Lop 10A9"]), level="B-T"
    ).content
    substitutes = {
        "another validly signed PDF": (other, "Chữ ký hợp lệ"),
        "the document changed after signing": (
            replace_page_text(signed.content, b"8.5", b"9.5"),
            "KHÔNG hợp lệ",
        ),
        "bytes appended after the signed document": (signed.content + b"\n% appended\n", None),
    }
    for name, (content, verdict) in substitutes.items():
        phone.goto(f"{stack_info.signing_url}/verify?ref={signed.headers['x-document-reference']}")
        _upload(phone, content)
        assert phone.is_visible("#other-document"), name
        assert not phone.is_visible("#same-document"), name
        if verdict is not None:
            assert verdict in phone.content(), name
        _fits(phone)


def test_an_unsigned_pdf_is_said_to_be_unsigned(stack_info: StackInfo, phone: Page) -> None:
    phone.goto(f"{stack_info.signing_url}/verify")
    _upload(phone, transcript_pdf(["Ban sao chua ky"]))
    text = phone.inner_text("body")
    assert "Tài liệu không có chữ ký số" in text
    assert "chứng thư" not in text and "certificate" not in text
    _fits(phone)


def test_an_unknown_reference_says_there_is_no_record(stack_info: StackInfo, phone: Page) -> None:
    phone.goto(f"{stack_info.signing_url}/verify?ref={'0' * 32}")
    assert phone.is_visible("#no-record")
    _fits(phone)


def test_a_later_signature_supersedes_the_record(
    stack_info: StackInfo, client_token: TokenFactory, phone: Page
) -> None:
    token = client_token("demo-eoffice")
    first = _sign(stack_info, token, transcript_pdf(["GIAY XAC NHAN"]), level="B-B")
    second = _sign(stack_info, token, first.content, level="B-B")
    phone.goto(f"{stack_info.signing_url}/verify?ref={first.headers['x-document-reference']}")
    assert "Đã có bản ký tiếp theo" in phone.inner_text("#record-status")
    phone.goto(f"{stack_info.signing_url}/verify?ref={second.headers['x-document-reference']}")
    assert "Còn hiệu lực" in phone.inner_text("#record-status")


@pytest.mark.parametrize(("name", "width"), [("desktop", 1280), ("phone", PHONE_WIDTH)])
def test_the_public_verification_page_is_accessible_and_looks_as_kept(
    browser: Browser, stack_info: StackInfo, name: str, width: int
) -> None:
    """The page a parent opens to check a paper: no serious axe-core violation, nothing wider
    than the screen, and it looks as kept (a broken layout fails here)."""
    context = browser.new_context(viewport={"width": width, "height": 844}, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{stack_info.signing_url}/verify")
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert_looks_like(page, f"verify-{name}")
    context.close()


def test_the_public_page_speaks_english_by_choice_and_remembers(
    stack_info: StackInfo, signed: httpx.Response, phone: Page
) -> None:
    phone.goto(f"{stack_info.signing_url}/verify?ref={signed.headers['x-document-reference']}")
    assert phone.locator("html").get_attribute("lang") == "vi"
    assert "Hồ sơ tài liệu đã ký" in phone.inner_text("#record")
    assert "Record of" not in phone.content()  # one language, not both
    phone.click("#language")
    phone.wait_for_selector("h1:text('Verify a digitally signed document')")
    assert phone.locator("html").get_attribute("lang") == "en"
    assert "Record of the signed document" in phone.inner_text("#record")
    assert "Current" in phone.inner_text("#record-status")
    _upload(phone, signed.content)  # the verdict too, in the chosen language
    assert "Valid signature" in phone.inner_text("body")
    assert "Chữ ký hợp lệ" not in phone.content()
    phone.click("#language")
    phone.wait_for_selector("text=Xác minh tài liệu ký số")
    assert phone.locator("html").get_attribute("lang") == "vi"
