"""The principal signs a transcript remotely and approves it on a phone, in a real browser.

Headless Chromium (Debian's ``chromium``) with a phone-sized screen and Chromium's virtual WebAuthn
authenticator (user verification on, as a phone's fingerprint reader): the principal logs in
through Keycloak's login page, pairs the "phone" on the pairing page, then pyHanko's CSC client
signs a PDF through ``/csc/v2`` while the approval page is opened from the notification and the
principal taps "Phê duyệt". The signed PDF verifies as ``TOTAL_PASSED`` with the principal's name.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page

from devstack import Stack, StackInfo
from tests.accessibility import serious_violations
from tests.conftest import AlertInbox, TokenFactory
from tests.remote_signing import approvals_seen, bearer, csc_sign_pdf, enrol, next_approval
from tests.second_factor import answer_in_browser

pytestmark = [pytest.mark.keycloak, pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]

PRINCIPAL = "demo.hieutruong"
REDIRECT = "http://localhost:8765/callback"


def _phone(browser: Browser) -> Page:
    context = browser.new_context(
        viewport={"width": 412, "height": 915}, is_mobile=True, has_touch=True, locale="vi-VN"
    )
    return context.new_page()


def _browser_login(page: Page, stack: Stack, issuer: str) -> str:
    """Log in on Keycloak's page; return the access token the app gets for the code."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    codes: list[str] = []

    def capture(route: Any) -> None:
        codes.extend(parse_qs(urlsplit(route.request.url).query).get("code", []))
        route.fulfill(status=200, body="ok")

    page.route(f"{REDIRECT}**", capture)
    page.goto(
        f"{issuer}/protocol/openid-connect/auth?"
        + urlencode(
            {
                "client_id": "demo-sign-app",
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid service credential",
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
                # A phone is paired after a login with the second factor (RFC 9470 step-up).
                "acr_values": "2",
            }
        )
    )
    page.fill("#username", PRINCIPAL)
    page.fill("#password", stack.user_password(PRINCIPAL))
    page.click("#kc-login")
    answer_in_browser(page, PRINCIPAL)
    page.wait_for_url(f"{REDIRECT}**")
    assert codes, "Keycloak did not redirect with a code"
    token = httpx.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": codes[0],
            "redirect_uri": REDIRECT,
            "client_id": "demo-sign-app",
            "client_secret": stack.client_secret("demo-sign-app"),
            "code_verifier": verifier,
        },
        timeout=10,
    )
    token.raise_for_status()
    access: str = token.json()["access_token"]
    return access


def test_principal_pairs_a_phone_and_approves_a_remote_signature(
    browser: Browser,
    stack: Stack,
    stack_info: StackInfo,
    approval_inbox: AlertInbox,
    client_token: TokenFactory,
    demo_pdf: bytes,
) -> None:
    base = stack_info.signing_url
    page = _phone(browser)
    token = _browser_login(page, stack, stack_info.issuer)
    credential = enrol(base, token)

    # The phone's authenticator: a platform passkey with user verification (fingerprint/PIN).
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]

    before = httpx.get(f"{base}/v1/devices", headers=bearer(token), timeout=10).json()["devices"]
    pairing = httpx.post(f"{base}/v1/devices:pair", headers=bearer(token), timeout=10).json()
    page.goto(pairing["pairing_url"])
    assert "Nguyễn Văn Hùng" in page.inner_text("main")
    assert serious_violations(page) == []  # the pairing page too
    page.click("#pair")
    page.wait_for_selector("#status:has-text('Đã ghép thiết bị')")
    devices = httpx.get(f"{base}/v1/devices", headers=bearer(token), timeout=10).json()
    # One more device than before (another test of the session may have paired one already).
    assert len(devices["devices"]) == len(before) + 1

    seen = approvals_seen(approval_inbox)
    result: dict[str, bytes] = {}
    signing = threading.Thread(
        target=lambda: result.update(
            pdf=csc_sign_pdf(base, token, credential["credential_id"], demo_pdf)
        ),
        daemon=True,
    )
    signing.start()
    announcement = next_approval(approval_inbox, seen)
    page.goto(announcement["url"])
    shown = page.inner_text("main")
    assert "Nguyễn Văn Hùng" in shown and "demo-sign-app" in shown
    assert announcement["fingerprint"] in shown
    assert serious_violations(page) == []  # the approval page, as a screen reader meets it
    page.click("#approve")
    page.wait_for_selector("#status:has-text('Đã phê duyệt')")
    signing.join(timeout=60)
    assert "pdf" in result, "the CSC client got no signature"

    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert credentials["credentials"][0]["signCount"] >= 1

    report = httpx.post(
        f"{base}/v1/documents:verify",
        content=result["pdf"],
        headers={
            **bearer(client_token("demo-verify-portal")),
            "content-type": "application/pdf",
        },
        timeout=60,
    ).json()
    assert report["indication"] == "TOTAL_PASSED", report
    assert "Nguyễn Văn Hùng" in report["signatures"][0]["signer"]

    # The page of a decided request says so, rather than offering to approve again.
    page.goto(announcement["url"])
    assert page.locator("#approve").count() == 0
