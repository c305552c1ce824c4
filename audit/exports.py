"""What leaves the dashboard as a file: CSV exports safe against formula injection, and reports.

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) as a
formula. Event fields carry text from outside (user names, user agents, document ids), so every such
cell is prefixed with an apostrophe, as OWASP's CSV injection guidance says.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway_runtime.local_time import for_people

#: At most this many events leave the dashboard in one file (a CSV export, a report's alerts).
EXPORT_LIMIT = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_AFTER_SEMICOLON = re.compile(r";(?=[=+\-@\t\r])")
CSV_COLUMNS = (
    "seq",
    "time",
    "tag",
    "actor",
    "client_id",
    "outcome",
    "reason",
    "source_ip",
    "user_agent",
    "target",
    "event_id",
    "chain_hash",
    # Set only when the event's own time was far from when the log received it (flagged).
    "received_at",
)


def safe_cell(value: object) -> str:
    """The value as a cell no spreadsheet runs: a formula's first character is quoted at the start
    and after each ``;`` — Excel set for Vietnamese (and most of Europe) splits a CSV on ``;``, which
    the CSV writer does not quote, so ``Mozilla;=1+1`` in a user agent would be two cells."""
    text = "" if value is None else str(value)
    text = _AFTER_SEMICOLON.sub(";'", text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def events_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Events (as the store returns them, with ``seq`` and ``chain_hash``) as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        actor = row.get("actor") or {}
        target = ";".join(f"{k}={v}" for k, v in sorted((row.get("target") or {}).items()))
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    row.get("seq"),
                    row.get("time"),
                    row.get("tag"),
                    actor.get("name"),
                    actor.get("client_id"),
                    row.get("outcome"),
                    row.get("reason"),
                    row.get("source_ip"),
                    row.get("user_agent"),
                    target,
                    row.get("event_id"),
                    row.get("chain_hash"),
                    row.get("received_at"),
                )
            ]
        )
    return out.getvalue()


@dataclass
class ReportSummary:
    """The numbers of a period's report."""

    since: datetime
    until: datetime
    total: int = 0
    by_tag: Counter[str] = field(default_factory=Counter)
    failures_by_actor: Counter[str] = field(default_factory=Counter)
    alerts_by_severity: Counter[str] = field(default_factory=Counter)
    signatures: int = 0
    verifications: int = 0
    refusals: int = 0

    @classmethod
    def counted(
        cls,
        since: datetime,
        until: datetime,
        by_tag_outcome: Iterable[tuple[tuple[str, ...], int]],
        failures_by_actor: Iterable[tuple[tuple[str, ...], int]],
        alerts: Iterable[dict[str, Any]],
    ) -> ReportSummary:
        """The summary from counts the store made (a month of a province is a million events)."""
        summary = cls(since=since, until=until)
        for (tag, _outcome), n in by_tag_outcome:
            summary.total += n
            summary.by_tag[tag] += n
            if tag in {"signing:document:sign", "signing:hash:sign"}:
                summary.signatures += n
            elif tag == "signing:document:verify":
                summary.verifications += n
            elif tag == "signing:request:refused":
                summary.refusals += n
        for (actor,), n in failures_by_actor:
            summary.failures_by_actor[actor] = n
        for alert in alerts:
            summary.alerts_by_severity[str((alert.get("target") or {}).get("severity"))] += 1
        return summary


def new_report_pdf(title_vi: str, title_en: str, *, organisation: str) -> Any:
    """An A4 PDF in Noto Sans (embedded: Vietnamese reads back exactly) with the report's title."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title_vi)
    pdf.set_author(organisation)
    pdf.add_page()
    pdf.add_font("Noto", fname=str(NOTO_SANS))
    pdf.set_font("Noto", size=16)
    pdf.multi_cell(0, 9, f"{title_vi} / {title_en}", new_x="LMARGIN", new_y="NEXT")
    return pdf


def report_pdf(summary: ReportSummary, *, organisation: str = "Sở Giáo dục và Đào tạo") -> bytes:
    """The period's report as a PDF in Noto Sans (embedded, so Vietnamese reads back exactly)."""
    pdf = new_report_pdf("Báo cáo nhật ký kiểm toán", "Audit log report", organisation=organisation)
    pdf.set_font("Noto", size=10)
    pdf.multi_cell(
        0,
        6,
        f"{organisation}\nTừ / from {for_people(summary.since)} đến / to "
        f"{for_people(summary.until)}\n"
        f"{summary.total} sự kiện / events · {summary.signatures} chữ ký / signatures · "
        f"{summary.verifications} xác minh / verifications · {summary.refusals} từ chối / refusals",
        new_x="LMARGIN",
        new_y="NEXT",
    )

    def table(title: str, rows: list[tuple[str, int]]) -> None:
        pdf.ln(3)
        pdf.set_font("Noto", size=12)
        pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Noto", size=9)
        for name, count in rows or [("—", 0)]:
            pdf.cell(140, 5.5, name[:90])
            pdf.cell(30, 5.5, str(count), align="R", new_x="LMARGIN", new_y="NEXT")

    table("Theo loại sự kiện / By tag", summary.by_tag.most_common())
    table(
        "Thất bại theo người thực hiện / Failures by actor",
        summary.failures_by_actor.most_common(15),
    )
    table("Cảnh báo theo mức độ / Alerts by severity", summary.alerts_by_severity.most_common())
    pdf.ln(4)
    pdf.set_font("Noto", size=8)
    pdf.multi_cell(
        0,
        4.5,
        "Báo cáo được ký số bằng dấu của cơ quan. Tính toàn vẹn của nhật ký được kiểm tra bằng "
        "lệnh gateway-audit verify.",
    )
    return bytes(pdf.output())


def _noto_sans() -> Any:
    from pathlib import Path

    import fontpkg_noto_sans

    return Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"


NOTO_SANS = _noto_sans()
