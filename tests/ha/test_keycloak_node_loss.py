"""A Keycloak node killed during a login wave, behind HAProxy, in the production topology.

Attack class: loss of an identity-provider node (availability of the SSO). Logins go on through the
other node; a person already logged in keeps the SSO session (a new login of theirs needs no
password) even though the node their browser was stuck to is the one that died; the error rate and
the time to recover are measured and bounded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devstack.demo import teacher_accounts
from devstack.ha import HaStack
from devstack.haproxy import STICKY_COOKIE
from devstack.layout import StackInfo
from devstack.process import ManagedProcess
from idp_config import admin_client
from tests.ha.conftest import kill

pytestmark = pytest.mark.ha

_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
_FEEDBACK = re.compile(
    r"(?:kc-feedback-text|input-error|kc-page-title)[^>]*>\s*([^<\s][^<]{0,200})", re.S
)
CLIENT = "account-console"
PASSWORD = "Wave-" + secrets.token_urlsafe(12)
WORKERS = 4


@dataclass
class Wave:
    succeeded: list[float] = field(default_factory=list)
    failed: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Authorization:
    """One authorization request of the account console (PKCE S256)."""

    issuer: str
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def redirect_uri(self) -> str:
        return f"{self.issuer}/account/"

    def params(self) -> dict[str, str]:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return {
            "client_id": CLIENT,
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": self.state,
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }

    async def open(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(
            f"{self.issuer}/protocol/openid-connect/auth",
            params=self.params(),
            headers={"cookie": _cookies(client)},
        )

    async def exchange(self, client: httpx.AsyncClient, answer: httpx.Response) -> None:
        """The redirect back with a code, and the code exchanged for tokens."""
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location.startswith(self.redirect_uri):
            raise RuntimeError(f"HTTP {answer.status_code} {_feedback(answer.text)}")
        token = await client.post(
            f"{self.issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(location).query)["code"][0],
                "redirect_uri": self.redirect_uri,
                "client_id": CLIENT,
                "code_verifier": self.verifier,
            },
        )
        if token.status_code != 200:
            raise RuntimeError(f"code exchange: HTTP {token.status_code}")


def _cookies(client: httpx.AsyncClient) -> str:
    # Keycloak's cookies are Secure even on http://localhost, where a browser still sends them.
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


def _feedback(page: str) -> str:
    """What Keycloak's page says went wrong (its message, for the test's report)."""
    match = _FEEDBACK.search(page)
    return html.unescape(match.group(1)).strip() if match else page[:120]


async def _login(client: httpx.AsyncClient, issuer: str, user: str) -> None:
    """A browser's login: the login page, the password, the code exchanged for tokens."""
    authorization = Authorization(issuer)
    page = await authorization.open(client)
    match = _FORM.search(page.text)
    if page.status_code != 200 or match is None:
        raise RuntimeError(f"login page: HTTP {page.status_code}")
    answer = await client.post(
        html.unescape(match.group(1)),
        data={"username": user, "password": PASSWORD, "credentialId": ""},
        headers={"cookie": _cookies(client)},
    )
    await authorization.exchange(client, answer)


async def _wave(stack: HaStack, issuer: str, users: list[str], victim: str) -> tuple[Wave, float]:
    """Logins from ``WORKERS`` browsers without pause; ``victim`` killed 5 s in; 20 s more."""
    wave = Wave()
    stop = asyncio.Event()

    async def worker(offset: int) -> None:
        # Each browser its own three people: Keycloak refuses a login while another of the same
        # account is under way (tests/integration/test_concurrent_logins.py), failure or not.
        mine = users[offset * 3 : offset * 3 + 3]
        n = 0
        while not stop.is_set():
            async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
                try:
                    await _login(client, issuer, mine[n % 3])
                except (httpx.HTTPError, RuntimeError) as exc:
                    wave.failed.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                else:
                    wave.succeeded.append(time.monotonic())
            n += 1

    workers = [asyncio.create_task(worker(offset)) for offset in range(WORKERS)]
    await asyncio.sleep(5.0)
    assert wave.succeeded, f"no login succeeded before the failure: {wave.failed[:3]}"
    killed = time.monotonic()  # requests under way fail from this instant
    await asyncio.to_thread(kill, ManagedProcess(victim, stack.folder))
    await asyncio.sleep(20.0)
    stop.set()
    await asyncio.gather(*workers)
    return wave, killed


def test_logins_go_on_and_sessions_survive_when_a_keycloak_node_dies(
    ha_stack: HaStack, ha_info: StackInfo
) -> None:
    issuer = ha_info.issuer
    admin = admin_client(ha_info.keycloak_url, "admin", ha_stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    users = teacher_accounts(admin, "wave", WORKERS * 3 + 1, PASSWORD)
    person_name, users = users[-1], users[:-1]

    async def run() -> tuple[Wave, float, str, str]:
        # A person logged in before the failure; their browser is stuck to one node.
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as person:
            await _login(person, issuer, person_name)
            node = person.cookies.get(STICKY_COOKIE) or ""
            assert node in ("keycloak-1", "keycloak-2"), "HAProxy did not stick the browser"
            wave, killed = await _wave(ha_stack, issuer, users, node)
            # Their SSO session outlived the node: a new login of theirs needs no password.
            authorization = Authorization(issuer)
            await authorization.exchange(person, await authorization.open(person))
            return wave, killed, node, person.cookies.get(STICKY_COOKIE) or ""

    wave, killed, node, now_on = asyncio.run(run())
    assert now_on != node  # the person's browser is on the living node now

    after = [t for t in wave.succeeded if t > killed]
    failures_after = [t for t, _ in wave.failed if t > killed]
    last_failure = max(failures_after, default=killed)
    recovered = min((t for t in after if t > last_failure), default=None)
    print(
        f"logins: {len(wave.succeeded)} ok, {len(wave.failed)} failed "
        f"({len(failures_after)} after the kill, the last {last_failure - killed:.1f} s after it); "
        f"served again {(recovered or killed) - killed:.1f} s after the kill; "
        f"failures: {[(round(t - killed, 1), reason) for t, reason in wave.failed[:6]]}"
    )
    assert not [t for t, _ in wave.failed if t < killed], "logins failed before the failure"
    # Keycloak's own cluster health takes ~30 s to settle after a crash: within that, at most.
    assert recovered is not None and recovered - killed < 30.0, "logins did not recover"
    assert len(after) >= 10  # the other node carried the wave
    assert len(failures_after) / max(1, len(failures_after) + len(after)) < 0.10

    # The node comes back (as the supervisor would start it) and joins the cluster again.
    process = ManagedProcess(node, ha_stack.folder)
    process.relaunch()
    port = ha_stack.ha_ports.keycloak_management[int(node[-1]) - 1]
    process.wait_ready(lambda: _ready(f"http://127.0.0.1:{port}/health/ready"), timeout=240)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
