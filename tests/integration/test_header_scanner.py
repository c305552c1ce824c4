"""The headers scanner, rule by rule, against a deliberately weak web app on loopback, and against the
gateway's own services; and the target registry refusing everything it does not hold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from devstack import StackInfo
from scanners import TargetNotRegistered, TargetRegistry, scan_headers
from tests.weak_app import weak_app


@pytest.fixture(scope="module")
def weak() -> Iterator[str]:
    with weak_app() as url:
        yield url


def test_weak_app_is_caught_rule_by_rule(weak: str) -> None:
    findings = asyncio.run(scan_headers(weak, TargetRegistry([weak], loopback_allowed=True)))
    found = {(v.rule_id, v.subject) for v in findings}
    assert {rule for rule, _ in found} == {"WEB-001", "WEB-003", "WEB-004", "WEB-005", "WEB-006"}
    assert ("WEB-006", "cookie SESSIONID") in found
    assert all(v.remediation.vi for v in findings)


@pytest.mark.keycloak
def test_the_gateway_own_services_have_no_high_or_medium_finding(stack_info: StackInfo) -> None:
    registry = TargetRegistry([stack_info.signing_url, stack_info.audit_url], loopback_allowed=True)
    for url in (
        f"{stack_info.signing_url}/health",
        f"{stack_info.audit_url}/health",
        f"{stack_info.signing_url}/verify",
    ):
        findings = asyncio.run(scan_headers(url, registry))
        assert [v.line() for v in findings if v.severity.value in {"high", "medium"}] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",  # another port of the same host
        "http://evil.example/?next=http://127.0.0.1",
        "http://127.0.0.1@evil.example/",
        "http://registered@127.0.0.1:8080/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:8080/",
        "http://[::1]:8080/",
        "not a url",
    ],
)
def test_anything_not_registered_is_refused_before_sending(url: str) -> None:
    registry = TargetRegistry(["http://127.0.0.1:8080/app"], loopback_allowed=True)
    with pytest.raises(TargetNotRegistered):
        registry.require(url)
    with pytest.raises(TargetNotRegistered):
        asyncio.run(scan_headers(url, registry))


def test_registry_from_the_realm_holds_the_clients_origins() -> None:
    from idp_config.model import RealmSpec

    spec = RealmSpec.model_validate(
        {
            "realm": "education",
            "clients": [
                {
                    "client_id": "lms",
                    "access_type": "web",
                    "redirect_uris": ["https://lms.sogd.vn/callback"],
                }
            ],
        }
    )
    registry = TargetRegistry.from_realm(spec)
    assert registry.require("https://lms.sogd.vn/login") == "https://lms.sogd.vn/login"
    with pytest.raises(TargetNotRegistered):
        registry.require("https://lms.sogd.vn.evil.example/")
