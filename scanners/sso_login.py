"""A scanning account's login through the SSO, for the dynamic scan of pages behind it (the dashboard).

The scanner logs in as a person would: the service sends it to Keycloak's login page, it types the
account's password, then the one-time code of its second factor (TOTP, RFC 6238, computed with
``pyotp`` from the secret only the scanner holds), and follows the redirects back to the service,
whose session cookie it hands to the DAST engine. Nothing is made with the service's own keys: the
session is exactly what the service gives a person who logged in, through the realm's real flow.

The account is an ordinary one with the role the pages need (least privilege: give it a small unit).
Its second factor is enrolled the first time it logs in, as a person enrols a phone: Keycloak shows
its "set up the authenticator" page, the scanner keeps the secret in its secret file (mode 0600, with
the last code used, because Keycloak accepts a code only once) and answers with a code. The file is
the scanner's to keep, like a phone; losing it means an administrator resets the account's OTP.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import json
import os
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx
import pyotp
import structlog

from scanners.errors import ScannerError

_log = structlog.get_logger(__name__)

_TOTP_PERIOD = 30  # Keycloak's default OTP policy: HMAC-SHA1, 6 digits, 30 s
_MAX_STEPS = 20


class SsoLoginFailed(ScannerError):
    """The scanning account could not log in: the scan of the pages behind the login is not run."""

    code: ClassVar[str] = "scan-sso-login-failed"
    status_code: ClassVar[int] = 502
    message_vi: ClassVar[str] = "Tài khoản quét không đăng nhập được qua SSO."
    message_en: ClassVar[str] = "The scanning account could not log in through the SSO."


@dataclass(frozen=True)
class ScanAccount:
    """Who the scanner logs in as: user name, password and the file of its second factor."""

    username: str
    password: str = field(repr=False)
    totp_file: Path
    #: Keycloak's address (``keycloak_url``): the only site the password and codes are sent to.
    identity_provider: str

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise SsoLoginFailed("the scanning account needs a user name and a password")
        if not urlsplit(self.identity_provider).hostname:
            raise SsoLoginFailed("the scanning account needs the identity provider's address")


# -- forms -------------------------------------------------------------------------------------------


@dataclass
class _Form:
    id: str
    action: str
    inputs: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The forms of a page, with their inputs' names and values (what a browser would post)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(values.get("id", ""), html.unescape(values.get("action", ""))))
        elif tag == "input" and self.forms and values.get("name"):
            if values.get("type") == "submit":
                return  # buttons are not sent unless pressed (Keycloak's "cancel" is one)
            self.forms[-1].inputs[values["name"]] = values.get("value", "")


def _form(page: str, form_id: str) -> _Form | None:
    parser = _Forms()
    parser.feed(page)
    return next((f for f in parser.forms if f.id == form_id), None)


# -- the second factor ---------------------------------------------------------------------------------


class _SecondFactor:
    """The scanner's TOTP secret and the last time step it used, in its 0600 file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SsoLoginFailed(
                f"the second factor's file cannot be read ({type(exc).__name__})"
            ) from exc
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        tmp.replace(self.path)

    def enrol(self, raw_secret: str) -> None:
        """Keep the secret Keycloak offered (its form posts it raw; authenticator apps read it as
        Base32 of those bytes, which is what is kept)."""
        secret = base64.b32encode(raw_secret.encode("utf-8")).decode("ascii").rstrip("=")
        self._write({"secret": secret, "last_step": None})

    def code(self) -> str:
        """A code not used before: Keycloak refuses a code used once, so after a login in the same
        time step this waits for the next one (at most 30 s)."""
        data = self._read()
        secret = data.get("secret")
        if not isinstance(secret, str):
            raise SsoLoginFailed("the scanning account has no second factor enrolled")
        step = int(time.time() // _TOTP_PERIOD)
        if data.get("last_step") == step:
            time.sleep((step + 1) * _TOTP_PERIOD - time.time() + 0.05)
            step += 1
        self._write({**data, "last_step": step})
        return str(pyotp.TOTP(secret, interval=_TOTP_PERIOD).at(step * _TOTP_PERIOD))


# -- the login ---------------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cookie_header(jar: httpx.Cookies, url: str) -> str:
    """The cookies a browser sends to ``url``. Keycloak marks its cookies Secure even over
    ``http://localhost``, where browsers still send them (a secure context); Python's jar would not,
    so they are chosen here: by domain, path, and Secure only over HTTPS or to a loopback host."""
    parts = urlsplit(url)
    host, path = parts.hostname or "", parts.path or "/"
    chosen = []
    for cookie in jar.jar:
        domain = cookie.domain.lstrip(".")
        if domain.endswith(".local") and _loopback(host):
            domain = domain.removesuffix(".local")  # how the jar files "localhost"
        same_host = (
            host == domain or host.endswith("." + domain) or (_loopback(host) and _loopback(domain))
        )
        if not same_host or not path.startswith(cookie.path.rstrip("/") or "/"):
            continue
        if cookie.secure and parts.scheme != "https" and not _loopback(host):
            continue
        chosen.append(f"{cookie.name}={cookie.value}")
    return "; ".join(chosen)


def login(
    login_url: str,
    account: ScanAccount,
    *,
    session_cookie: str,
    timeout: float = 20.0,
    verify: bool | str = True,
) -> dict[str, str]:
    """Log ``account`` in through ``login_url`` (a service page that sends to the SSO) and return the
    service's session, ``{session_cookie: value}``. Raises :class:`SsoLoginFailed` with why (wrong
    password, a code refused, the service refusing the account) — never with the secrets."""
    factor = _SecondFactor(account.totp_file)
    service = urlsplit(login_url)
    provider = urlsplit(account.identity_provider)
    url, method, data = login_url, "GET", None
    sent_password = sent_code = False
    session: str | None = None
    with httpx.Client(timeout=timeout, follow_redirects=False, verify=verify) as browser:
        for _ in range(_MAX_STEPS):
            answer = browser.request(
                method, url, data=data, headers={"cookie": _cookie_header(browser.cookies, url)}
            )
            method, data = "GET", None
            # The service's session as it set it last (after the callback: the logged-in one).
            session = answer.cookies.get(session_cookie) or session
            location = answer.headers.get("location")
            if answer.is_redirect and location:
                url = urljoin(url, location)
                continue
            here = urlsplit(url)
            if _same_origin(here, service):
                # Back on the service: logged in, or turned away by it.
                if answer.status_code == 200 and session and sent_password:
                    return {session_cookie: session}
                raise SsoLoginFailed(
                    f"the service answered HTTP {answer.status_code} after the login "
                    "(does the account hold the role its pages need, with a unit?)"
                )
            page = answer.text
            if not _same_origin(here, provider):
                # A login form anywhere else (a page an attacker made look like Keycloak's, at
                # the end of a redirect) gets nothing: the secrets go to the identity provider only.
                raise SsoLoginFailed(
                    f"the login led to {here.scheme}://{here.netloc}, not the identity provider: "
                    "nothing was sent to it"
                )
            if (form := _form(page, "kc-form-login")) is not None:
                if sent_password:
                    raise SsoLoginFailed("Keycloak refused the user name or the password")
                url, method, sent_password = _provider_action(form, url, provider), "POST", True
                data = {**form.inputs, "username": account.username, "password": account.password}
            elif (form := _form(page, "kc-otp-login-form")) is not None:
                if sent_code:
                    raise SsoLoginFailed(
                        "Keycloak refused the one-time code (is the second factor's file the "
                        "account's? an administrator can reset its OTP to enrol again)"
                    )
                url, method, sent_code = _provider_action(form, url, provider), "POST", True
                data = {**form.inputs, "otp": factor.code()}
            elif (form := _form(page, "kc-totp-settings-form")) is not None:
                if sent_code:
                    raise SsoLoginFailed("Keycloak refused the code of the new second factor")
                raw = form.inputs.get("totpSecret", "")
                if not raw:
                    raise SsoLoginFailed("Keycloak's authenticator set-up page has no secret")
                factor.enrol(raw)
                _log.info("scan.sso.second_factor_enrolled", account=account.username)
                url, method, sent_code = _provider_action(form, url, provider), "POST", True
                data = {**form.inputs, "totp": factor.code(), "userLabel": "gateway-scan"}
            else:
                raise SsoLoginFailed(
                    f"unexpected page in the login (HTTP {answer.status_code} at {here.path})"
                )
    raise SsoLoginFailed(f"the login did not end after {_MAX_STEPS} steps")


def _provider_action(form: _Form, page_url: str, provider: SplitResult) -> str:
    """Where ``form`` posts, if that is the identity provider; a form of its page posting
    elsewhere gets nothing."""
    target = urljoin(page_url, form.action)
    if not _same_origin(urlsplit(target), provider):
        raise SsoLoginFailed("a login form posts outside the identity provider: nothing was sent")
    return target


def _same_origin(a: SplitResult, b: SplitResult) -> bool:
    """The same site; ``localhost`` and ``127.0.0.1`` are one host (a dev service's public address
    and its listening address)."""
    if (a.scheme, a.port) != (b.scheme, b.port):
        return False
    return a.hostname == b.hostname or (_loopback(a.hostname or "") and _loopback(b.hostname or ""))
