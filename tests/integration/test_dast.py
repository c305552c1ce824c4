"""The dynamic scan (wapiti, a real engine no one here wrote) against a deliberately weak web app,
the same app with each hole closed, and the gateway's own surfaces; only registered targets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from devstack import StackInfo
from policies import Violation
from scanners import TargetNotRegistered, TargetRegistry, sso_login
from scanners.dast import OUT_OF_BAND_ENDPOINT, DastScanFailed, scan_dast
from scanners.own_services import DASHBOARD_SESSION_COOKIE
from scanners.sso_login import ScanAccount
from tests.conftest import TokenFactory
from tests.keycloak_accounts import People
from tests.weak_app import weak_app

#: What each injection class looks like on the weak app: (rule, subject).
HOLES = {
    "reflected XSS": ("DAST-001", "GET /search (q)"),
    "SQL injection": ("DAST-002", "GET /item (id)"),
    "open redirect": ("DAST-003", "GET /go (next)"),
}


def _scan(url: str) -> list[Violation]:
    return asyncio.run(
        scan_dast(url, TargetRegistry([url], loopback_allowed=True), budget_seconds=60)
    )


def test_each_injection_class_is_found_and_closing_it_changes_the_verdict() -> None:
    """Attack classes: reflected XSS, SQL injection, open redirect; each found on the weak app
    (made and started in this run), none on the same app with the holes closed. And the scan
    sends the system nowhere but loopback: wapiti's out-of-band payloads would by default tell it
    to fetch from its authors' server on the internet (and wapiti would then ask that server)."""
    seen: list[str] = []
    with weak_app(seen=seen) as url:
        found = {(v.rule_id, v.subject) for v in _scan(url)}
    for attack, hole in HOLES.items():
        assert hole in found, (attack, sorted(found))
    sent = "\n".join(unquote(request) for request in seen)
    assert OUT_OF_BAND_ENDPOINT in sent  # the out-of-band payloads were sent, with our endpoint
    # (Other hosts in the payloads are markers — an open redirect to www.google.fr — never fetched.)
    assert "wapiti3.ovh" not in sent
    with weak_app(fixed=True) as url:
        fixed = {(v.rule_id, v.subject) for v in _scan(url)}
    assert not set(HOLES.values()) & fixed, sorted(fixed)


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("http://127.0.0.1:9/", ()),  # not registered
        ("http://127.0.0.1:8899/", ("http://evil.example/",)),  # a start page elsewhere
    ],
)
def test_nothing_unregistered_is_ever_scanned(url: str, start: tuple[str, ...]) -> None:
    registry = TargetRegistry(["http://127.0.0.1:8899/"], loopback_allowed=True)
    with pytest.raises(TargetNotRegistered):
        asyncio.run(scan_dast(url, registry, start=start))


@pytest.mark.keycloak
def test_the_gateway_own_surfaces_have_no_high_or_medium_finding(stack_info: StackInfo) -> None:
    """The signing API (from its OpenAPI), the public verification page, the approval pages, the
    dashboard (unauthenticated: its login redirect) and Keycloak's login page."""
    surfaces = [
        (
            f"{stack_info.signing_url}/",
            (f"{stack_info.signing_url}/verify", f"{stack_info.signing_url}/approve/pair"),
            f"{stack_info.signing_url}/openapi.json",
        ),
        (
            f"{stack_info.audit_url}/",
            (f"{stack_info.audit_url}/dashboard",),
            f"{stack_info.audit_url}/openapi.json",
        ),
        (f"{stack_info.issuer}/", (f"{stack_info.issuer}/account/",), None),
    ]
    for url, start, openapi in surfaces:
        registry = TargetRegistry([url], loopback_allowed=True)
        findings = asyncio.run(
            scan_dast(url, registry, budget_seconds=45, start=start, openapi=openapi)
        )
        serious = [v.line() for v in findings if v.severity.value in {"critical", "high", "medium"}]
        assert serious == [], url


@pytest.mark.keycloak
def test_the_dashboard_logged_in_has_no_high_or_medium_finding(
    stack_info: StackInfo,
    client_token: TokenFactory,
    people: People,
    tmp_path: Path,
) -> None:
    """The officers' pages behind the login (search, timelines, alerts and their forms, reports,
    compliance), crawled and attacked by wapiti with an officer's session, made as gateway-scan
    makes it: through Keycloak's login page, password then the account's own second factor. On
    this test stack its forms are attacked too (gateway-scan leaves out the ones that change
    something); the logout is never requested."""
    actor, password = people.add("dast", "79760101", "security-officer")
    account = ScanAccount(actor, password, tmp_path / "totp.json", stack_info.keycloak_url)
    dashboard = f"{stack_info.audit_url}/dashboard"
    cookies = sso_login.login(
        f"{dashboard}/login", account, session_cookie=DASHBOARD_SESSION_COOKIE
    )
    findings = asyncio.run(
        scan_dast(
            f"{dashboard}/",
            TargetRegistry([f"{stack_info.audit_url}/"], loopback_allowed=True),
            budget_seconds=60,
            start=(dashboard, f"{dashboard}/events", f"{dashboard}/alerts"),
            cookies=cookies,
            exclude=(f"{dashboard}/logout", f"{dashboard}/login", f"{dashboard}/callback"),
        )
    )
    serious = [v.line() for v in findings if v.severity.value in {"critical", "high", "medium"}]
    assert serious == []
    # The scan really was logged in: the pages it read are in the audit log under its officer.
    reader = {"Authorization": f"Bearer {client_token('audit-reports')}"}
    seen = httpx.get(
        f"{stack_info.audit_url}/v1/events",
        params={"actor": actor, "limit": "1000"},
        headers=reader,
        timeout=10,
    ).json()["events"]
    channels = {e["target"].get("channel") for e in seen}
    assert len(seen) >= 5 and len(channels) >= 3, channels


