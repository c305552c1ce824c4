"""The shape of a policy file: rules with an id, a severity, their sources, and Vietnamese-first text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: Points a finding costs, from 100, in the manner of the Mozilla HTTP Observatory's score.
SEVERITY_COST = {Severity.CRITICAL: 40, Severity.HIGH: 20, Severity.MEDIUM: 10, Severity.LOW: 3}


def compliance_score(severities: Iterable[Severity]) -> int:
    """A system's (or a school's) score: 100 less the cost of each open finding, at least 0."""
    return max(0, 100 - sum(SEVERITY_COST[s] for s in severities))


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z]{2,8}-\d{3}$")
    title: Text
    severity: Severity
    sources: list[str] = Field(min_length=1)
    #: What the rule judges: a Keycloak realm and its clients, or a web system's HTTP response.
    target: Literal["realm", "web", "accounts", "tls", "gateway", "records", "dast"] = "realm"
    check: str = Field(pattern=r"^[a-z_]+$")
    params: dict[str, Any] = Field(default_factory=dict)
    remediation: Text


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(min_length=1)


class Violation(BaseModel):
    """One rule broken by one subject (the realm, or a client named in ``subject``)."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    severity: Severity
    subject: str
    evidence: str
    title: Text
    remediation: Text
    #: The unit (school, district office) the subject belongs to, where known (accounts).
    unit: str | None = None
    #: Why the department accepts it (recorded next to the configuration), or None: open.
    accepted: str | None = None

    def line(self) -> str:
        line = f"{self.rule_id} [{self.severity.value}] {self.subject}: {self.evidence}"
        return f"{line} (chấp nhận / accepted: {self.accepted})" if self.accepted else line


#: Findings accepted with their reason, by (rule id, subject).
Acceptances = Mapping[tuple[str, str], str]


def with_acceptances(violations: Iterable[Violation], accepted: Acceptances) -> list[Violation]:
    """The violations, those listed in ``accepted`` marked with their reason."""
    return [
        v.model_copy(update={"accepted": accepted[(v.rule_id, v.subject)]})
        if (v.rule_id, v.subject) in accepted
        else v
        for v in violations
    ]
