"""``/dashboard``: the overview, three charts of the officer's scope (logins of the last 24 hours,
signatures and verifications of the last 14 days, alerts by severity), each with its numbers in a
table under it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from audit.charts import Series, bar_chart, data_table
from audit.deps import CurrentOfficer, ServicesDep
from audit.routes.dashboard.language import Text, t
from audit.routes.dashboard.pages import OVERVIEW, page
from audit.routes.dashboard.wording import severity_name
from audit.routes.threads import read_in_thread
from audit.store import EventSearch, EventStore
from gateway_runtime.local_time import for_people

router = APIRouter(include_in_schema=False)

SEVERITIES = ["critical", "high", "medium", "low"]
_SIGNATURES = ("signing:document:sign", "signing:hash:sign")
_VERIFY = "signing:document:verify"


@dataclass(frozen=True)
class Card:
    heading: str
    chart: Markup
    table: Markup

    @classmethod
    def of(
        cls,
        heading: Text | str,
        title: Text | str,
        labels: list[str],
        series: list[Series],
        chart_id: str,
    ) -> Card:
        return cls(
            str(heading),
            bar_chart(
                str(title),
                labels,
                series,
                chart_id=chart_id,
                empty=t("Chưa có dữ liệu trong khoảng thời gian này", "No data in this period"),
            ),
            data_table(labels, series),
        )


def _local_hour(utc_hour: str) -> int:
    """The hour in Vietnam (UTC+7, no daylight saving) of a ``YYYY-mm-ddTHH`` hour in UTC."""
    return (int(utc_hour[-2:]) + 7) % 24


def _logins(store: EventStore, units: frozenset[str] | None, now: datetime) -> Card:
    hours = [(now - timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(23, -1, -1)]
    logins = store.histogram(
        ["idp:login:success", "idp:login:failure"],
        since=now - timedelta(hours=24),
        bucket="hour",
        units=units,
    )
    series = [
        Series(
            str(Text("Thành công", "Succeeded")),
            [logins.get((h, "idp:login:success", "success"), 0) for h in hours],
            "#1e8e3e",
        ),
        Series(
            str(Text("Thất bại", "Failed")),
            [logins.get((h, "idp:login:failure", "failure"), 0) for h in hours],
            "#d93025",
        ),
    ]
    return Card.of(
        Text("Đăng nhập 24 giờ qua", "Logins, last 24 hours"),
        Text("Đăng nhập theo giờ (giờ Việt Nam)", "Logins per hour (Vietnam time)"),
        [f"{_local_hour(h):02d}h" for h in hours],
        series,
        "chart-logins",
    )


def _signatures(store: EventStore, units: frozenset[str] | None, now: datetime) -> Card:
    days = [(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(13, -1, -1)]
    signing = store.histogram(
        [*_SIGNATURES, _VERIFY], since=now - timedelta(days=14), bucket="day", units=units
    )
    signed = [sum(signing.get((d, t, "success"), 0) for t in _SIGNATURES) for d in days]
    verified = [signing.get((d, _VERIFY, "success"), 0) for d in days]
    series = [
        Series(str(Text("Ký", "Signatures")), signed, "#1a73e8"),
        Series(str(Text("Xác minh", "Verifications")), verified, "#a142f4"),
    ]
    return Card.of(
        Text("Ký và xác minh 14 ngày qua", "Signatures and verifications, last 14 days"),
        Text("Chữ ký và xác minh theo ngày (UTC)", "Signatures and verifications per day (UTC)"),
        [d[5:] for d in days],
        series,
        "chart-signatures",
    )


def _alerts(store: EventStore, units: frozenset[str] | None) -> Card:
    alerts = store.search(EventSearch(tag="audit:alert:raise", units=units), limit=1000)
    severities = Counter(str(a.event["target"].get("severity")) for a in alerts)
    series = [
        Series(
            str(Text("Cảnh báo", "Alerts")), [severities.get(s, 0) for s in SEVERITIES], "#e37400"
        )
    ]
    return Card.of(
        Text("Cảnh báo theo mức độ", "Alerts by severity"),
        Text("Cảnh báo theo mức độ", "Alerts by severity"),
        [severity_name(s) for s in SEVERITIES],
        series,
        "chart-alerts",
    )


@router.get("/dashboard")
async def overview(officer: CurrentOfficer, services: ServicesDep) -> Response:
    store = services.store
    now = datetime.now(UTC)

    def read() -> tuple[int | None, list[Card]]:
        # The size of the whole log is the department's to see.
        count = store.count() if officer.units is None else None
        cards = [
            _logins(store, officer.units, now),
            _signatures(store, officer.units, now),
            _alerts(store, officer.units),
        ]
        return count, cards

    count, cards = await read_in_thread(read)
    return page(
        "overview.html",
        title=OVERVIEW.label,
        officer=officer,
        count=count,
        now=for_people(now),
        cards=cards,
    )
