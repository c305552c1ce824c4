"""Login capacity of one Keycloak node with the real realm: what the first school morning needs.

Starts its own stack (real Keycloak 26 with its embedded database, the ``education`` realm as code) in
``.work``, makes ``--users`` ordinary accounts (teachers: no second factor) and measures, each for
``--seconds`` with ``--clients`` concurrent clients:

* **password logins through the browser flow** of the realm's account console (a public client with
  PKCE S256, as every app of the sector logs people in): the authorization request and its login page,
  the form posted with the password, the redirect with the code, the code exchanged for tokens — the
  realm's password hashing as configured (Keycloak 26's default for the realm: Argon2id);
* the same with PBKDF2-SHA512 at Keycloak's default 210,000 iterations, and with one iteration (no
  hashing cost to speak of: the floor set by the flow itself), each on accounts made under that policy;
* **client-credentials grants** of a service client (``demo-eoffice``);
* the login page alone (the authorization request, no password).

For each: logins/s, p95 latency, and Keycloak's own CPU per login (its JVM's user + system time from
``/proc``, divided by the logins), the figure to size nodes with. The benchmark client shares the two
cores with Keycloak: the rates are a floor, the CPU per login is not affected by that.

With ``--topology ha``: the same on the cluster (two nodes on PostgreSQL behind HAProxy), with the
CPU of both nodes, and of PostgreSQL (persistent sessions: every login writes to it) per login.

Run: ``.venv/bin/python -m bench.login_capacity [--seconds 20] [--clients 8] [--users 200]
[--topology single|ha]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from bench import run_stopping_cleanly
from devstack import Ports, Stack, StackInfo
from devstack.demo import teacher_accounts
from devstack.ha import HaPorts, HaStack
from devstack.process import ManagedProcess
from idp_config import admin_client

ROOT = Path(__file__).resolve().parent.parent
REALM = "education"
CLIENT = "account-console"
_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
_TICKS = os.sysconf("SC_CLK_TCK")
BASE_POLICY = "length(12) and notUsername and notEmail and passwordHistory(3)"


def _cpu_seconds(folder: Path, names: tuple[str, ...]) -> float:
    """User + system CPU of every process in the process groups of the stack's components
    ``names`` (Keycloak's: the JVM under ``kc.sh``; PostgreSQL's: the server and its backends)."""
    groups = {ManagedProcess(name, folder).pid() for name in names} - {None}
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Its group, or a child of its leader: PostgreSQL's backends each start a session of
        # their own (a group of their own), under the server.
        if int(fields[2]) in groups or int(fields[1]) in groups:  # pgrp, ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


async def _authorization_request(
    client: httpx.AsyncClient, issuer: str
) -> tuple[httpx.Response, str]:
    """The account console's authorization request (PKCE S256) and its page; the PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    client.cookies.clear()
    page = await client.get(
        f"{issuer}/protocol/openid-connect/auth",
        params={
            "client_id": CLIENT,
            "response_type": "code",
            "redirect_uri": f"{issuer}/account/",
            "scope": "openid",
            "state": secrets.token_urlsafe(12),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
    )
    page.raise_for_status()
    return page, verifier


async def _browser_login(client: httpx.AsyncClient, issuer: str, user: str, password: str) -> None:
    page, verifier = await _authorization_request(client, issuer)
    redirect = f"{issuer}/account/"
    match = _FORM.search(page.text)
    if match is None:
        raise RuntimeError(f"no login form (HTTP {page.status_code})")
    # Keycloak's cookies are Secure even on http://localhost: carried by hand, as a browser would.
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    answer = await client.post(
        html.unescape(match.group(1)),
        data={"username": user, "password": password, "credentialId": ""},
        headers={"cookie": cookies},
    )
    location = answer.headers.get("location", "")
    if answer.status_code != 302 or not location.startswith(redirect):
        raise RuntimeError(f"login refused (HTTP {answer.status_code})")
    code = parse_qs(urlsplit(location).query)["code"][0]
    token = await client.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": CLIENT,
            "code_verifier": verifier,
        },
    )
    token.raise_for_status()


