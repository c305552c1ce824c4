"""``/dashboard/compliance``: per system and kind of scan, the latest score, new and fixed
findings and the trend (the department's view; a district sees its schools' accounts), and the
compliance report with every finding's remediation, as a page and as a sealed PDF
(:mod:`audit.compliance`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from audit.charts import Series, bar_chart
from audit.compliance import compliance_pdf, compliance_summary
from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import COMPLIANCE, page
from audit.routes.dashboard.reports import signed_pdf
from audit.store import EventSearch, StoredEvent

router = APIRouter(include_in_schema=False)

#: Scan runs read back, and how many of a system's latest runs its trend shows.
RUNS_READ = 2000
TREND_RUNS = 20


@dataclass(frozen=True)
class ScanHistory:
    system: str
    kind: str
    #: The runs' targets (score, findings, new, fixed) with their time, oldest first.
    runs: list[dict[str, Any]]

    @property
    def latest(self) -> dict[str, Any]:
        return self.runs[-1]


@dataclass(frozen=True)
class Trend:
    system: str
    kind: str
    chart: Markup


def scan_histories(runs: list[StoredEvent]) -> list[ScanHistory]:
    """The runs (oldest first) per system and kind of scan, in the order of their names."""
    by_system: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in runs:
        target = row.event.get("target") or {}
        by_system.setdefault((str(target.get("system")), str(target.get("scan"))), []).append(
            {**target, "time": row.event["time"]}
        )
    return [
        ScanHistory(system, kind, history) for (system, kind), history in sorted(by_system.items())
    ]


def trends(histories: list[ScanHistory]) -> list[Trend]:
    """A score chart for each system scanned more than once."""
    charts = []
    for index, history in enumerate(histories):
        if len(history.runs) < 2:
            continue
        recent = history.runs[-TREND_RUNS:]
        series = [
            Series(str(Text("Điểm", "Score")), [int(h.get("score", 0)) for h in recent], "#1a73e8")
        ]
        chart = bar_chart(
            f"{Text('Xu hướng điểm', 'Score trend')}: {history.system} {history.kind}",
            [str(h["time"])[5:16] for h in recent],
            series,
            chart_id=f"chart-trend-{index}",
        )
        charts.append(Trend(history.system, history.kind, chart))
    return charts


@router.get("/dashboard/compliance")
async def compliance(
    officer: CurrentOfficer, services: ServicesDep, auditor: OfficerAuditorDep
) -> Response:
    store = services.store
    runs = (
        list(reversed(store.search(EventSearch(tag="scan:run:complete"), limit=RUNS_READ)))
        if officer.units is None
        else []  # systems' scans are the department's; a district sees its schools below
    )
    histories = scan_histories(runs)
    await auditor.record(
        EventTag.AUDIT_EVENTS_QUERY,
        target={"channel": "dashboard-compliance", "results": str(len(runs))},
    )
    return page(
        "compliance.html",
        title=COMPLIANCE.label,
        officer=officer,
        scans=histories,
        trends=trends(histories),
        summary=compliance_summary(store, units=officer.units),
    )


@router.get("/dashboard/compliance/report")
async def compliance_report(
    officer: CurrentOfficer, services: ServicesDep, auditor: OfficerAuditorDep
) -> Response:
    """Every system's latest scan with its findings and their remediation, and the schools."""
    summary = compliance_summary(services.store, units=officer.units)
    await auditor.record(
        EventTag.AUDIT_REPORT_EXPORT,
        target={"format": "html", "report": "compliance", "rows": str(summary.findings)},
    )
    return page(
        "compliance_report.html",
        title=Text("Báo cáo tuân thủ", "Compliance report"),
        officer=officer,
        back=COMPLIANCE,
        summary=summary,
    )


@router.get("/dashboard/compliance/report.pdf")
async def compliance_report_as_pdf(
    officer: CurrentOfficer, services: ServicesDep, auditor: OfficerAuditorDep
) -> Response:
    summary = compliance_summary(services.store, units=officer.units)
    return await signed_pdf(
        services.report_signer,
        auditor,
        compliance_pdf(summary),
        reason="Báo cáo tuân thủ an toàn thông tin",
        filename="bao-cao-tuan-thu.pdf",
        details={"report": "compliance", "rows": str(summary.findings)},
    )
