"""The public verification page reached from a stamp's QR code: no login, Vietnamese verdicts,
strict headers, rate-limited, audited."""

from __future__ import annotations

import hashlib
import html
import json
import re

import httpx
import pytest

from devstack import Stack, StackInfo
from devstack.demo import transcript_pdf
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
        params={"level": "B-T", "visible": "true"},
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


def test_a_seal_without_a_document_type_keeps_the_documents_title(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """An app's seal without a document type is read once, where it is prepared: the record
    still holds the document's own title, as the pre-flight read it for typed documents."""
    title = "Giấy chứng nhận tốt nghiệp — Trần Thị Ánh"
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        params={"level": "B-B", "visible": "true"},
        content=transcript_pdf(["GIAY CHUNG NHAN", "Xep loai: Gioi"], title=title),
        headers={
            "Authorization": f"Bearer {client_token('demo-eoffice')}",
            "Content-Type": "application/pdf",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    page = httpx.get(
        f"{stack_info.signing_url}/verify",
        params={"ref": response.headers["x-document-reference"]},
        timeout=10,
    )
    assert page.status_code == 200
    assert html.escape(title) in page.text


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


def test_an_upload_under_a_reference_with_no_record_says_so(
    stack_info: StackInfo, stamped: httpx.Response
) -> None:
    """Attack class: a forged paper copy. Its QR code carries a reference no document has; the
    forger hands the parent some other, genuinely signed PDF of the department. The page showed
    only "valid signature"; it now says first that the QR code has no record."""
    made_up = "0123456789abcdef" * 2
    with httpx.Client(base_url=stack_info.signing_url, timeout=30) as browser:
        page = check_on_public_page(browser, stamped.content, reference=made_up)
    assert page.status_code == 200
    assert 'id="unknown-reference"' in page.text and "Mã QR này không có hồ sơ" in page.text
    assert 'id="same-document"' not in page.text
    genuine = stamped.headers["x-document-reference"]
    with httpx.Client(base_url=stack_info.signing_url, timeout=30) as browser:
        same = check_on_public_page(browser, stamped.content, reference=genuine)
    assert 'id="same-document"' in same.text and 'id="unknown-reference"' not in same.text


def test_an_address_over_its_budget_is_answered_before_its_upload_is_read(
    stack_info: StackInfo,
) -> None:
    """Attack class: resource exhaustion. An address over its budget still had each upload (up to
    50 MB) received and parsed before the refusal; it is now refused from the headers alone: the
    answer comes while the body has not been sent."""
    import socket
    from urllib.parse import urlsplit

    with httpx.Client(base_url=stack_info.signing_url, timeout=30) as browser:
        for _ in range(60):
            if check_on_public_page(browser, b"x", name="x.pdf").status_code == 429:
                break
        else:
            raise AssertionError("the budget was never spent")
        browser.get("/verify")
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    parts = urlsplit(stack_info.signing_url)
    declared = 40 * 1024 * 1024
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        raw.sendall(
            (
                f"POST /verify HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: {cookie}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {declared}\r\n\r\n--b\r\n"
            ).encode()
        )
        answer = raw.recv(4096)  # only the headers and the first bytes were sent
    assert answer.startswith(b"HTTP/1.1 429"), answer[:200]


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


def test_without_redis_the_page_says_the_service_is_unavailable(
    stack: Stack, stack_info: StackInfo, stamped: httpx.Response
) -> None:
    """Redis down (its record store and the budget's counter): a look-up answered a raw 500 JSON
    error, and an upload "too many requests", blaming the parent. Both now say, in a page, that
    the service is unavailable for a moment (still failing closed: nothing is checked)."""
    from fastapi.testclient import TestClient

    from devstack import Ports
    from signing_service import create_app
    from tests.signing_app import app_settings

    nowhere = f"redis://127.0.0.1:{Ports.free_block(1)}/0"
    settings = app_settings(stack, stack_info, redis_url=nowhere)
    reference = stamped.headers["x-document-reference"]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        looked_up = client.get("/verify", params={"ref": reference})
        assert looked_up.status_code == 503, looked_up.text[:300]
        assert "tạm thời gián đoạn" in looked_up.text and "<html" in looked_up.text
        form = client.get("/verify")
        assert form.status_code == 200
        client.cookies.set("verify_form", "t" * 32)
        uploaded = client.post(
            "/verify",
            files={"document": ("hoc-ba.pdf", stamped.content, "application/pdf")},
            data={"csrf_token": "t" * 32},
        )
        assert uploaded.status_code == 503 and "tạm thời gián đoạn" in uploaded.text
