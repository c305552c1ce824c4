"""The public verification page reached from a stamp's QR code: no login, Vietnamese verdicts,
strict headers, rate-limited, audited."""

from __future__ import annotations

import re

import httpx
import pytest

from devstack import StackInfo
from tests.conftest import TokenFactory
from tests.pdf_inspection import replace_page_text

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm, pytest.mark.pki]


@pytest.fixture(scope="module")
def stamped(stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes) -> httpx.Response:
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        params={"level": "B-T", "visible": "true", "unit": "Trường THPT Nguyễn Du"},
        content=demo_pdf,
        headers={
            "Authorization": f"Bearer {client_token('demo-eoffice')}",
            "Content-Type": "application/pdf",
        },
        timeout=30,
    )
    assert response.status_code == 200
    return response


def _check(info: StackInfo, content: bytes, name: str = "hoc-ba.pdf") -> httpx.Response:
    return httpx.post(
        f"{info.signing_url}/verify",
        files={"document": (name, content, "application/pdf")},
        timeout=30,
    )


def test_qr_link_opens_the_form_for_that_document(
    stack_info: StackInfo, stamped: httpx.Response
) -> None:
    reference = stamped.headers["x-document-reference"]
    page = httpx.get(f"{stack_info.signing_url}/verify", params={"ref": reference}, timeout=10)
    assert page.status_code == 200
    assert "Xác minh tài liệu ký số" in page.text
    assert reference in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", csp)


def test_hostile_reference_is_not_reflected(stack_info: StackInfo) -> None:
    page = httpx.get(
        f"{stack_info.signing_url}/verify", params={"ref": "<script>alert(1)</script>"}, timeout=10
    )
    assert page.status_code == 200
    assert "<script>" not in page.text


def test_signed_document_is_reported_valid_and_a_changed_one_invalid(
    stack_info: StackInfo, stamped: httpx.Response
) -> None:
    valid = _check(stack_info, stamped.content)
    assert valid.status_code == 200
    assert "Chữ ký hợp lệ" in valid.text
    assert "Sở GD&amp;ĐT" in valid.text  # the signer, escaped

    changed = _check(stack_info, replace_page_text(stamped.content, b"10A1", b"10A9"))
    assert "Chữ ký KHÔNG hợp lệ" in changed.text


def test_not_a_pdf_gets_a_readable_error(stack_info: StackInfo) -> None:
    response = _check(stack_info, b"GIF89a...")
    assert response.status_code == 422
    assert "Không xác minh được" in response.text


def test_public_checks_are_rate_limited(stack_info: StackInfo) -> None:
    # The budget is 30 a minute; 62 quick requests exceed it even if they straddle two minutes.
    statuses = [_check(stack_info, b"x").status_code for _ in range(62)]
    assert 429 in statuses


@pytest.mark.parametrize(
    "link", ["/approve/%3Cscript%3E", "/approve/pair/abc", "/approve/" + "x" * 90]
)
def test_a_malformed_approval_link_shows_a_vietnamese_page(
    stack_info: StackInfo, link: str
) -> None:
    """A person who opens a broken link from a notification reads a page, not raw JSON."""
    page = httpx.get(f"{stack_info.signing_url}{link}", timeout=10)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count("<script>") == 1  # the page's own WebAuthn script, nothing reflected
    assert "Không" in page.text or "không" in page.text, page.text
