"""A person's login through Keycloak's own login page, without a browser (authorization code + PKCE).

It fills in the real login form Keycloak serves, as a browser would, and exchanges the code for tokens.
Tests use it where a browser would add nothing; the browser tests log in through Chromium itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests import second_factor

_FORM_ACTION = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
_FORM_TAG = re.compile(r"<form\b[^>]*>", re.S)
_ACTION = re.compile(r'\baction="([^"]+)"')
_OTP_SECRET = re.compile(r'<input[^>]*name="totpSecret"[^>]*value="([^"]*)"', re.S)


def login(
    issuer: str,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str = "openid",
    acr_values: str | None = None,
) -> dict[str, Any]:
    """Log ``username`` in; with ``acr_values="2"`` (a step-up), answer Keycloak's second factor too:
    set up the authenticator the first time, else type a fresh one-time code
    (:mod:`tests.second_factor` keeps the secret for the session)."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    extra = {"acr_values": acr_values} if acr_values else {}
    with httpx.Client(timeout=15, follow_redirects=False) as browser:
        answer = _submit_login_form(
            browser,
            issuer,
            client_id,
            redirect_uri,
            scope,
            state,
            verifier,
            username,
            password,
            extra,
        )
        if acr_values:
            answer = _second_factor(browser, answer, username, redirect_uri)
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location.startswith(redirect_uri):
            raise AssertionError(f"login of {username} failed: HTTP {answer.status_code}")
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [state]
        return _exchange(
            browser, issuer, query["code"][0], redirect_uri, client_id, client_secret, verifier
        )


def _exchange(
    browser: httpx.Client,
    issuer: str,
    code: str,
    redirect_uri: str,
    client_id: str,
    client_secret: str | None,
    verifier: str,
) -> dict[str, Any]:
    """The tokens for an authorization code (with the PKCE verifier)."""
    token = browser.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
            **({"client_secret": client_secret} if client_secret else {}),
        },
    )
    token.raise_for_status()
    result: dict[str, Any] = token.json()
    return result


def _submit_login_form(
    browser: httpx.Client,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    verifier: str,
    username: str,
    password: str,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    """Open the realm's login page for ``client_id`` (PKCE S256) and post the form, as a browser."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    page = browser.get(
        f"{issuer}/protocol/openid-connect/auth",
        params={
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            **(extra or {}),
        },
    )
    page.raise_for_status()
    match = _FORM_ACTION.search(page.text)
    if match is None:
        raise AssertionError(f"no login form for {client_id}: {page.text[:300]}")
    # Keycloak marks its session cookies Secure even on http://localhost, where a browser
    # still sends them; Python's cookie jar would not, so they are carried by hand.
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
    return browser.post(
        html.unescape(match.group(1)),
        data={"username": username, "password": password, "credentialId": ""},
        headers={"cookie": cookies},
    )


def _form_action(page: str, form_id: str) -> str | None:
    """The address the form ``form_id`` posts to (its attributes come in any order)."""
    for tag in _FORM_TAG.findall(page):
        if f'id="{form_id}"' in tag and (action := _ACTION.search(tag)) is not None:
            return html.unescape(action.group(1))
    return None


def _second_factor(
    browser: httpx.Client, answer: httpx.Response, username: str, redirect_uri: str
) -> httpx.Response:
    """Answer the one-time-code page Keycloak shows after the password (or its set-up page, a
    required action it redirects to); return the redirect to the client."""
    for _ in range(6):
        cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
        location = answer.headers.get("location", "")
        if answer.is_redirect and location.startswith(redirect_uri):
            return answer
        if answer.is_redirect:
            answer = browser.get(str(answer.url.join(location)), headers={"cookie": cookies})
        elif (action := _form_action(answer.text, "kc-otp-login-form")) is not None:
            answer = browser.post(
                action,
                data={"otp": second_factor.code(username)},
                headers={"cookie": cookies},
            )
        elif (action := _form_action(answer.text, "kc-totp-settings-form")) is not None:
            raw = _OTP_SECRET.search(answer.text)
            if raw is None:
                raise AssertionError("Keycloak's authenticator set-up page shows no secret")
            second_factor.enrol_raw(username, html.unescape(raw.group(1)))
            answer = browser.post(
                action,
                data={
                    "totpSecret": html.unescape(raw.group(1)),
                    "totp": second_factor.code(username),
                    "userLabel": "test phone",
                    "mode": "manual",
                },
                headers={"cookie": cookies},
            )
        else:
            break
    raise AssertionError(f"no second-factor page for {username}: HTTP {answer.status_code}")


def fail_login(issuer: str, username: str, password: str = "not-the-password") -> str:  # noqa: S107
    """One wrong password typed into the realm's login page (of its account console), as a person
    or an attacker would: Keycloak's failure counts and events follow. Returns the error page."""
    with httpx.Client(timeout=15, follow_redirects=False) as browser:
        answer = _submit_login_form(
            browser,
            issuer,
            "account-console",
            f"{issuer}/account/",
            "openid",
            secrets.token_urlsafe(16),
            secrets.token_urlsafe(48),
            username,
            password,
        )
        if answer.status_code != 200:
            raise AssertionError(f"a wrong password for {username} was not refused")
        return answer.text


class BrokerLoginRefused(AssertionError):
    """The broker answered with a page (an error) instead of sending the person to the client."""

    def __init__(self, status: int, page: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.page = page


def _cookie_header(jar: httpx.Cookies, url: str) -> str:
    # Keycloak's cookies are Secure (not sent by httpx over http://localhost) and scoped to their
    # realm's path: both realms name theirs AUTH_SESSION_ID, so only the matching path's are sent.
    path = urlsplit(url).path
    return "; ".join(
        f"{c.name}={c.value}" for c in jar.jar if path.startswith(c.path.rstrip("/") or "/")
    )


def broker_login(
    issuer: str,
    *,
    provider: str,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    username: str,
    password: str,
) -> dict[str, Any]:
    """Log in to ``client_id`` through the external identity provider ``provider`` (``kc_idp_hint``):
    follow the redirects to the provider's login form, fill it in, follow back through the broker;
    return the client's tokens, or raise :class:`BrokerLoginRefused` with the page shown instead."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    with httpx.Client(timeout=20, follow_redirects=False) as browser:
        url = str(
            httpx.URL(
                f"{issuer}/protocol/openid-connect/auth",
                params={
                    "client_id": client_id,
                    "response_type": "code",
                    "redirect_uri": redirect_uri,
                    "scope": "openid",
                    "state": secrets.token_urlsafe(16),
                    "code_challenge": challenge.decode(),
                    "code_challenge_method": "S256",
                    "kc_idp_hint": provider,
                },
            )
        )
        method, data, posted = "GET", None, False
        for _ in range(20):
            answer = browser.request(
                method, url, data=data, headers={"cookie": _cookie_header(browser.cookies, url)}
            )
            method, data = "GET", None
            location = answer.headers.get("location")
            if answer.is_redirect and location:
                if location.startswith(redirect_uri):
                    code = parse_qs(urlsplit(location).query)["code"][0]
                    break
                url = str(httpx.URL(url).join(location))
                continue
            form = _FORM_ACTION.search(answer.text)
            if answer.status_code == 200 and form is not None and not posted:
                url, method, posted = html.unescape(form.group(1)), "POST", True
                data = {"username": username, "password": password, "credentialId": ""}
                continue
            raise BrokerLoginRefused(answer.status_code, answer.text)
        else:
            raise AssertionError("too many redirects")
        return _exchange(browser, issuer, code, redirect_uri, client_id, client_secret, verifier)
