"""The tests behind the web rules, over one HTTP response of a registered system.

Scored in the manner of the Mozilla HTTP Observatory: CSP, HSTS, content-type sniffing, framing,
referrer policy and cookie flags. Each returns ``(subject, evidence)`` for every violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

Finding = tuple[str, str]


@dataclass(frozen=True)
class HttpObservation:
    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    set_cookies: list[str]

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")


WebCheck = Callable[[HttpObservation, dict[str, Any]], Iterator[Finding]]
WEB_CHECKS: dict[str, WebCheck] = {}


def web_check(function: WebCheck) -> WebCheck:
    WEB_CHECKS[function.__name__] = function
    return function


def _csp(observation: HttpObservation) -> dict[str, str]:
    policy = observation.headers.get("content-security-policy", "")
    directives: dict[str, str] = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name.lower()] = value
    return directives


@web_check
def content_security_policy(
    observation: HttpObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    csp = _csp(observation)
    if not csp:
        yield observation.url, "no Content-Security-Policy"
        return
    scripts = csp.get("script-src", csp.get("default-src", ""))
    if "'unsafe-inline'" in scripts and "'strict-dynamic'" not in scripts:
        yield observation.url, "script-src allows 'unsafe-inline'"
    if "default-src" not in csp:
        yield observation.url, "CSP has no default-src"


@web_check
def strict_transport_security(
    observation: HttpObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    if not observation.https:
        return  # HSTS only means something over HTTPS; plain HTTP is the TLS scanner's finding
    value = observation.headers.get("strict-transport-security", "")
    max_age = 0
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name.lower() == "max-age" and number.strip().isdigit():
            max_age = int(number)
    if max_age < int(params.get("min_max_age", 15552000)):
        yield observation.url, f"HSTS max-age {max_age}"


@web_check
def no_sniff(observation: HttpObservation, params: dict[str, Any]) -> Iterator[Finding]:
    if observation.headers.get("x-content-type-options", "").lower() != "nosniff":
        yield observation.url, "X-Content-Type-Options is not nosniff"


@web_check
def framing(observation: HttpObservation, params: dict[str, Any]) -> Iterator[Finding]:
    frame_options = observation.headers.get("x-frame-options", "").upper()
    ancestors = _csp(observation).get("frame-ancestors")
    if frame_options not in {"DENY", "SAMEORIGIN"} and ancestors is None:
        yield observation.url, "neither X-Frame-Options nor CSP frame-ancestors"


@web_check
def referrer_policy(observation: HttpObservation, params: dict[str, Any]) -> Iterator[Finding]:
    allowed = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
    if observation.headers.get("referrer-policy", "").lower() not in allowed:
        yield observation.url, "Referrer-Policy missing or leaky"


@web_check
def cookie_flags(observation: HttpObservation, params: dict[str, Any]) -> Iterator[Finding]:
    for raw in observation.set_cookies:
        cookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # noqa: BLE001 - an unparsable cookie is itself the finding
            yield observation.url, "unparsable Set-Cookie"
            continue
        lowered = raw.lower()
        for name in cookie:
            missing = [
                flag
                for flag, present in (
                    ("HttpOnly", "httponly" in lowered),
                    ("SameSite", "samesite=" in lowered),
                    ("Secure", "secure" in lowered or not observation.https),
                )
                if not present
            ]
            if missing:
                yield f"cookie {name}", f"missing {', '.join(missing)}"
