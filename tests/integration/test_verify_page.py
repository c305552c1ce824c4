"""The public verification page reached from a stamp's QR code: no login, Vietnamese verdicts,
strict headers, rate-limited, audited."""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import pytest

from devstack import StackInfo
from tests.audit_events import wait_for_events
from tests.conftest import TokenFactory
from tests.pdf_inspection import replace_page_text
from tests.public_page import check_on_public_page

pytestmark = [
    pytest.mark.keycloak,
    pytest.mark.redis,
    pytest.mark.softhsm,
    pytest.mark.pki,
    pytest.mark.usefixtures("public_page_budget"),
]


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
    with httpx.Client(base_url=info.signing_url, timeout=30) as browser:
        return check_on_public_page(browser, content, name=name)


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


def test_a_check_posted_from_another_site_is_refused(
    stack_info: StackInfo, stamped: httpx.Response
) -> None:
    """Attack (cross-site request forgery): another site's page posts a check from a visitor's
    browser: it has neither the form's cookie (SameSite=Strict) nor the matching token."""
    document = {"document": ("hoc-ba.pdf", stamped.content, "application/pdf")}
    no_token = httpx.post(f"{stack_info.signing_url}/verify", files=document, timeout=30)
    assert no_token.status_code == 403 and "tải lại trang" in no_token.text
    with httpx.Client(base_url=stack_info.signing_url, timeout=30) as browser:
        browser.get("/verify")  # a cookie of its own, but another token in the forged form
        guessed = browser.post("/verify", files=document, data={"csrf_token": "x" * 32})
        assert guessed.status_code == 403
        assert check_on_public_page(browser, stamped.content).status_code == 200


def test_not_a_pdf_gets_a_readable_error(stack_info: StackInfo) -> None:
    response = _check(stack_info, b"GIF89a...")
    assert response.status_code == 422
    assert "Không xác minh được" in response.text


def test_public_checks_are_rate_limited_and_a_made_up_forwarded_address_changes_nothing(
    stack_info: StackInfo, stamped: httpx.Response, client_token: TokenFactory
) -> None:
    """Attack: each request claims another client address in ``X-Forwarded-For`` (no proxy is
    trusted), to dodge the limit and to put a false address in the audit log."""
    forged = "203.0.113.77"
    with httpx.Client(base_url=stack_info.signing_url, timeout=30) as browser:
        checked = check_on_public_page(
            browser, stamped.content, headers={"X-Forwarded-For": forged}
        )
        assert checked.status_code == 200
        statuses = [
            check_on_public_page(
                browser, b"x", name="x.pdf", headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(40)
        ]
    # The budget is 30 in any 60 s (a sliding window, refused attempts counted): once refused,
    # every later attempt of the burst is refused too, whatever address it claims.
    first = statuses.index(429)
    assert first <= 30 and set(statuses[first:]) == {429}, statuses
    digest = hashlib.sha256(stamped.content).hexdigest()
    recorded = wait_for_events(
        stack_info,
        client_token("audit-reports"),
        timeout=20,
        where=lambda e: (
            e["target"].get("channel") == "public-page"
            and e["target"].get("document_sha256") == digest
        ),
        tag="signing:document:verify",
        limit="1000",
    )
    assert recorded and all(e["source_ip"] == "127.0.0.1" for e in recorded)
    assert forged not in json.dumps(recorded)


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
