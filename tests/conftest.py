"""Fixtures shared by the whole suite.

The ``stack`` fixture starts the real components once per test session (Keycloak, Redis, SoftHSM2, the
test PKI, the signing and audit services) in a fresh folder with free ports, exactly as ``gateway run``
does, and stops them at the end. Tests that need it carry the markers of the servers they use.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from audit.store import migrate
from devstack import Ports, Stack, StackInfo, postgres
from devstack.demo import transcript_pdf
from devstack.dss_validator import DssValidator, start_dss_validator
from tests.keycloak_accounts import admin, people  # noqa: F401 - fixtures for every test
from tests.raw_database import OWNER_URLS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports() -> Ports:
    """A block of consecutive ports below the ephemeral range (:meth:`Ports.free_block`): ports
    the kernel gave out (bound to 0) could be taken by an outgoing connection before a service
    of the stack binds them."""
    return Ports.consecutive(Ports.free_block())


class AlertInbox:
    """A real HTTP endpoint on loopback standing for the SOC's webhook: it keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                inbox.received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[postgres.Postgres]:
    """A real PostgreSQL (Debian's package) for the audit store's production path."""
    server = postgres.start(tmp_path_factory.mktemp("postgres"), port=free_port())
    yield server
    server.stop()


_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh audit store lives: an SQLite file, or a new database of the real PostgreSQL.

    Tests taking it run once per database: the same code must behave the same on both.
    """
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite3")
    return new_postgres_database(request.getfixturevalue("postgres_server"))


def new_postgres_database(server: postgres.Postgres, *, migrated: bool = True) -> str:
    """The runtime role's URL of a new database on the test PostgreSQL, as production makes it:
    owned by the migration role, which migrates it (unless not ``migrated``). The store opens it as
    the runtime role; :class:`tests.raw_database.Raw` reaches it as its owner."""
    name = f"audit_test_{next(_DATABASES)}"
    runtime_url, owner_url = server.create_database(name)
    if migrated:
        migrate(owner_url, postgres.RUNTIME_ROLE)
    OWNER_URLS[runtime_url] = owner_url
    return runtime_url


@pytest.fixture(scope="session")
def alert_inbox() -> Iterator[AlertInbox]:
    inbox = AlertInbox()
    yield inbox
    inbox.server.shutdown()
    inbox.server.server_close()


@pytest.fixture(scope="session")
def approval_inbox() -> Iterator[AlertInbox]:
    """Stands for the push gateway that carries approval requests to signers' phones."""
    inbox = AlertInbox()
    yield inbox
    inbox.server.shutdown()
    inbox.server.server_close()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, alert_inbox: AlertInbox, approval_inbox: AlertInbox
) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("stack")
    # Checkpoints every second, so that the tests need not wait for them.
    # Revocation is fetched afresh for every verification: the tests revoke and verify at once.
    test_stack = Stack(
        folder,
        free_ports(),
        checkpoint_interval=1.0,
        revocation_cache_seconds=0,
        alert_webhook_url=alert_inbox.url,
        approval_webhook_url=approval_inbox.url,
    )
    try:
        test_stack.up()
        yield test_stack
    finally:
        test_stack.down()


@pytest.fixture(scope="session")
def dss_validator(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DssValidator]:
    """EU DSS 6.3 trusting the test PKI's root only, fetching OCSP and CRLs from the test PKI.

    Built with Maven into ``.work/cache`` on first use (about a minute), then started in seconds.
    """
    service = start_dss_validator(
        stack.cache,
        tmp_path_factory.mktemp("dss-validator"),
        port=free_port(),
        trust_anchors=stack.pki.trust_store,
    )
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def public_page_budget(stack: Stack, stack_info: StackInfo) -> None:
    """The public verification page's budget for this machine's address, spent by no earlier test:
    the page counts every attempt from 127.0.0.1 (the dynamic scans of its own surfaces too) in a
    sliding window, and a test that uses the page must not start inside another test's window."""
    connection = redis.Redis.from_url(
        stack_info.redis_url,
        username="signing",
        password=stack.redis_password("signing"),
        socket_timeout=5,
    )
    try:
        connection.delete("verify-rate:127.0.0.1", "verify-rate:testclient")
    finally:
        connection.close()


@pytest.fixture(scope="session")
def stack_info(stack: Stack) -> StackInfo:
    return StackInfo.load(stack.info_path)


TokenFactory = Callable[[str], str]


def client_tokens(stack: Stack, issuer: str, timeout: float = 10) -> TokenFactory:
    """Access tokens of the stack's service clients (client-credentials grant) from ``issuer``."""

    def issue(client_id: str) -> str:
        response = httpx.post(
            f"{issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": stack.client_secret(client_id),
            },
            timeout=timeout,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    return issue


@pytest.fixture(scope="session")
def client_token(stack: Stack, stack_info: StackInfo) -> TokenFactory:
    """An access token for a service client of the realm (client-credentials grant)."""
    return client_tokens(stack, stack_info.issuer)


PersonTokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def person_token(stack: Stack, stack_info: StackInfo) -> PersonTokenFactory:
    """An access token of a demo person, by a real login (authorization code with PKCE);
    ``acr_values="2"`` logs in with the second factor too (one-time code)."""
    from tests.keycloak_login import login

    def issue(
        username: str,
        scope: str = "openid",
        client_id: str = "demo-sign-app",
        acr_values: str | None = None,
    ) -> str:
        tokens = login(
            stack_info.issuer,
            client_id=client_id,
            client_secret=stack.client_secret(client_id),
            redirect_uri="http://localhost:8765/callback",
            username=username,
            password=stack.user_password(username),
            scope=scope,
            acr_values=acr_values,
        )
        return str(tokens["access_token"])

    return issue


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's ``chromium``, installed by scripts/bootstrap.sh for the tests).

    Per module, not per session: Playwright's sync API runs an event loop in the main thread for as
    long as it is open, and later tests call ``asyncio.run``.
    """
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is required (scripts/bootstrap.sh installs it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                # The services listen on 127.0.0.1 only; "localhost" must not be tried as ::1.
                "--host-resolver-rules=MAP localhost 127.0.0.1",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_pdf() -> bytes:
    return transcript_pdf(["HOC BA DIEN TU", "Lop 10A1 - Nam hoc 2026-2027"], pages=2)
