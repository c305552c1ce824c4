"""``gateway-scan run`` against the running stack: findings recorded as audit events, SARIF written,
and a second run tells new findings from known ones."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import Stack, StackInfo
from devstack.connection_file import SCAN_ACCOUNT
from tests.audit_events import wait_for_events
from tests.conftest import TokenFactory

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]


def _scan(stack: Stack, sarif: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scanners.cli",
            "run",
            "--stack",
            str(stack.folder),
            "--sarif",
            str(sarif),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _runs(info: StackInfo, token: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(
        f"{info.audit_url}/v1/events",
        params={"tag": "scan:run:complete", "limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["events"]
    return events


def test_scan_records_findings_writes_sarif_and_tracks_new_ones(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path
) -> None:
    first = _scan(stack, tmp_path / "first.sarif", "--dast-seconds", "30")
    # The demo's privileged accounts have no second factor (IDP-008, high): exit code 4.
    assert first.returncode == 4, first.stdout + first.stderr
    sarif = json.loads((tmp_path / "first.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "IDP-008" and r["level"] == "error" for r in results)
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in results} <= rules
    # The gateway's own services were scanned too (headers, and wapiti's dynamic scan from their
    # pages and OpenAPI documents), and came out clean.
    assert f"headers  {stack_info.signing_url}/" in first.stdout
    for service in (stack_info.signing_url, stack_info.audit_url):
        assert any(
            line.startswith(f"dast     {service}/") and "điểm/score 100" in line
            for line in first.stdout.splitlines()
        ), first.stdout
    # The dashboard was scanned logged in: its scanning account logged in through Keycloak (its
    # second factor enrolled at that first login) and the pages it read are in the log under it.
    assert "login failed" not in first.stdout, first.stdout
    reader = client_token("audit-reports")
    deadline = time.monotonic() + 15
    while True:
        viewed = wait_for_events(stack_info, reader, actor=SCAN_ACCOUNT, limit="1000")
        channels = {e["target"].get("channel") for e in viewed} - {None}
        if len(channels) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(channels) >= 2, viewed
    # The realm's accepted exceptions: in SARIF as suppressed (accepted), with their reason.
    suppressed = [r for r in results if r.get("suppressions")]
    assert {r["ruleId"] for r in suppressed} == {"IDP-001"}
    assert all(r["suppressions"][0]["status"] == "accepted" for r in suppressed)
    realm_line = next(line for line in first.stdout.splitlines() if line.startswith("realm"))
    assert "điểm/score 100" in realm_line and "chấp nhận/accepted" in realm_line
    # The demo's registered systems that do not exist: one line each, saying why in both
    # languages; the detail is in the log, never a traceback on the console.
    not_scanned = [line for line in first.stdout.splitlines() if "not scanned" in line]
    assert any("sogddt.example.vn" in line for line in not_scanned), first.stdout
    for line in not_scanned:
        if "sogddt.example.vn" in line:
            assert "không phân giải được tên miền / the name does not resolve" in line, line
    assert "Traceback" not in first.stdout and "_do_dns_lookup" not in first.stdout
    assert "scan.not_scanned" in (stack.folder / "logs" / "gateway-scan.log").read_text()
    # The gateway's own audit log is read for personal data (Law 91/2025/QH15): none there.
    privacy_line = next(line for line in first.stdout.splitlines() if line.startswith("privacy"))
    found = [
        (r["ruleId"], r["message"]["text"][:160])
        for r in results
        if str(r["ruleId"]).startswith("PRIV") and not r.get("suppressions")
    ]
    assert "audit-log" in privacy_line and "0 phát hiện/findings" in privacy_line, found

    reader = client_token("audit-reports")
    deadline = time.monotonic() + 30
    while not any(e["target"]["scan"] == "accounts" for e in _runs(stack_info, reader)):
        assert time.monotonic() < deadline, "the scan's summary never reached the audit log"
        time.sleep(0.3)
    accounts_run = next(e for e in _runs(stack_info, reader) if e["target"]["scan"] == "accounts")
    assert int(accounts_run["target"]["findings"]) >= 1
    assert int(accounts_run["target"]["score"]) < 100

    second = _scan(stack, tmp_path / "second.sarif", "--dast-seconds", "0")
    assert second.returncode == 4
    accounts_line = next(line for line in second.stdout.splitlines() if line.startswith("accounts"))
    assert "0 mới/new" in accounts_line
    # A time budget spent before the web systems: they are named as not scanned, not reported fixed.
    hurried = _scan(
        stack, tmp_path / "third.sarif", "--budget-seconds", "0.001", "--dast-seconds", "0"
    )
    assert "time budget of 0.001 s spent" in hurried.stdout, hurried.stdout
    assert not any(line.startswith("headers") for line in hurried.stdout.splitlines())
