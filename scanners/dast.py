"""Scanner: a dynamic scan (DAST) of one registered system with wapiti, the engine that runs on every
machine (OWASP ZAP, where a daemon is configured, is :mod:`scanners.zap`).

wapiti is GPL-2.0 and pins its own libraries: it runs as a separate tool in its own environment
(``WAPITI_BIN``, default ``.work/tools/wapiti``, made by ``scripts/bootstrap.sh``), as sslyze does. It
crawls the target within its folder and attacks what it found (XSS, SQL and command injection, path
traversal, XXE, CRLF, open redirects, forms without CSRF tokens), bounded in time; its JSON report is
named in the rules' vocabulary (:data:`WAPITI_CATEGORIES`) and judged by ``policies/rules/dast.yaml``.
Only registered targets are ever scanned: the registry is asked before wapiti starts, and wapiti's
scope keeps it inside the target's folder.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from policies import Violation, evaluate_dast
from policies.dast_checks import DastAlert, DastObservation
from scanners.egress import EgressGate
from scanners.errors import ScannerError
from scanners.targets import TargetRegistry
from scanners.tls import PROJECT_ROOT

_log = structlog.get_logger(__name__)

DEFAULT_WAPITI = PROJECT_ROOT / ".work" / "tools" / "wapiti" / "bin" / "wapiti"
#: Attack modules: injections and what a form or a redirect lets through. Headers, cookies and TLS
#: are the headers and TLS scanners' (one finding, one rule). Not wapiti's ``csrf``: it sends each
#: form again and follows the answer's redirects wherever they go (5 hops), out of the registered
#: targets — a scanned system could send the scan to any host or internal address (a test does).
#: Missing anti-CSRF tokens are ZAP's to find where a ZAP daemon runs (DAST-007).
MODULES = ("xss", "permanentxss", "sql", "exec", "file", "xxe", "crlf", "redirect")
#: Where wapiti's out-of-band checks (XXE, SSRF) would send the scanned system and then ask for
#: results: by default its authors' server on the internet, which would learn of every scan and
#: could answer anything. A closed port on loopback: nothing leaves the machine, and the in-band
#: checks still run.
OUT_OF_BAND_ENDPOINT = "http://127.0.0.1:1/"
#: wapiti's names (its report's categories) in the rules' vocabulary.
WAPITI_CATEGORIES = {
    "Reflected Cross Site Scripting": "xss",
    "Stored Cross Site Scripting": "xss",
    "Cross Site Scripting": "xss",
    "SQL Injection": "sqli",
    "Blind SQL Injection": "sqli",
    "Command execution": "command-injection",
    "Path Traversal": "path-traversal",
    "XML External Entity": "xxe",
    "CRLF Injection": "crlf",
    "Open Redirect": "open-redirect",
    "Cross Site Request Forgery": "csrf",
    "Internal Server Error": "server-error",
}


class DastEngineMissing(ScannerError):
    code = "dast-engine-missing"
    message_vi = "Không có công cụ quét động wapiti (chạy scripts/bootstrap.sh)."
    message_en = "The wapiti DAST engine is not installed (run scripts/bootstrap.sh)."


class DastScanFailed(ScannerError):
    code = "dast-scan-failed"
    message_vi = "Lượt quét động không hoàn thành."
    message_en = "The dynamic scan did not complete."


def wapiti_bin() -> Path:
    return Path(os.environ.get("WAPITI_BIN") or DEFAULT_WAPITI)


def _cookie_file(url: str, cookies: Mapping[str, str]) -> dict[str, Any]:
    """wapiti's JSON cookie file for ``url``'s host: keyed as wapiti looks cookies up (an address
    as it is; a name with a leading dot, and ``.local`` added to a name without a dot)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        key = host
    except ValueError:
        key = "." + (host if "." in host else f"{host}.local")
    attributes = {"expires": None, "secure": False, "port": None, "version": 0}
    return {key: {"/": {name: {"value": value, **attributes} for name, value in cookies.items()}}}


def wapiti_alerts(report: dict[str, Any]) -> list[DastAlert]:
    """wapiti's JSON report as alerts in the rules' vocabulary (categories it has no rule for are
    left out: they are informational)."""
    alerts = []
    for section in ("vulnerabilities", "anomalies"):
        for name, entries in (report.get(section) or {}).items():
            category = WAPITI_CATEGORIES.get(name)
            if category is None:
                continue
            for entry in entries or []:
                alerts.append(
                    DastAlert(
                        category=category,
                        method=str(entry.get("method") or "GET"),
                        path=str(entry.get("path") or "/"),
                        parameter=str(entry.get("parameter") or ""),
                        info=str(entry.get("info") or name).splitlines()[0],
                        engine="wapiti",
                    )
                )
    return alerts


