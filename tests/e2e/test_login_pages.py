"""The pages people log in on, in Chromium as they see them: the department's theme at desktop and phone
width, Vietnamese first and English by choice, accessible (axe-core), looking as they were kept
(screenshots), and "forgot password" that really sends mail through the stack's SMTP server (STARTTLS,
AUTH) and lets the person choose a new password from the link in it.
"""

from __future__ import annotations

import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from keycloak import KeycloakAdmin
from playwright.sync_api import Browser, Page

from devstack import Stack, StackInfo
from devstack.mail_server import messages_to
from idp_config import admin_client
from tests.accessibility import serious_violations
from tests.keycloak_login import login
from tests.screenshots import assert_looks_like

pytestmark = [pytest.mark.keycloak]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def admin(stack: Stack, stack_info: StackInfo) -> KeycloakAdmin:
    client = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    client.change_current_realm("education")
    return client


@pytest.fixture
def person(admin: KeycloakAdmin) -> Iterator[tuple[str, str, str]]:
    """A fresh account with an e-mail address (username, e-mail, password), removed afterwards."""
    username = f"reset.{secrets.token_hex(4)}"
    address = f"{username}@thpt-mau.example.vn"
    password = f"Mk-{secrets.token_urlsafe(12)}"
    user_id = admin.create_user(
        {
            "username": username,
            "email": address,
            "emailVerified": True,
            "firstName": "Thị Hoa",
            "lastName": "Trần",
            "enabled": True,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
    )
    yield username, address, password
    admin.delete_user(user_id)


def _page(browser: Browser, viewport: dict[str, int], locale: str = "vi-VN") -> Page:
    context = browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    return context.new_page()


def _open_login(page: Page, info: StackInfo) -> None:
    page.goto(f"{info.keycloak_url}/realms/education/account")
    page.wait_for_selector("#kc-form-login")
    page.evaluate("document.fonts.ready")


def _mail_to(stack: Stack, address: str, *, count: int, timeout: float = 30.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = messages_to(stack.mail_folder, address)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.5)
    raise AssertionError(f"no mail #{count} for {address} in {timeout:.0f} s")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_login_page_is_the_departments_at_both_widths(
    browser: Browser, stack_info: StackInfo, name: str, viewport: dict[str, int]
) -> None:
    page = _page(browser, viewport)
    _open_login(page, stack_info)
    header = page.locator("#kc-header-wrapper").text_content() or ""
    assert "Sở Giáo dục và Đào tạo" in header
    assert "Đăng nhập một lần" in header
    emblem = page.evaluate(
        "getComputedStyle(document.querySelector('.edu-brand'), '::before').backgroundImage"
    )
    assert "emblem.svg" in emblem
    assert page.locator("#edu-help-desk").is_visible()
    assert "hotro.cntt@" in page.locator("#edu-help-desk").inner_text()
    # Each language in the picker has its name (it was an empty "Chọn..." once).
    labels = [o.strip() for o in page.locator("#login-select-toggle option").all_inner_texts()]
    assert labels and all(labels), labels
    assert {"Tiếng Việt", "English"} <= set(labels)
    # The Vietnamese letters are drawn in the theme's own typeface, not a fallback mid-word.
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Edu\"', 'Tên người dùng')")
    family = page.evaluate("getComputedStyle(document.querySelector('label')).fontFamily")
    assert family.startswith('"Noto Sans Edu"'), family
    # Nothing wider than the screen (a phone scrolls down, never sideways).
    overflow = page.evaluate("document.scrollingElement.scrollWidth")
    assert overflow <= viewport["width"], overflow
    assert serious_violations(page) == []
    assert_looks_like(page, f"login-{name}")


def test_english_is_a_choice_that_is_remembered(browser: Browser, stack_info: StackInfo) -> None:
    page = _page(browser, DESKTOP)
    _open_login(page, stack_info)
    assert page.locator("#kc-page-title").inner_text().strip() == "Đăng nhập"
    page.select_option("#login-select-toggle", label="English")
    page.wait_for_selector("text=Trouble signing in?")
    assert page.locator("#kc-page-title").inner_text().strip() == "Sign in"
    assert page.locator("html").get_attribute("lang") == "en"
    _open_login(page, stack_info)  # a new login, same browser: still English
    assert page.locator("#kc-page-title").inner_text().strip() == "Sign in"
    page.select_option("#login-select-toggle", label="Tiếng Việt")
    page.wait_for_selector("text=Cần hỗ trợ đăng nhập?")
    assert page.locator("html").get_attribute("lang") == "vi"


