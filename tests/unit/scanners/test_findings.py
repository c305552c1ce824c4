"""Scores, new and fixed findings, audit events and SARIF of a scan result."""

from __future__ import annotations

from audit.events import Actor, EventTag
from policies import Severity, Violation, default_rules
from scanners.findings import ScanResult, fingerprint, score, to_sarif


def _finding(rule: str, severity: Severity, subject: str = "client:x") -> Violation:
    template = next(r for r in default_rules() if r.id == rule)
    return Violation(
        rule_id=rule,
        severity=severity,
        subject=subject,
        evidence="evidence",
        title=template.title,
        remediation=template.remediation,
    )


def test_score_and_new_versus_fixed() -> None:
    old = _finding("WEB-002", Severity.HIGH)
    kept = _finding("WEB-001", Severity.MEDIUM)
    new = _finding("WEB-003", Severity.LOW)
    previous = frozenset({fingerprint("https://a/", old), fingerprint("https://a/", kept)})
    result = ScanResult("https://a/", "headers", [kept, new], previous)
    assert result.new == [new]
    assert result.fixed == [fingerprint("https://a/", old)]
    assert result.score == score([kept, new]) == 100 - 10 - 3
    first = ScanResult("https://a/", "headers", [kept], None)
    assert first.new == [kept] and first.fixed == []


def test_audit_events_are_one_per_finding_fixed_and_run_with_distinct_ids() -> None:
    result = ScanResult(
        "https://a/",
        "headers",
        [_finding("WEB-001", Severity.MEDIUM), _finding("WEB-003", Severity.LOW)],
        frozenset({"f" * 32}),
    )
    events = result.audit_events("scan-1", Actor(name="scanner"))
    tags = [e.tag for e in events]
    assert tags.count(EventTag.SCAN_FINDING_OPEN) == 2
    assert tags.count(EventTag.SCAN_FINDING_FIXED) == 1
    assert tags[-1] is EventTag.SCAN_RUN_COMPLETE
    other = ScanResult("https://b/", "headers", [], None).audit_events("scan-1", Actor(name="s"))
    ids = {e.event_id for e in events} | {e.event_id for e in other}
    assert len(ids) == len(events) + len(other)  # a retry stores each once; systems never collide
    assert events[-1].target["score"] == "87"


def test_sarif_lists_each_used_rule_once_and_locates_results() -> None:
    results = [
        ScanResult("https://a/", "headers", [_finding("WEB-001", Severity.MEDIUM)], None),
        ScanResult("https://b/", "tls", [_finding("WEB-001", Severity.MEDIUM, "b:443")], None),
    ]
    log = to_sarif(results, default_rules())
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["WEB-001"]
    assert [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    ] == [
        "https://a/",
        "https://b/",
    ]
    assert all(r["level"] == "warning" and r["ruleIndex"] == 0 for r in run["results"])


def test_an_accepted_finding_costs_nothing_is_recorded_with_its_reason_and_suppressed_in_sarif() -> (
    None
):
    reason = "Keycloak's own console, under its own address"
    accepted = _finding("IDP-001", Severity.CRITICAL, "client account-console").model_copy(
        update={"accepted": reason}
    )
    still_open = _finding("IDP-007", Severity.HIGH, "client admin-cli")
    result = ScanResult("keycloak:education", "realm", [accepted, still_open], None)
    assert result.open == [still_open] and result.accepted == [accepted]
    assert result.score == 100 - 20  # the accepted critical costs nothing
    assert result.new == [still_open]
    events = result.audit_events("scan-1", Actor(name="scanner"))
    [recorded] = [e for e in events if e.tag is EventTag.SCAN_FINDING_ACCEPTED]
    assert recorded.target["reason"] == reason and recorded.target["rule"] == "IDP-001"
    assert [e.target["rule"] for e in events if e.tag is EventTag.SCAN_FINDING_OPEN] == ["IDP-007"]
    assert events[-1].target["accepted"] == "1" and events[-1].target["findings"] == "1"
    results = to_sarif([result], default_rules())["runs"][0]["results"]
    suppressed = {r["ruleId"]: r.get("suppressions") for r in results}
    assert suppressed["IDP-001"] == [
        {"kind": "external", "status": "accepted", "justification": reason}
    ]
    assert suppressed["IDP-007"] is None
    # Accepting it later is not "fixed": it leaves the open list, and says why.
    previous = frozenset({fingerprint("keycloak:education", accepted)})
    later = ScanResult("keycloak:education", "realm", [accepted], previous)
    assert later.open == [] and later.fixed == [] and later.score == 100
