"""``/dashboard/report``: the numbers of the last day, week or month of the officer's scope, as a
page and as a PDF sealed by the signing service. Showing a report and downloading it are both
audit events; a download records the hash of the sealed file that left."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from audit.auditor import Auditor
from audit.deps import CurrentOfficer, OfficerAuditorDep, ServicesDep
from audit.events import EventTag
from audit.exports import report_pdf
from audit.reports import ReportSigner, last_period_summary
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import download, page
from audit.routes.threads import read_in_thread

router = APIRouter(include_in_schema=False)

Period = Annotated[str, Query(pattern="^(day|week|month)$")]
PERIOD_LINKS = (
    ("day", Text("Ngày", "Day")),
    ("week", Text("Tuần", "Week")),
    ("month", Text("Tháng", "Month")),
)


async def signed_pdf(
    signer: ReportSigner,
    auditor: Auditor,
    pdf: bytes,
    *,
    reason: str,
    filename: str,
    details: dict[str, str],
) -> Response:
    """``pdf`` sealed by the signing service, its download recorded with the sealed hash."""
    signed = await signer.sign(pdf, reason=reason)
    await auditor.record(
        EventTag.AUDIT_REPORT_EXPORT,
        target={"format": "pdf", **details, "signed_sha256": hashlib.sha256(signed).hexdigest()},
    )
    return download(signed, media_type="application/pdf", filename=filename)


@router.get("/dashboard/report")
async def report(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    period: Period = "day",
) -> Response:
    summary = await read_in_thread(last_period_summary, services.store, period, officer.units)
    await auditor.record(
        EventTag.AUDIT_REPORT_EXPORT,
        target={"format": "html", "period": period, "rows": str(summary.total)},
    )
    return page(
        "report.html",
        title=Text("Báo cáo", "Report"),
        officer=officer,
        summary=summary,
        period=period,
        periods=PERIOD_LINKS,
    )


@router.get("/dashboard/report.pdf")
async def report_as_pdf(
    officer: CurrentOfficer,
    services: ServicesDep,
    auditor: OfficerAuditorDep,
    period: Period = "day",
) -> Response:
    summary = await read_in_thread(last_period_summary, services.store, period, officer.units)
    return await signed_pdf(
        services.report_signer,
        auditor,
        await read_in_thread(report_pdf, summary),
        reason="Báo cáo kiểm toán",
        filename=f"bao-cao-kiem-toan-{period}.pdf",
        details={"period": period, "rows": str(summary.total)},
    )
