"""What a scan produced, in the forms people and tools read: a score, new and fixed findings since the
last scan, audit events, and SARIF 2.1.0 (GitHub code scanning, DefectDojo and most security tools
import it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from audit.events import Actor, AuditEvent, EventTag, Outcome
from policies import Rule, Severity, Violation, compliance_score
from policies.models import SEVERITY_COST

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "edu-gateway-scanners"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}


def score(findings: Iterable[Violation]) -> int:
    return compliance_score(f.severity for f in findings)


def fingerprint(system: str, finding: Violation) -> str:
    """Stable identity of a finding across scans: the system, the rule and what broke it."""
    return hashlib.sha256(f"{system}|{finding.rule_id}|{finding.subject}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ScanResult:
    system: str
    kind: str  # realm, headers, tls, accounts
    #: Every finding, open or accepted (those accepted carry their reason).
    findings: list[Violation]
    #: Fingerprints of the previous scan of the same system and kind (None: first scan).
    previous: frozenset[str] | None = None

    @property
    def open(self) -> list[Violation]:
        return [f for f in self.findings if not f.accepted]

    @property
    def accepted(self) -> list[Violation]:
        return [f for f in self.findings if f.accepted]

    @property
    def fingerprints(self) -> dict[str, Violation]:
        """The open findings by fingerprint."""
        return {fingerprint(self.system, f): f for f in self.open}

    @property
    def new(self) -> list[Violation]:
        if self.previous is None:
            return self.open
        return [f for key, f in self.fingerprints.items() if key not in self.previous]

    @property
    def fixed(self) -> list[str]:
        """Open last time, gone now (a finding accepted since is not "fixed": it is accepted)."""
        accepted = {fingerprint(self.system, f) for f in self.accepted}
        return sorted((self.previous or frozenset()) - self.fingerprints.keys() - accepted)

    @property
    def score(self) -> int:
        return score(self.open)

    def audit_events(self, scan_id: str, actor: Actor) -> list[AuditEvent]:
        """One event per open finding (with its fingerprint), per accepted one (with its reason),
        per fixed one, and the run's summary.

        Event ids are derived from the scan and the finding, so a retried recording stores each once.
        """

        def event_id(*parts: str) -> str:
            material = "|".join((scan_id, self.kind, self.system, *parts))
            return hashlib.sha256(material.encode()).hexdigest()[:32]

        def described(finding: Violation) -> dict[str, str]:
            return {
                "system": self.system,
                "scan": self.kind,
                "scan_id": scan_id,
                "rule": finding.rule_id,
                "severity": finding.severity.value,
                "subject": finding.subject[:200],
                "evidence": finding.evidence[:300],
                **({"unit": finding.unit} if finding.unit else {}),
            }

        events = [
            AuditEvent.build(
                tag=EventTag.SCAN_FINDING_OPEN,
                service="scanners",
                actor=actor,
                outcome=Outcome.FAILURE,
                target={
                    **described(finding),
                    "fingerprint": key,
                    "new": str(self.previous is None or key not in self.previous).lower(),
                },
                event_id=event_id(key),
                unit=finding.unit,
            )
            for key, finding in self.fingerprints.items()
        ]
        events += [
            AuditEvent.build(
                tag=EventTag.SCAN_FINDING_ACCEPTED,
                service="scanners",
                actor=actor,
                outcome=Outcome.SUCCESS,
                target={**described(finding), "reason": str(finding.accepted)[:300]},
                event_id=event_id("accepted", fingerprint(self.system, finding)),
                unit=finding.unit,
            )
            for finding in self.accepted
        ]
        events += [
            AuditEvent.build(
                tag=EventTag.SCAN_FINDING_FIXED,
                service="scanners",
                actor=actor,
                outcome=Outcome.SUCCESS,
                target={
                    "system": self.system,
                    "scan": self.kind,
                    "scan_id": scan_id,
                    "fingerprint": key,
                },
                event_id=event_id("fixed", key),
            )
            for key in self.fixed
        ]
        events.append(
            AuditEvent.build(
                tag=EventTag.SCAN_RUN_COMPLETE,
                service="scanners",
                actor=actor,
                outcome=Outcome.SUCCESS if not self.open else Outcome.FAILURE,
                target={
                    "system": self.system,
                    "scan": self.kind,
                    "scan_id": scan_id,
                    "findings": str(len(self.open)),
                    "accepted": str(len(self.accepted)),
                    "new": str(len(self.new)),
                    "fixed": str(len(self.fixed)),
                    "score": str(self.score),
                },
                event_id=event_id("run"),
            )
        )
        return events


def to_sarif(results: Iterable[ScanResult], rules: Iterable[Rule]) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: every rule, and every finding located at its system."""
    results = list(results)
    used = {f.rule_id for r in results for f in r.findings}
    rule_list = [rule for rule in rules if rule.id in used]
    index = {rule.id: i for i, rule in enumerate(rule_list)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "informationUri": "https://github.com/",
                        "rules": [
                            {
                                "id": rule.id,
                                "name": rule.check,
                                "shortDescription": {"text": rule.title.en},
                                "fullDescription": {"text": f"{rule.title.vi} / {rule.title.en}"},
                                "help": {
                                    "text": f"{rule.remediation.vi}\n{rule.remediation.en}",
                                },
                                "defaultConfiguration": {"level": _LEVEL[rule.severity]},
                                "properties": {
                                    "security-severity": str(SEVERITY_COST[rule.severity] / 4),
                                    "severity": rule.severity.value,
                                    "sources": list(rule.sources),
                                },
                            }
                            for rule in rule_list
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": finding.rule_id,
                        "ruleIndex": index[finding.rule_id],
                        "level": _LEVEL[finding.severity],
                        "message": {"text": f"{finding.subject}: {finding.evidence}"},
                        "locations": [
                            {
                                "physicalLocation": {"artifactLocation": {"uri": result.system}},
                                "logicalLocations": [{"name": finding.subject}],
                            }
                        ],
                        "partialFingerprints": {
                            "gatewayFinding/v1": fingerprint(result.system, finding)
                        },
                        "properties": {"scan": result.kind, "new": finding in result.new},
                        # SARIF's own way of saying "looked at and accepted" (§3.35).
                        **(
                            {
                                "suppressions": [
                                    {
                                        "kind": "external",
                                        "status": "accepted",
                                        "justification": finding.accepted,
                                    }
                                ]
                            }
                            if finding.accepted
                            else {}
                        ),
                    }
                    for result in results
                    for finding in result.findings
                ],
            }
        ],
    }
