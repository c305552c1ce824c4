"""The compliance picture a security officer hands to the department, read from the audit log.

The scanners record every run (``scan:run:complete``), every open finding (``scan:finding:open``) and
every finding the configuration accepts with its reason (``scan:finding:accepted``) as audit events; this module takes the latest run of each system and kind of scan, its findings with
the remediation of the rule they break, and the findings of accounts grouped by the school (unit) the
account belongs to. The dashboard shows it, and renders it as HTML and as a PDF sealed by the
signing service (:func:`compliance_pdf`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.exports import new_report_pdf
from audit.store import EventSearch, EventStore
from gateway_runtime.local_time import for_people
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
    #: Why the department accepts it (``scan:finding:accepted``); None for an open finding.
    accepted: str | None = None


@dataclass
class SystemCompliance:
    system: str
    scan: str
    scanned_at: str
    score: int
    new: int
    fixed: int
    findings: list[Finding] = field(default_factory=list)
    #: Findings accepted with a reason: shown, not counted.
    accepted: list[Finding] = field(default_factory=list)


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
        run_id = str(run.get("scan_id"))
        for finding in _run_findings(store, "open", run_id, system, scan, units, remediation):
            status.findings.append(finding)
            if finding.unit:
                by_unit.setdefault(finding.unit, UnitCompliance(finding.unit)).by_severity[
                    finding.severity
                ] += 1
        if (
            units is None
        ):  # the department's view: accepted exceptions are the realm's, not a unit's
            status.accepted = list(
                _run_findings(store, "accepted", run_id, system, scan, units, remediation)
            )
        status.findings.sort(key=lambda f: (_RANK.get(f.severity, 9), f.rule, f.subject))
        status.accepted.sort(key=lambda f: (f.rule, f.subject, f.evidence))
        if units is None or status.findings:
            summary.systems.append(status)
    summary.units = sorted(by_unit.values(), key=lambda u: (u.score, u.unit))
    return summary


_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _run_findings(
    store: EventStore,
    state: str,
    run_id: str,
    system: str,
    scan: str,
    units: frozenset[str] | None,
    remediation: dict[str, str],
) -> Iterator[Finding]:
    """The findings one run recorded as ``scan:finding:<state>`` (open or accepted) for a system."""
    rows = store.search(
        EventSearch(tag=f"scan:finding:{state}", text=run_id, units=units),
        limit=_FINDINGS_PER_RUN,
    )
    for row in rows:
        target = row.event.get("target") or {}
        if target.get("system") != system or target.get("scan") != scan:
            continue
        yield Finding(
            rule=str(target.get("rule")),
            severity=str(target.get("severity")),
            subject=str(target.get("subject")),
            evidence=str(target.get("evidence")),
            remediation=remediation.get(str(target.get("rule")), ""),
            new=target.get("new") == "true",
            unit=target.get("unit"),
            accepted=str(target["reason"]) if "reason" in target else None,
        )


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
        f"{organisation}\nLập lúc / generated {for_people(summary.generated_at)} · "
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
        _findings_section(
            pdf,
            f"{status.system} · {status.scan} ({status.score}/100)",
            [
                f"{f.rule} [{f.severity}]{' (mới / new)' if f.new else ''} {f.subject}: "
                f"{f.evidence}\n    → {f.remediation}"
                for f in status.findings
            ],
        )
    for status in summary.systems:
        _findings_section(
            pdf,
            f"{status.system} · {status.scan}: đã chấp nhận / accepted",
            [
                f"{f.rule} [{f.severity}] {f.subject}: {f.evidence}\n    lý do / reason: {f.accepted}"
                for f in status.accepted
            ],
        )
    pdf.ln(4)
    pdf.set_font("Noto", size=8)
    pdf.multi_cell(
        0,
        4.5,
        "Kết quả đọc từ nhật ký kiểm toán (sự kiện scan:*), được ký số bằng dấu của cơ quan. / "
        "Read from the audit log (scan:* events); sealed by the organisation.",
    )
    return bytes(pdf.output())


def _findings_section(pdf: Any, heading: str, lines: list[str], shown: int = 200) -> None:
    """A system's findings (or accepted ones) in the PDF: nothing when there are none."""
    if not lines:
        return
    pdf.ln(3)
    pdf.set_font("Noto", size=11)
    pdf.multi_cell(0, 6.5, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=8)
    for line in lines[:shown]:
        pdf.multi_cell(0, 4.3, line, new_x="LMARGIN", new_y="NEXT")
    if len(lines) > shown:
        pdf.multi_cell(0, 4.3, f"… {len(lines) - shown} more (SARIF export)")
