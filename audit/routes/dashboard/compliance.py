"""``/dashboard/compliance``: per system and kind of scan, the latest score, new and fixed
findings and the trend (the department's view; a district sees its schools' accounts), a scan asked
for now (the department's officers: :mod:`audit.scan_requests`), and the compliance report with
every finding's remediation, as a page and as a sealed PDF (:mod:`audit.compliance`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from redis.exceptions import RedisError

from audit.charts import Series, bar_chart
from audit.compliance import compliance_pdf, compliance_summary
from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import COMPLIANCE, csrf_refused, message, page
from audit.routes.dashboard.reports import signed_pdf
from audit.routes.threads import read_in_thread
from audit.scan_requests import ScanRequest, push_request
from audit.store import EventSearch, StoredEvent
from gateway_runtime.local_time import for_people

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
        list(
            reversed(
                await read_in_thread(
                    store.search, EventSearch(tag="scan:run:complete"), limit=RUNS_READ
                )
            )
        )
        if officer.units is None
        else []  # systems' scans are the department's; a district sees its schools below
    )
    histories = scan_histories(runs)
    await auditor.record(
        EventTag.AUDIT_EVENTS_QUERY,
        target={"channel": "dashboard-compliance", "results": str(len(runs))},
    )
    requested = (
        await read_in_thread(store.search, EventSearch(tag="audit:scan:request"), limit=1)
        if officer.units is None
        else []
    )
    summary = await read_in_thread(compliance_summary, store, units=officer.units)
    return page(
        "compliance.html",
        title=COMPLIANCE.label,
        officer=officer,
        scans=histories,
        trends=trends(histories),
        summary=summary,
        can_request=officer.units is None,
        last_request=_last_request(requested, runs),
    )


@dataclass(frozen=True)
class LastRequest:
    by: str
    at: str
    #: Whether a scan has completed since it was asked for.
    done: bool


def _last_request(requested: list[StoredEvent], runs: list[StoredEvent]) -> LastRequest | None:
    if not requested:
        return None
    asked = str(requested[0].event["time"])
    done = any(str(run.event["time"]) > asked for run in runs)
    return LastRequest(str(requested[0].event["actor"]["name"]), for_people(asked), done)


@router.post("/dashboard/compliance/scan")
async def request_scan(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    """Ask the scanner for a run now: the department's officers only (the scans cover every
    system), recorded before it is queued (fail closed: no record, no scan)."""
    refused = csrf_refused(csrf, officer, COMPLIANCE)
    if refused is not None:
        return refused
    if officer.units is not None:
        return message(
            Text("Không có quyền", "Forbidden"),
            Text(
                "Chỉ cán bộ an toàn thông tin của Sở yêu cầu quét các hệ thống.",
                "Only the department's security officers ask for a scan of the systems.",
            ),
            officer=officer,
            back=COMPLIANCE,
            status_code=403,
        )
    request = ScanRequest(uuid.uuid4().hex, officer.session.actor, datetime.now(UTC).isoformat())
    await auditor.record(EventTag.AUDIT_SCAN_REQUEST, target={"request_id": request.request_id})
    try:
        queued = await push_request(services.redis, request)
    except RedisError:
        return message(
            Text("Chưa gửi được yêu cầu", "The request could not be sent"),
            Text(
                "Không kết nối được hàng đợi của bộ quét; hãy thử lại sau.",
                "The scanner's queue cannot be reached; try again later.",
            ),
            officer=officer,
            back=COMPLIANCE,
            status_code=503,
        )
    if not queued:
        return message(
            Text("Đã có yêu cầu đang chờ", "A request is already waiting"),
            Text(
                "Bộ quét sẽ chạy ngay khi rảnh; không cần yêu cầu thêm.",
                "The scanner will run as soon as it is free; there is no need to ask again.",
            ),
            officer=officer,
            back=COMPLIANCE,
            status_code=409,
        )
    return RedirectResponse(f"{COMPLIANCE.href}#scan-request", status_code=303)


@router.get("/dashboard/compliance/report")
async def compliance_report(
    officer: CurrentOfficer, services: ServicesDep, auditor: OfficerAuditorDep
) -> Response:
    """Every system's latest scan with its findings and their remediation, and the schools."""
    summary = await read_in_thread(compliance_summary, services.store, units=officer.units)
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
    summary = await read_in_thread(compliance_summary, services.store, units=officer.units)
    return await signed_pdf(
        services.report_signer,
        auditor,
        await read_in_thread(compliance_pdf, summary),
        reason="Báo cáo tuân thủ an toàn thông tin",
        filename="bao-cao-tuan-thu.pdf",
        details={"report": "compliance", "rows": str(summary.findings)},
    )