def test_forgot_password_sends_mail_whose_link_sets_a_new_password(
    browser: Browser, stack: Stack, stack_info: StackInfo, person: tuple[str, str, str]
) -> None:
    username, address, old_password = person
    page = _page(browser, PHONE)
    _open_login(page, stack_info)
    page.get_by_role("link", name="Quên mật khẩu?").click()
    page.wait_for_selector("#kc-reset-password-form")
    assert serious_violations(page) == []
    page.fill("#username", username)
    page.locator("#kc-reset-password-form [type=submit]").click()
    page.wait_for_selector("#kc-form-login")
    assert "email" in page.locator(".pf-v5-c-alert").inner_text().lower()

    mail = _mail_to(stack, address, count=1)
    assert mail["Subject"] == "[Sở GD&ĐT] Đặt lại mật khẩu tài khoản đăng nhập một lần"
    assert "khong-tra-loi@sogddt.example.vn" in mail["From"]
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    links = re.findall(r"https?://\S+/login-actions/action-token\?key=\S+", text)
    assert len(links) == 1, text
    assert links[0].startswith(f"{stack_info.keycloak_url}/realms/education/")

    new_password = f"Moi-{secrets.token_urlsafe(12)}"
    page.goto(links[0])
    page.wait_for_selector("#password-new")
    assert serious_violations(page) == []
    page.fill("#password-new", new_password)
    page.fill("#password-confirm", new_password)
    page.locator("#kc-passwd-update-form [type=submit]").click()
    page.wait_for_url(re.compile(r".*/realms/education/account.*"))

    account = f"{stack_info.keycloak_url}/realms/education/account/"
    tokens = login(
        stack_info.issuer,
        client_id="account-console",
        client_secret=None,
        redirect_uri=account,
        username=username,
        password=new_password,
    )
    assert tokens["access_token"]
    with pytest.raises(AssertionError, match=r"login of .* failed"):
        login(
            stack_info.issuer,
            client_id="account-console",
            client_secret=None,
            redirect_uri=account,
            username=username,
            password=old_password,
        )
    # The link is good once: a second use does not reach the password form.
    page.goto(links[0])
    page.wait_for_load_state()
    assert page.locator("#password-new").count() == 0


def test_the_mail_server_takes_no_password_and_no_mail_in_clear(stack: Stack) -> None:
    """Attack class: credential sniffing on the relay's link — no AUTH before STARTTLS, no mail
    without AUTH, and a wrong password refused after it."""
    port = stack.ports.mail
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as plain:
        plain.ehlo()
        with pytest.raises(smtplib.SMTPException):
            plain.login("keycloak", stack.mail_password)
        code, _ = plain.mail("x@example.vn")
        assert code >= 500
    context = ssl.create_default_context(cafile=str(stack.pki.trust_store / "root-ca.pem"))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as relay:
        relay.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            relay.login("keycloak", "not-the-password")
        code, _ = relay.mail("x@example.vn")
        assert code >= 500


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_account_console_is_the_departments_and_in_vietnamese(
    browser: Browser,
    stack_info: StackInfo,
    person: tuple[str, str, str],
    name: str,
    viewport: dict[str, int],
) -> None:
    username, _, password = person
    page = _page(browser, viewport)
    _open_login(page, stack_info)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#kc-login")
    page.wait_for_url(re.compile(r".*/realms/education/account/?(#.*)?$"))
    page.wait_for_selector("img[src*='emblem.svg']", timeout=60_000)
    page.wait_for_selector("text=Thông tin cá nhân", timeout=60_000)
    page.wait_for_selector("input[name=username], #username", timeout=60_000)
    page.evaluate("document.fonts.ready")
    assert page.title() == "Tài khoản — Sở GD&ĐT"
    logo = page.locator("img[src*='emblem.svg']")
    assert logo.count() >= 1
    text = page.locator("body").inner_text()
    for english in ("Personal info", "Account security", "Applications", "Clients", "Sign out"):
        assert english not in text, english
    assert "Thông tin cá nhân" in text
    assert serious_violations(page) == []
    # The language picker offers each language by its own name.
    page.get_by_text("Chọn...", exact=True).first.click()
    options = page.get_by_role("option").all_inner_texts()
    assert {"Tiếng Việt", "English"} <= {o.strip() for o in options}, options
    page.keyboard.press("Escape")
    overflow = page.evaluate("document.scrollingElement.scrollWidth")
    assert overflow <= viewport["width"], overflow
    assert_looks_like(
        page,
        f"account-{name}",
        mask=[page.locator("input"), page.locator("[data-testid=options-toggle]")],
    )
