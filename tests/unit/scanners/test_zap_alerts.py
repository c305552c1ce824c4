"""OWASP ZAP's alerts (the JSON of ``/JSON/alert/view/alerts/``, as ZAP's API documents it), named in
the rules' vocabulary and judged by the same DAST rules as wapiti's."""

from __future__ import annotations

from typing import Any

from policies import evaluate_dast
from policies.dast_checks import DastObservation
from scanners.zap import ZapSettings, zap_alerts


def _alert(plugin: str, name: str, url: str, param: str, **fields: Any) -> dict[str, Any]:
    """One alert with the fields ZAP's API returns (https://www.zaproxy.org/docs/alerts/)."""
    return {
        "sourceid": "1",
        "other": "",
        "method": "GET",
        "evidence": "<scrIpt>alert(1);</scRipt>",
        "pluginId": plugin,
        "cweid": "79",
        "confidence": "Medium",
        "wascid": "8",
        "description": "...",
        "messageId": "42",
        "inputVector": "queryparam",
        "url": url,
        "tags": {},
        "reference": "",
        "solution": "...",
        "alert": name,
        "param": param,
        "attack": "<scrIpt>alert(1);</scRipt>",
        "name": name,
        "risk": "High",
        "id": "7",
        "alertRef": plugin,
        **fields,
    }


ALERTS = [
    _alert("40012", "Cross Site Scripting (Reflected)", "http://app:8080/search?q=x", "q"),
    _alert("40018", "SQL Injection", "http://app:8080/item?id=1", "id"),
    _alert("20019", "External Redirect", "http://app:8080/go?next=x", "next", risk="High"),
    _alert("10202", "Absence of Anti-CSRF Tokens", "http://app:8080/form", "", method="POST"),
    # Passive header checks are the headers scanner's; informational alerts have no rule.
    _alert("10038", "Content Security Policy (CSP) Header Not Set", "http://app:8080/", ""),
    _alert(
        "10104", "User Agent Fuzzer", "http://app:8080/", "Header User-Agent", risk="Informational"
    ),
    # An alert a person marked as a false positive in ZAP is not a finding.
    _alert(
        "40012",
        "Cross Site Scripting (Reflected)",
        "http://app:8080/ok?q=x",
        "q",
        confidence="False Positive",
    ),
]


def test_zap_alerts_become_the_same_findings_as_wapitis() -> None:
    named = zap_alerts(ALERTS)
    assert [(a.category, a.path, a.parameter) for a in named] == [
        ("xss", "/search", "q"),
        ("sqli", "/item", "id"),
        ("open-redirect", "/go", "next"),
        ("csrf", "/form", ""),
    ]
    findings = evaluate_dast(DastObservation("http://app:8080/", "zap", named))
    assert sorted((v.rule_id, v.subject) for v in findings) == [
        ("DAST-001", "GET /search (q)"),
        ("DAST-002", "GET /item (id)"),
        ("DAST-003", "GET /go (next)"),
        ("DAST-007", "POST /form"),
    ]
    assert all(v.evidence.startswith("zap: ") for v in findings)


def test_zap_is_used_only_when_a_daemon_is_named() -> None:
    assert ZapSettings.from_environment({}) is None
    assert ZapSettings.from_environment({"ZAP_URL": "http://zap:8090"}) is None  # no key
    settings = ZapSettings.from_environment({"ZAP_URL": "http://zap:8090/", "ZAP_API_KEY": "k"})
    assert settings == ZapSettings("http://zap:8090", "k")