async def _rate(
    once: Callable[[httpx.AsyncClient, int], Awaitable[None]], seconds: float, clients: int
) -> tuple[float, float, int]:
    """(per second, p95 ms, count) of ``once`` from ``clients`` concurrent clients."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=60, follow_redirects=False) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await once(client, next(counter))
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p95 = latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000 if latencies else float("nan")
    return len(latencies) / elapsed, p95, len(latencies)


#: Whose CPU a login costs: Keycloak's node(s), and (in the cluster) Keycloak's database.
KEYCLOAK = {"single": ("keycloak",), "ha": ("keycloak-1", "keycloak-2")}
DATABASE = {"single": (), "ha": ("postgres",)}

Row = tuple[str, float, float, float, float]


def _measure(
    folder: Path,
    topology: str,
    name: str,
    once: Callable[[httpx.AsyncClient, int], Awaitable[None]],
    seconds: float,
    clients: int,
) -> Row:
    asyncio.run(_rate(once, min(3.0, seconds), clients))  # warm up (JIT, caches)
    keycloak_before = _cpu_seconds(folder, KEYCLOAK[topology])
    database_before = _cpu_seconds(folder, DATABASE[topology])
    rate, p95, count = asyncio.run(_rate(once, seconds, clients))
    cpu = (_cpu_seconds(folder, KEYCLOAK[topology]) - keycloak_before) / max(count, 1)
    database = (_cpu_seconds(folder, DATABASE[topology]) - database_before) / max(count, 1)
    print(
        f"  {name}: {rate:.1f}/s, p95 {p95:.0f} ms, {cpu * 1000:.1f} ms Keycloak CPU each, "
        f"{database * 1000:.1f} ms database CPU each",
        flush=True,
    )
    return name, rate, p95, cpu, database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--topology",
        choices=("single", "ha"),
        default="single",
        help="one node on its embedded database, or the cluster: two nodes on PostgreSQL behind "
        "HAProxy (devstack/ha.py)",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".work"))
    ports = Ports.consecutive(Ports.free_block())
    stack = (
        HaStack(folder, ports, HaPorts.free()) if args.topology == "ha" else Stack(folder, ports)
    )
    print("starting the stack…", flush=True)
    info: StackInfo = stack.up()
    rows: list[Row] = []
    try:
        admin = admin_client(info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
        admin.change_current_realm(REALM)
        password = f"Bench-{secrets.token_urlsafe(12)}"
        issuer = info.issuer

        def logins(users: list[str]) -> Callable[[httpx.AsyncClient, int], Awaitable[None]]:
            async def once(client: httpx.AsyncClient, n: int) -> None:
                await _browser_login(client, issuer, users[n % len(users)], password)

            return once

        policies = [
            ("password login, realm default (Argon2id)", None),
            ("password login, PBKDF2-SHA512 210,000", "hashAlgorithm(pbkdf2-sha512) and hashIterations(210000)"),
            ("password login, PBKDF2-SHA256 1 iteration", "hashAlgorithm(pbkdf2-sha256) and hashIterations(1)"),
        ]  # fmt: skip
        for index, (name, hashing) in enumerate(policies):
            # Accounts made under the policy measured: Keycloak re-hashes a password at login when
            # the policy changed, so each policy gets accounts of its own, made after the switch.
            policy = BASE_POLICY + (f" and {hashing}" if hashing else "")
            admin.update_realm(REALM, {"passwordPolicy": policy})
            users = teacher_accounts(admin, f"bench{index}", args.users, password)
            rows.append(
                _measure(folder, args.topology, name, logins(users), args.seconds, args.clients)
            )
        admin.update_realm(REALM, {"passwordPolicy": BASE_POLICY})

        secret = stack.client_secret("demo-eoffice")

        async def grant(client: httpx.AsyncClient, n: int) -> None:
            answer = await client.post(
                f"{issuer}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-eoffice",
                    "client_secret": secret,
                },
            )
            answer.raise_for_status()

        rows.append(
            _measure(
                folder, args.topology, "client-credentials grant", grant, args.seconds, args.clients
            )
        )

        async def page(client: httpx.AsyncClient, n: int) -> None:
            await _authorization_request(client, issuer)

        rows.append(
            _measure(folder, args.topology, "login page only", page, args.seconds, args.clients)
        )
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)

    shape = (
        "two nodes on PostgreSQL behind HAProxy"
        if args.topology == "ha"
        else "one node, embedded database"
    )
    print(
        f"\nKeycloak 26, {shape}, {os.cpu_count()} cores shared with the benchmark client; "
        f"{args.clients} clients, {args.seconds:.0f} s per row\n"
    )
    print(f"| {'what':44} | per s | p95 ms | Keycloak CPU ms each | database CPU ms each |")
    print(f"|{'-' * 46}|------:|-------:|--------------------:|---------------------:|")
    for name, rate, p95, cpu, database in rows:
        print(
            f"| {name:44} | {rate:5.1f} | {p95:6.0f} | {cpu * 1000:19.1f} "
            f"| {database * 1000:20.1f} |"
        )


if __name__ == "__main__":
    run_stopping_cleanly(main)
