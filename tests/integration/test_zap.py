"""OWASP ZAP, the second DAST engine, against the weak app: only where a real ZAP daemon runs
(``ZAP_URL``, ``ZAP_API_KEY``). ZAP cannot be installed from the package registries
(``docs/compliance.md``), so on machines without one this is skipped, saying why."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from scanners import TargetRegistry
from scanners.zap import ZapSettings, scan_with_zap
from tests.weak_app import weak_app


@pytest.fixture(scope="module")
def zap() -> ZapSettings:
    settings = ZapSettings.from_environment()
    if settings is None:
        pytest.skip(
            "no OWASP ZAP daemon: set ZAP_URL and ZAP_API_KEY (ZAP is not in the registries)"
        )
    try:
        httpx.get(
            f"{settings.url}/JSON/core/view/version/",
            params={"apikey": settings.api_key},
            timeout=5,
        ).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"ZAP at {settings.url} does not answer ({type(exc).__name__})")
    return settings


def test_zap_finds_the_weak_apps_injections(zap: ZapSettings) -> None:
    with weak_app() as url:
        findings = asyncio.run(
            scan_with_zap(
                url, TargetRegistry([url], loopback_allowed=True), zap, budget_seconds=300
            )
        )
    found = {(v.rule_id, v.subject) for v in findings}
    assert ("DAST-001", "GET /search (q)") in found
    assert ("DAST-002", "GET /item (id)") in found
