"""Scanner: a dynamic scan with OWASP ZAP, the second engine, where a ZAP daemon runs.

ZAP cannot be installed from the package registries (its mandatory add-ons are not published:
``docs/compliance.md``), so it is used only when ``ZAP_URL`` and ``ZAP_API_KEY`` name a running
daemon (production: the official image in ``compose.yaml``). It is driven through its own client
(``zaproxy``): spider, then active scan, bounded in time, then the alerts of the target. Its alerts
are named in the rules' vocabulary (:func:`zap_alerts`, by ZAP's scan-rule ids) and judged by the same
rules as wapiti's (``policies/rules/dast.yaml``): one finding model, one set of audit events and SARIF.
Only registered targets: the registry is asked before ZAP is told anything.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog

from policies import Violation, evaluate_dast
from policies.dast_checks import DastAlert, DastObservation
from scanners.errors import ScannerError
from scanners.targets import TargetRegistry

_log = structlog.get_logger(__name__)

#: ZAP's scan-rule ids (https://www.zaproxy.org/docs/alerts/) in the rules' vocabulary.
ZAP_RULES = {
    # Cross-site scripting: reflected, persistent (and its prime/spider steps), DOM.
    **dict.fromkeys(("40012", "40014", "40016", "40017", "40026"), "xss"),
    # SQL injection, generic and per database (MySQL, Hypersonic, Oracle, PostgreSQL, SQLite,
    # MsSQL), and the advanced variant.
    **dict.fromkeys(
        ("40018", "40019", "40020", "40021", "40022", "40024", "40027", "90018"), "sqli"
    ),
    "20019": "open-redirect",  # External Redirect
    **dict.fromkeys(("90020", "90037"), "command-injection"),  # Remote OS Command Injection
    **dict.fromkeys(("6", "7"), "path-traversal"),  # Path Traversal, Remote File Inclusion
    "90023": "xxe",  # XML External Entity Attack
    "40003": "crlf",  # CRLF Injection
    **dict.fromkeys(("10202", "20012"), "csrf"),  # Absence of Anti-CSRF Tokens; token check
    "100000": "server-error",  # A Server Error response code was returned by the server
}


class ZapUnavailable(ScannerError):
    code = "zap-unavailable"
    message_vi = "Không kết nối được OWASP ZAP (ZAP_URL, ZAP_API_KEY)."
    message_en = "OWASP ZAP could not be reached (ZAP_URL, ZAP_API_KEY)."


@dataclass(frozen=True)
class ZapSettings:
    url: str
    api_key: str

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> ZapSettings | None:
        """The daemon named by ``ZAP_URL``/``ZAP_API_KEY``, or None when there is none."""
        values = os.environ if environ is None else environ
        url, key = values.get("ZAP_URL", ""), values.get("ZAP_API_KEY", "")
        return cls(url.rstrip("/"), key) if url and key else None


def zap_alerts(alerts: list[dict[str, Any]]) -> list[DastAlert]:
    """ZAP's alerts (``/JSON/alert/view/alerts/``) in the rules' vocabulary; alerts no rule names
    (informational, passive header checks: the headers scanner's) are left out, and so are those
    ZAP itself marks as false positives."""
    found = []
    for alert in alerts:
        category = ZAP_RULES.get(str(alert.get("pluginId", "")))
        if category is None or str(alert.get("confidence", "")).lower() == "false positive":
            continue
        path = urlsplit(str(alert.get("url") or "")).path or "/"
        found.append(
            DastAlert(
                category=category,
                method=str(alert.get("method") or "GET"),
                path=path,
                parameter=str(alert.get("param") or ""),
                info=f"{alert.get('alert') or alert.get('name')} ({alert.get('risk')}, "
                f"confidence {alert.get('confidence')})",
                engine="zap",
            )
        )
    return found


def _run_zap(settings: ZapSettings, url: str, budget_seconds: float) -> list[dict[str, Any]]:
    from zapv2 import ZAPv2

    zap = ZAPv2(apikey=settings.api_key, proxies={"http": settings.url, "https": settings.url})
    deadline = time.monotonic() + budget_seconds
    try:
        spider = zap.spider.scan(url, recurse=True, subtreeonly=True)
        while int(zap.spider.status(spider)) < 100 and time.monotonic() < deadline:
            time.sleep(1)
        active = zap.ascan.scan(url, recurse=True)
        while int(zap.ascan.status(active)) < 100 and time.monotonic() < deadline:
            time.sleep(2)
        if int(zap.ascan.status(active)) < 100:
            zap.ascan.stop(active)
        alerts: list[dict[str, Any]] = zap.core.alerts(baseurl=url)
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors; bad answers ValueErrors
        raise ZapUnavailable(f"{settings.url}: {type(exc).__name__}") from exc
    return alerts


async def scan_with_zap(
    url: str, registry: TargetRegistry, settings: ZapSettings, *, budget_seconds: float = 300
) -> list[Violation]:
    """Spider and actively scan the registered system at ``url`` with ZAP, within the budget."""
    registry.require(url)
    alerts = await asyncio.to_thread(_run_zap, settings, url, budget_seconds)
    named = zap_alerts(alerts)
    _log.info("scanner.zap_done", url=url, alerts=len(alerts), named=len(named))
    return evaluate_dast(DastObservation(url=url, engine="zap", alerts=named))
