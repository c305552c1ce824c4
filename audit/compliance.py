"""The compliance picture a security officer hands to the department, read from the audit log.

The scanners record every run (``scan:run:complete``) and every open finding (``scan:finding:open``)
as audit events; this module takes the latest run of each system and kind of scan, its findings with
the remediation of the rule they break, and the findings of accounts grouped by the school (unit) the
account belongs to. The dashboard shows it, and renders it as HTML and as a PDF sealed by the
signing service (:func:`compliance_pdf`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.exports import new_report_pdf
from audit.store import EventSearch, EventStore
from policies import Severity, compliance_score, default_rules

#: How many runs and findings are read back (the latest run of each system comes first).
_RUNS = 5000
_FINDINGS_PER_RUN = 20_000


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    subject: str
    evidence: str
    remediation: str
    new: bool
    unit: str | None


@dataclass
class SystemCompliance:
    system: str
    scan: str
    scanned_at: str
    score: int
    new: int
    fixed: int
    findings: list[Finding] = field(default_factory=list)


@dataclass
class UnitCompliance:
    unit: str
    by_severity: Counter[str] = field(default_factory=Counter)

    @property
    def score(self) -> int:
        return compliance_score(
            Severity(severity) for severity, count in self.by_severity.items() for _ in range(count)
        )


@dataclass
class ComplianceSummary:
    generated_at: datetime
    systems: list[SystemCompliance] = field(default_factory=list)
    units: list[UnitCompliance] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return sum(len(s.findings) for s in self.systems)


def compliance_summary(
    store: EventStore, *, units: frozenset[str] | None = None
) -> ComplianceSummary:
    """The latest run of every (system, kind of scan) and its open findings; with ``units`` (a
    district officer's scope) only the findings of those units, and the systems that have any."""
    remediation = {rule.id: rule.remediation.vi for rule in default_rules()}
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.search(EventSearch(tag="scan:run:complete"), limit=_RUNS):  # newest first
        target = row.event.get("target") or {}
        key = (str(target.get("system")), str(target.get("scan")))
        latest.setdefault(key, {**target, "time": row.event["time"]})
    summary = ComplianceSummary(generated_at=datetime.now(UTC))
    by_unit: dict[str, UnitCompliance] = {}
    for (system, scan), run in sorted(latest.items()):
        status = SystemCompliance(
            system=system,
            scan=scan,
            scanned_at=str(run["time"]),
            score=int(run.get("score", 0)),
            new=int(run.get("new", 0)),
            fixed=int(run.get("fixed", 0)),
        )
        rows = store.search(
            EventSearch(tag="scan:finding:open", text=str(run.get("scan_id")), units=units),
            limit=_FINDINGS_PER_RUN,
        )
        for row in rows:
            target = row.event.get("target") or {}
            if target.get("system") != system or target.get("scan") != scan:
                continue
            finding = Finding(
                rule=str(target.get("rule")),
                severity=str(target.get("severity")),
                subject=str(target.get("subject")),
                evidence=str(target.get("evidence")),
                remediation=remediation.get(str(target.get("rule")), ""),
                new=target.get("new") == "true",
                unit=target.get("unit"),
            )
            status.findings.append(finding)
            if finding.unit:
                by_unit.setdefault(finding.unit, UnitCompliance(finding.unit)).by_severity[
                    finding.severity
                ] += 1
        status.findings.sort(key=lambda f: (_RANK.get(f.severity, 9), f.rule, f.subject))
        if units is None or status.findings:
            summary.systems.append(status)
    summary.units = sorted(by_unit.values(), key=lambda u: (u.score, u.unit))
    return summary


_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def compliance_pdf(
    summary: ComplianceSummary, *, organisation: str = "Sở Giáo dục và Đào tạo"
) -> bytes:
    """The compliance report as a PDF in Noto Sans (embedded: the Vietnamese reads back exactly)."""
    pdf = new_report_pdf(
        "Báo cáo tuân thủ an toàn thông tin", "Compliance report", organisation=organisation
    )
    pdf.set_font("Noto", size=10)
    pdf.multi_cell(
        0,
        6,
        f"{organisation}\nLập lúc / generated {summary.generated_at:%Y-%m-%d %H:%M} UTC · "
        f"{len(summary.systems)} hệ thống-lần quét / system scans · {summary.findings} phát hiện "
        "/ findings",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font("Noto", size=12)
    pdf.multi_cell(0, 7, "Điểm theo hệ thống / Score per system", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=9)
    for status in summary.systems:
        pdf.cell(120, 5.5, f"{status.system} · {status.scan}"[:80])
        pdf.cell(25, 5.5, f"{status.score}/100", align="R")
        pdf.cell(45, 5.5, f"{len(status.findings)} / +{status.new} / -{status.fixed}", align="R")
        pdf.ln(5.5)
    if summary.units:
        pdf.ln(2)
        pdf.set_font("Noto", size=12)
        pdf.multi_cell(
            0, 7, "Tài khoản theo trường / Accounts per school", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.set_font("Noto", size=9)
        for unit in summary.units:
            counts = ", ".join(f"{s}: {n}" for s, n in sorted(unit.by_severity.items()))
            pdf.cell(60, 5.5, unit.unit)
            pdf.cell(25, 5.5, f"{unit.score}/100", align="R")
            pdf.cell(105, 5.5, f"  {counts}"[:70])
            pdf.ln(5.5)
    for status in summary.systems:
        if not status.findings:
            continue
        pdf.ln(3)
        pdf.set_font("Noto", size=11)
        pdf.multi_cell(
            0,
            6.5,
            f"{status.system} · {status.scan} ({status.score}/100)",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Noto", size=8)
        for finding in status.findings[:200]:
            pdf.multi_cell(
                0,
                4.3,
                f"{finding.rule} [{finding.severity}]{' (mới / new)' if finding.new else ''} "
                f"{finding.subject}: {finding.evidence}\n"
                f"    → {finding.remediation}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
        if len(status.findings) > 200:
            pdf.multi_cell(0, 4.3, f"… {len(status.findings) - 200} more (SARIF export)")
    pdf.ln(4)
    pdf.set_font("Noto", size=8)
    pdf.multi_cell(
        0,
        4.5,
        "Kết quả đọc từ nhật ký kiểm toán (sự kiện scan:*), được ký số bằng dấu của cơ quan. / "
        "Read from the audit log (scan:* events); sealed by the organisation.",
    )
    return bytes(pdf.output())
