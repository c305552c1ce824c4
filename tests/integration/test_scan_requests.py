"""A department security officer asks for a scan from the compliance page, and the waiting scanner
(``gateway-scan run --every``) runs at once; the request is audited, gated and cannot be forged.

Attack classes: a district officer asking for the province's scans (scope), a form posted from
elsewhere (CSRF), a flood of requests (one waits at most), and a producer's Redis user queueing a
scan (only the audit service may).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
import redis
from redis.exceptions import NoPermissionError

from devstack import Stack, StackInfo
from tests.audit_events import audit_events
from tests.conftest import TokenFactory
from tests.dashboard_session import COOKIE, officer, session_cookie

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]


def _ask(stack: Stack, record: dict[str, Any], csrf: str | None = None) -> httpx.Response:
    """The compliance page's "scan now" form, posted in ``record``'s dashboard session."""
    return httpx.post(
        f"http://127.0.0.1:{stack.ports.audit}/dashboard/compliance/scan",
        data={"csrf": csrf if csrf is not None else record["csrf"]},
        cookies={COOKIE: session_cookie(stack, record)},
        timeout=30,
    )


def _scan_ids(stack_info: StackInfo, token: str) -> set[str]:
    runs = audit_events(stack_info, token, tag="scan:run:complete", limit="1000")
    return {str(r["target"]["scan_id"]) for r in runs}


def test_an_officer_asks_for_a_scan_and_the_waiting_scanner_runs_it(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    reader = client_token("audit-reports")
    # What a crawler may have asked before (the DAST test submits the dashboard's forms): taken off
    # the queue as the scanner would.
    drain = redis.Redis.from_url(
        stack_info.redis_url, username="scanners", password=stack.redis_password("scanners")
    )
    while drain.brpop(["scan:requests"], timeout=0.1):
        pass
    department = officer(f"antt.{uuid.uuid4().hex[:8]}")
    district = officer(f"antt.q1.{uuid.uuid4().hex[:8]}", unit="phong-760")

    assert _ask(stack, district).status_code == 403  # a district does not scan the province
    assert _ask(stack, department, csrf="x" * 32).status_code == 403  # no CSRF token
    asked = _ask(stack, department)
    assert asked.status_code == 303, asked.text
    assert _ask(stack, department).status_code == 409  # one request waits at most
    deadline = time.monotonic() + 30  # events reach the log through Redis and the ingestor
    while True:
        requests = audit_events(stack_info, reader, tag="audit:scan:request", limit="100")
        mine = [r for r in requests if r["actor"]["name"] == department["actor"]]
        if len(mine) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(mine) == 2  # every ask is recorded, the refused second one too
    assert not [r for r in requests if r["actor"]["name"] == district["actor"]]

    # A producer cannot queue a scan (nor can the scanners themselves).
    for user in ("signing", "scanners"):
        client = redis.Redis.from_url(
            stack_info.redis_url, username=user, password=stack.redis_password(user)
        )
        with pytest.raises(NoPermissionError):
            client.lpush("scan:requests", '{"request_id": "x", "by": "x", "at": "x"}')

    before = _scan_ids(stack_info, reader)
    log = stack.folder / "logs" / "scan-requests-test.log"
    with log.open("w") as output:
        scanner = subprocess.Popen(
            [
                sys.executable, "-m", "scanners.cli", "run", "--stack", str(stack.folder),
                "--every", "3600", "--dast-seconds", "0",
            ],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # Its scheduled run, then at once the one asked for (not an hour later).
            deadline = time.monotonic() + 420
            while len(_scan_ids(stack_info, reader) - before) < 2:
                assert scanner.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(2)
        finally:
            scanner.terminate()
            scanner.wait(timeout=30)
    assert "scan requested by " + department["actor"] in log.read_text()
    page = httpx.get(
        f"{stack_info.audit_url}/dashboard/compliance",
        cookies={COOKIE: session_cookie(stack, department)},
        timeout=30,
    )
    assert 'id="last-request"' in page.text and "đã quét xong" in page.text