def _crashing_engine(folder: Path, crashes: int) -> Path:
    """A wapiti that crashes (as 3.2.3 does on an exception it does not catch) the first
    ``crashes`` times, then runs the real one."""
    from scanners.dast import DEFAULT_WAPITI

    script = folder / "wapiti"
    script.write_text(
        "#!/bin/sh\n"
        f'count=$(cat "{folder}/runs" 2>/dev/null || echo 0)\n'
        f'echo $((count + 1)) > "{folder}/runs"\n'
        f'if [ "$count" -lt {crashes} ]; then\n'
        '  echo "Traceback (most recent call last):"\n'
        "  echo \"ValueError: invalid literal for int() with base 10: 'error'\"\n"
        "  exit 1\n"
        "fi\n"
        f'exec "{DEFAULT_WAPITI}" "$@"\n'
    )
    script.chmod(0o700)
    return script


def test_an_engine_that_crashes_once_is_run_again_and_twice_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash of the engine is not a verdict: one more run; a second crash is a failure that
    says why (the engine's last line), never an empty list of findings."""
    once = tmp_path / "once"
    once.mkdir()
    monkeypatch.setenv("WAPITI_BIN", str(_crashing_engine(once, crashes=1)))
    with weak_app() as url:
        found = {(v.rule_id, v.subject) for v in _scan(url)}
    assert (once / "runs").read_text().strip() == "2"
    assert HOLES["SQL injection"] in found, sorted(found)

    always = tmp_path / "always"
    always.mkdir()
    monkeypatch.setenv("WAPITI_BIN", str(_crashing_engine(always, crashes=99)))
    with weak_app() as url, pytest.raises(DastScanFailed) as failure:
        _scan(url)
    assert (always / "runs").read_text().strip() == "2"
    assert "twice" in str(failure.value) and "ValueError" in str(failure.value)


def test_a_redirect_off_the_registered_target_is_never_followed() -> None:
    """Attack class: scan redirected off target. A registered system answers a form's POST with a
    redirect to another origin (made and started in this run, not registered): the scan must never
    reach it. wapiti's csrf module re-sent each form with a token and followed the redirects
    wherever they went (the other origin got 2 requests per scan)."""
    import threading
    from collections.abc import Callable
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    elsewhere: list[str] = []

    def serve(answer: Callable[[BaseHTTPRequestHandler], None]) -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def other(handler: BaseHTTPRequestHandler) -> None:
        elsewhere.append(f"{handler.command} {handler.path}")
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    form = (
        b'<html><body><form method="post" action="/submit"><input name="q" value="x">'
        b'<input type="hidden" name="csrf_token" value="a8F3kQz9Lm2Xv7Rt5Yp1Wc4Nb6Hd0Js">'
        b'<input type="submit"></form></body></html>'
    )
    unregistered = serve(other)
    target = f"http://127.0.0.1:{unregistered.server_address[1]}/landed"

    def app(handler: BaseHTTPRequestHandler) -> None:
        if handler.command == "POST":
            handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
            handler.send_response(303)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(form)))
        handler.end_headers()
        handler.wfile.write(form)

    registered = serve(app)
    url = f"http://127.0.0.1:{registered.server_address[1]}/"
    try:
        asyncio.run(scan_dast(url, TargetRegistry([url], loopback_allowed=True), budget_seconds=30))
    finally:
        for server in (registered, unregistered):
            server.shutdown()
            server.server_close()
    assert elsewhere == []


def test_a_scan_that_reaches_no_page_is_no_verdict() -> None:
    """Attack class: a clean verdict by default. A registered system whose every page redirects
    off the target (to an SSO outside the scope, or an attacker keeping the scanner out) gave wapiti
    nothing to crawl: its empty report read as "no finding", score 100, and every earlier finding
    of the system was reported fixed. It is now "not scanned", with the reason."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    class Away(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://sso.example.invalid/login")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Away)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with pytest.raises(DastScanFailed, match="reached no page"):
            asyncio.run(
                scan_dast(url, TargetRegistry([url], loopback_allowed=True), budget_seconds=20)
            )
    finally:
        server.shutdown()
        server.server_close()


def test_wapiti_attacks_only_the_address_the_name_had_when_it_was_checked() -> None:
    """Attack class: DNS rebinding. The scanned system's name is the school's to resolve: its DNS
    answers the system's address once, then an address inside the scanner's host (127.0.0.2
    here; 127.0.0.1 or the metadata service in production), where another service records what
    reaches it. wapiti (real, made by the setup) scans the weak app by that name: every request goes
    through the gate (the name resolves nowhere else), the injections are found on the system, and
    the inside service gets nothing. Before the gate, wapiti resolved the name for each connection."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    inside: list[str] = []

    class Inside(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            inside.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    asked: list[str] = []

    def school_dns(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["127.0.0.2"]

    with weak_app() as app:
        port = int(app.rsplit(":", 1)[1].strip("/"))
        server = ThreadingHTTPServer(("127.0.0.2", port), Inside)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://weak-school.test:{port}/"
        try:
            found = asyncio.run(
                scan_dast(
                    url,
                    TargetRegistry([url], loopback_allowed=True, resolve=school_dns),
                    budget_seconds=60,
                )
            )
        finally:
            server.shutdown()
            server.server_close()
    assert HOLES["SQL injection"] in {(v.rule_id, v.subject) for v in found}
    assert asked == ["weak-school.test"]
    assert inside == []
