"""The scanner's login never hands its password or codes to anyone but the identity provider.

Attack class: credential phishing through redirects. A service (or an open redirect on the way) that
sends the scanner to a look-alike of Keycloak's login page elsewhere, or a login page whose form
posts elsewhere, gets nothing: the login stops before any secret is sent. Real HTTP servers on
loopback play the service, the look-alike and the identity provider.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audit.deps import SESSION_COOKIE
from scanners.own_services import DASHBOARD_SESSION_COOKIE
from scanners.sso_login import ScanAccount, SsoLoginFailed, login

PASSWORD = "Mat-khau-bi-mat-9"


class Site:
    """One web site on loopback: answers every GET with ``page`` (or a redirect to ``redirect``),
    and keeps every POST body it receives."""

    def __init__(self) -> None:
        self.page = ""
        self.redirect = ""
        self.posted: list[bytes] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if site.redirect:
                    self.send_response(302)
                    self.send_header("Location", site.redirect)
                    self.end_headers()
                    return
                body = site.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                site.posted.append(self.rfile.read(length))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def login_page(self, action: str) -> None:
        self.page = (
            f'<html><body><form id="kc-form-login" method="post" action="{action}">'
            '<input name="username"><input name="password" type="password"></form></body></html>'
        )


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site, Site]]:
    made = (Site(), Site(), Site())
    yield made
    for site in made:
        site.server.shutdown()
        site.server.server_close()


def test_a_look_alike_login_page_elsewhere_gets_nothing(
    sites: tuple[Site, Site, Site], tmp_path: Path
) -> None:
    service, look_alike, provider = sites
    service.redirect = f"{look_alike.url}/realms/education/protocol/openid-connect/auth"
    look_alike.login_page(f"{look_alike.url}/login-actions/authenticate")
    account = ScanAccount("quet.dast", PASSWORD, tmp_path / "totp.json", provider.url)
    with pytest.raises(SsoLoginFailed, match="not the identity provider") as refused:
        login(f"{service.url}/dashboard/login", account, session_cookie=DASHBOARD_SESSION_COOKIE)
    assert look_alike.posted == [] and provider.posted == [] and service.posted == []
    assert PASSWORD not in str(refused.value)


def test_a_login_form_posting_outside_the_provider_gets_nothing(
    sites: tuple[Site, Site, Site], tmp_path: Path
) -> None:
    service, elsewhere, provider = sites
    service.redirect = f"{provider.url}/realms/education/protocol/openid-connect/auth"
    provider.login_page(f"{elsewhere.url}/collect")
    account = ScanAccount("quet.dast", PASSWORD, tmp_path / "totp.json", provider.url)
    with pytest.raises(SsoLoginFailed, match="posts outside the identity provider"):
        login(f"{service.url}/dashboard/login", account, session_cookie=DASHBOARD_SESSION_COOKIE)
    assert elsewhere.posted == [] and provider.posted == []


def test_the_identity_provider_gets_the_password(
    sites: tuple[Site, Site, Site], tmp_path: Path
) -> None:
    """The control: the same login, with the form on the provider, does send it there."""
    service, _, provider = sites
    service.redirect = f"{provider.url}/realms/education/protocol/openid-connect/auth"
    provider.login_page(f"{provider.url}/login-actions/authenticate")
    account = ScanAccount("quet.dast", PASSWORD, tmp_path / "totp.json", provider.url)
    with pytest.raises(SsoLoginFailed):  # the stand-in answers the post with an empty page
        login(f"{service.url}/dashboard/login", account, session_cookie=DASHBOARD_SESSION_COOKIE)
    assert len(provider.posted) == 1 and PASSWORD.encode() in provider.posted[0]


def test_the_scanner_reads_the_cookie_the_dashboard_sets() -> None:
    """The scanner names the dashboard's cookie without importing the audit service (a producer
    layer): the two names are one."""
    assert DASHBOARD_SESSION_COOKIE == SESSION_COOKIE