async def scan_dast(
    url: str,
    registry: TargetRegistry,
    *,
    budget_seconds: float = 120,
    start: tuple[str, ...] = (),
    openapi: str | None = None,
    cookies: Mapping[str, str] | None = None,
    exclude: tuple[str, ...] = (),
) -> list[Violation]:
    """Crawl and attack the registered system at ``url`` for at most ``budget_seconds``; ``start``
    adds pages the crawl begins from (a service's pages no link reaches), ``openapi`` the service's
    OpenAPI document, whose operations are attacked too; ``cookies`` a logged-in session (written
    to a file only wapiti reads, never on its command line), ``exclude`` pages never to request
    (a logout). Every address must be registered; wapiti connects through an
    :class:`~scanners.egress.EgressGate`, at the addresses each name had when first checked."""
    pinned = [registry.pin(address) for address in (url, *start, *((openapi,) if openapi else ()))]
    if not wapiti_bin().exists():
        raise DastEngineMissing(str(wapiti_bin()))
    async with EgressGate(registry, pinned) as gate:
        report = await _scan_behind(gate, url, budget_seconds, start, openapi, cookies, exclude)
    if gate.counts.refused:
        _log.info("scanner.dast_egress", url=url, refused=sorted(set(gate.counts.refused)))
    crawled = (report.get("infos") or {}).get("crawled_pages_nbr")
    if not _reached_a_page(report):
        # Nothing was reached (the start page sent it off the target, the system refused the
        # scanner): an empty report is no verdict, never "no finding" (nor earlier findings fixed).
        raise DastScanFailed(
            f"{url}: wapiti reached no page (its start redirects off the target, or the system "
            "refused the scanner): no verdict"
        )
    alerts = wapiti_alerts(report)
    _log.info("scanner.dast_done", url=url, crawled=crawled, alerts=len(alerts))
    return evaluate_dast(DastObservation(url=url, engine="wapiti", alerts=alerts))


async def _scan_behind(
    gate: EgressGate,
    url: str,
    budget_seconds: float,
    start: tuple[str, ...],
    openapi: str | None,
    cookies: Mapping[str, str] | None,
    exclude: tuple[str, ...],
) -> dict[str, Any]:
    """wapiti's JSON report of a scan whose every connection goes through ``gate``."""
    binary = wapiti_bin()
    with tempfile.TemporaryDirectory(prefix="gateway-dast-") as folder:
        report_path = Path(folder) / "report.json"
        session: list[str] = []
        if cookies:
            jar = Path(folder) / "cookies.json"
            jar.touch(mode=0o600)
            jar.write_text(json.dumps(_cookie_file(url, cookies)), encoding="utf-8")
            session = ["--cookie", str(jar)]
        command = [
            str(binary),
            "--url",
            url,
            "--scope",
            "folder",
            "--module",
            ",".join(MODULES),
            "--max-scan-time",
            str(max(10, int(budget_seconds))),
            # Each attack module gets its share, so that the budget holds on a large site (the
            # dashboard logged in has thousands of links: events, pages, filters).
            "--max-attack-time",
            str(max(5, int(budget_seconds / len(MODULES)))),
            "--max-links-per-page",
            "40",
            "--max-files-per-dir",
            "40",
            "--timeout",
            "10",
            "--flush-session",
            "--store-session",
            str(Path(folder) / "session"),
            "--format",
            "json",
            # The crawled pages with their status, to tell a scan that reached no page.
            "--detailed-report",
            "1",
            "--output",
            str(report_path),
            "--verbose",
            "0",
            "--no-bugreport",
            "--endpoint",
            OUT_OF_BAND_ENDPOINT,
            # Every connection through the gate: registered origins, at their pinned addresses.
            "--proxy",
            gate.url,
            *(argument for page in start for argument in ("--start", page)),
            *(("--swagger", openapi) if openapi else ()),
            *session,
            *(argument for page in exclude for argument in ("--exclude", page)),
        ]
        try:
            await _run_wapiti(command, folder, report_path, url, budget_seconds)
        except _WapitiCrashed as crash:
            # An engine that crashed gave no verdict: once more (``--flush-session``: from the
            # start) before the system is reported as not scanned, with the reason.
            _log.warning("scanner.dast_retry", url=url, reason=crash.reason)
            try:
                await _run_wapiti(command, folder, report_path, url, budget_seconds)
            except _WapitiCrashed as again:
                raise DastScanFailed(
                    f"{url}: wapiti exited with {again.code} (twice): {again.reason}"
                ) from again
        return dict(json.loads(report_path.read_text(encoding="utf-8")))


def _reached_a_page(report: dict[str, Any]) -> bool:
    """Whether the scan got at least one answer that is not a redirect (wapiti counts a start page
    that only redirected elsewhere as crawled)."""
    pages = (report.get("infos") or {}).get("crawled_pages") or []
    for page in pages:
        status = (page.get("request") or {}).get("status_code") if isinstance(page, dict) else None
        if isinstance(status, int) and not 300 <= status < 400:
            return True
    return False


class _WapitiCrashed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


async def _run_wapiti(
    command: list[str], folder: str, report_path: Path, url: str, budget_seconds: float
) -> None:
    """Run wapiti until it writes ``report_path``; raise :class:`_WapitiCrashed` if it ends
    without it."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": folder},  # wapiti keeps its state under $HOME
    )
    try:
        # wapiti stops attacking at its budget, then writes its report: a margin for that.
        output, _ = await asyncio.wait_for(process.communicate(), budget_seconds + 60)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise DastScanFailed(f"{url}: no report after {budget_seconds + 60:.0f} s") from exc
    if await asyncio.to_thread(report_path.exists):
        return
    # wapiti prints the requests it sent: a logged-in scan's carry the session cookie, which
    # never reaches the log.
    tail = "\n".join(
        line
        for line in output.decode(errors="replace").splitlines()
        if "cookie" not in line.lower()
    )[-2000:]
    _log.warning("scanner.dast_failed", url=url, code=process.returncode, output=tail)
    # Its last line is the reason (an error's class and message) when it ended on one.
    raise _WapitiCrashed(process.returncode, tail.strip().rsplit("\n", 1)[-1][:300] or "no output")
