"""Where the dynamic scan of the gateway's own services starts, what it leaves out, and the dashboard's
session for it (the scanning account logged in through the SSO, :mod:`scanners.sso_login`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from scanners import sso_login
from scanners.sso_login import ScanAccount, SsoLoginFailed
from scanners.targets import origin_of

#: The pages of the gateway's own services that no link reaches, where a dynamic scan starts.
OWN_PAGES = {
    "signing": ("verify", "approve/pair"),
    "audit": ("dashboard", "dashboard/events", "dashboard/alerts", "dashboard/compliance"),
}
#: The dashboard's forms that change something (an alert's triage, a scan request) and the session's
#: own pages: a logged-in scan of a production dashboard must not triage alerts or queue scans (their
#: injection and forgery cases are attacked in the tests, on a test stack).
DASHBOARD_EXCLUDED = (
    "dashboard/alerts/*/triage",
    "dashboard/compliance/scan",
    "dashboard/logout",
    "dashboard/login",
    "dashboard/callback",
)
DASHBOARD_SESSION_COOKIE = "edu_audit_session"


def own_surfaces(
    own: dict[str, str] | None,
    url: str,
    account: ScanAccount | None,
    *,
    warn: Callable[[str], None],
) -> dict[str, Any]:
    """For one of the gateway's own services (``own``: name → address): its pages and its OpenAPI
    document; for the audit service, with the scanning account's session when ``account`` is given
    (a failed login is said through ``warn`` and the pages are scanned logged out)."""
    for name, service in (own or {}).items():
        if name in OWN_PAGES and origin_of(service) == origin_of(url):
            base = url.rstrip("/")
            surfaces: dict[str, Any] = {
                "start": tuple(f"{base}/{page}" for page in OWN_PAGES[name]),
                "openapi": f"{base}/openapi.json",
                # The language switches set a preference and redirect within the site (their
                # ``back`` is tested against open redirects in tests/unit): attacking their two
                # parameters on every page would spend the time budget the pages need.
                "exclude": (f"{base}/verify/language*", f"{base}/dashboard/language*"),
            }
            if name == "audit" and account is not None:
                try:
                    surfaces["cookies"] = sso_login.login(
                        f"{base}/dashboard/login", account, session_cookie=DASHBOARD_SESSION_COOKIE
                    )
                except (SsoLoginFailed, httpx.HTTPError) as exc:
                    why = exc.detail if isinstance(exc, SsoLoginFailed) else None
                    warn(
                        "dashboard: đăng nhập quét thất bại / the scanning account's login failed "
                        f"({why or type(exc).__name__}): scanned logged out"
                    )
                else:
                    surfaces["exclude"] += tuple(f"{base}/{path}" for path in DASHBOARD_EXCLUDED)
            return surfaces
    return {}
