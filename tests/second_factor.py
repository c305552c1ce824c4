"""The test people's second factor (TOTP, RFC 6238 with Keycloak's default policy: HMAC-SHA1, 6 digits,
30 s), shared by every test of a session: a person enrols once, in whichever test first steps up
(through the browser or through :func:`tests.keycloak_login.login`), and later tests answer with codes
of the same secret. Keycloak accepts a code once, so a login in the time step of the last one waits
for the next step (at most 30 s)."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

import pyotp

if TYPE_CHECKING:
    from playwright.sync_api import Page

_PERIOD = 30
_SECRETS: dict[str, str] = {}
_LAST_STEP: dict[str, int] = {}


def enrol(username: str, secret_base32: str) -> None:
    """Keep the secret Keycloak showed ``username`` on its authenticator set-up page (Base32)."""
    _SECRETS[username] = secret_base32.replace(" ", "").upper()
    _LAST_STEP.pop(username, None)


def enrol_raw(username: str, raw_secret: str) -> None:
    """Keep the secret as Keycloak's set-up form posts it (raw): authenticator apps read it as the
    Base32 of those bytes."""
    enrol(username, base64.b32encode(raw_secret.encode("utf-8")).decode("ascii").rstrip("="))


def enrolled(username: str) -> bool:
    return username in _SECRETS


def code(username: str) -> str:
    """A one-time code of ``username``'s secret that Keycloak has not seen yet."""
    step = int(time.time() // _PERIOD)
    if _LAST_STEP.get(username, -1) >= step:
        step = _LAST_STEP[username] + 1
        time.sleep(max(step * _PERIOD - time.time() + 0.05, 0))
    _LAST_STEP[username] = step
    return str(pyotp.TOTP(_SECRETS[username], interval=_PERIOD).at(step * _PERIOD))


def answer_in_browser(page: Page, username: str) -> None:
    """Answer Keycloak's step-up in a browser page: set up the authenticator the first time (its
    secret typed in by hand, as a person would from the page), else enter a fresh code."""
    # Only the step-up's own fields: the password page that was just submitted has a title and a
    # <main> too, and a wait that matched those returned before Keycloak's answer arrived (CI, stop 29).
    page.wait_for_selector("#mode-manual, #otp", timeout=30_000)
    if page.locator("#mode-manual").count():
        page.click("#mode-manual")
        enrol(username, page.inner_text("#kc-totp-secret-key"))
        page.fill("#totp", code(username))
        page.fill("#userLabel", "Điện thoại thử nghiệm")
        page.click("#saveTOTPBtn")
    else:
        page.fill("#otp", code(username))
        page.click("#kc-login")
