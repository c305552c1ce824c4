"""The dashboard's reports: the numbers of a period, counted by the store, and their sealing.

A report leaves the service as a PDF sealed by the signing service (document type ``thong-bao``,
level B-T), so that whoever receives it can check it was not changed. The audit service calls the
signing service as its own service account (``audit-report-signer``); nothing here knows of HTTP
requests to the audit service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from audit.exports import EXPORT_LIMIT, ReportSummary
from audit.settings import AuditSettings
from audit.store import EventSearch, EventStore
from gateway_runtime.errors import GatewayError

#: The report lists the accounts with the most failures, this many.
REPORT_TOP_ACTORS = 20
#: The periods a report covers, ending now.
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


def last_period_summary(
    store: EventStore, period: str, units: frozenset[str] | None = None
) -> ReportSummary:
    """The numbers of the report for the last day, week or month (the HTML and the PDF report)."""
    until = datetime.now(UTC)
    return period_summary(store, until - PERIODS[period], until, units)


def period_summary(
    store: EventStore, since: datetime, until: datetime, units: frozenset[str] | None = None
) -> ReportSummary:
    """The report's numbers, counted by the store over the whole period (no sample)."""
    period = EventSearch(since=since, until=until, units=units)
    failures = EventSearch(since=since, until=until, units=units, outcome="failure")
    alerts = EventSearch(since=since, until=until, units=units, tag="audit:alert:raise")
    return ReportSummary.counted(
        since,
        until,
        store.count_by(period, ("tag", "outcome")),
        store.count_by(failures, ("actor",), limit=REPORT_TOP_ACTORS),
        (r.event for r in store.search(alerts, limit=EXPORT_LIMIT)),
    )


class ReportSigningUnavailable(GatewayError):
    code = "report-signing-unavailable"
    status_code = 503
    message_vi = "Không ký được báo cáo (dịch vụ ký số không sẵn sàng hoặc chưa cấu hình)."
    message_en = (
        "The report could not be signed (the signing service is unavailable or not configured)."
    )


class ReportSigner:
    """Seals reports through the signing service, as the ``audit-report-signer`` account."""

    def __init__(self, settings: AuditSettings) -> None:
        self._settings = settings

    async def sign(self, pdf: bytes, *, reason: str = "Báo cáo kiểm toán") -> bytes:
        """``pdf`` sealed (B-T, document type ``thong-bao``); raises
        :class:`ReportSigningUnavailable` when the signing service cannot be reached or is not
        configured."""
        settings = self._settings
        if settings.signing_url is None or settings.report_signer_client_secret is None:
            raise ReportSigningUnavailable("AUDIT_SIGNING_URL / AUDIT_REPORT_SIGNER_CLIENT_SECRET")
        try:
            async with httpx.AsyncClient(timeout=60) as http:
                token = await http.post(
                    f"{settings.keycloak_issuer.rstrip('/')}/protocol/openid-connect/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": settings.report_signer_client_id,
                        "client_secret": settings.report_signer_client_secret.get_secret_value(),
                    },
                )
                token.raise_for_status()
                signed = await http.post(
                    f"{settings.signing_url.rstrip('/')}/v1/documents:sign",
                    params={"level": "B-T", "document_type": "thong-bao", "reason": reason},
                    content=pdf,
                    headers={
                        "authorization": f"Bearer {token.json()['access_token']}",
                        "content-type": "application/pdf",
                    },
                )
                signed.raise_for_status()
        except httpx.HTTPError as exc:
            raise ReportSigningUnavailable(type(exc).__name__) from exc
        return signed.content
