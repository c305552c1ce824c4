"""One scan of every registered system — what ``gateway-scan run`` does each time.

The live realm (identity rules; the realm file's accepted findings shown as accepted), its accounts
(account hygiene), the gateway itself, the audit log (personal data), then the HTTP headers, a
dynamic scan (wapiti; OWASP ZAP too when a daemon is named) and TLS of every registered system.
The results are compared with the previous run's (``new`` / ``fixed``), recorded in the audit log
(fail closed: a scan whose findings cannot be recorded did not happen) and kept as the next run's
reference.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from keycloak import KeycloakAdmin
from rich.console import Console
from rich.progress import Progress

from audit.events import Actor
from audit.producers import Producer
from audit.trail import TrailSettings
from gateway_runtime.errors import GatewayError
from idp_config import DEFAULT_REALM_FILE, ConnectionSettingsError, load_realm
from idp_config.model import RealmSpec
from policies import Violation
from scanners.account_hygiene import scan_accounts
from scanners.connection import ScanConnection
from scanners.dast import scan_dast
from scanners.errors import SystemUnreachable
from scanners.findings import ScanResult
from scanners.gateway import scan_gateway
from scanners.http_headers import scan_headers
from scanners.keycloak_config import acceptances, scan_realm
from scanners.own_services import own_surfaces
from scanners.privacy import scan_records
from scanners.sso_login import ScanAccount
from scanners.targets import TargetRegistry, origin_of
from scanners.tls import scan_tls
from scanners.zap import ZapSettings, scan_with_zap

_log = structlog.get_logger(__name__)

#: How long wapiti crawls and attacks each registered system, by default.
DEFAULT_DAST_SECONDS = 120.0


@dataclass
class Connection:
    admin: KeycloakAdmin
    realm: RealmSpec
    registry: TargetRegistry
    web_targets: list[str]
    trail: TrailSettings
    state_file: Path
    #: The gateway's own services and seal certificate, for the scan of the gateway itself.
    own: dict[str, str] | None = None
    #: The audit store, read for personal data (Law 91/2025/QH15).
    audit_store: Path | None = None
    #: A running OWASP ZAP daemon (``ZAP_URL``, ``ZAP_API_KEY``), the second DAST engine.
    zap: ZapSettings | None = None
    #: The account the dynamic scan logs in to the dashboard with (through the SSO).
    dashboard_account: ScanAccount | None = None


def connect(settings: ScanConnection) -> Connection:
    """What one run scans, and where it records, from the connection settings (raises
    :class:`~idp_config.connection.AuditTrailMissing` when findings could not be audited)."""
    trail = settings.audit_trail()
    spec = load_realm(DEFAULT_REALM_FILE, settings.idp_realm_variables)
    own = settings.scan_own_services
    gateway = None
    if settings.scan_signing_url and settings.scan_audit_url and settings.scan_seal_certificate:
        gateway = {
            "signing": settings.scan_signing_url,
            "audit": settings.scan_audit_url,
            "seal": _read_certificate(settings.scan_seal_certificate),
        }
    return Connection(
        admin=settings.admin(),
        realm=spec,
        registry=TargetRegistry.from_realm(
            spec, own_services=own, loopback_allowed=settings.scan_loopback_targets
        ),
        web_targets=_targets(spec, own),
        trail=trail,
        state_file=settings.scan_state_file,
        own=gateway,
        audit_store=settings.scan_audit_store,
        zap=ZapSettings.from_environment(),
        dashboard_account=settings.dashboard_account(),
    )


def _read_certificate(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectionSettingsError(
            f"SCAN_SEAL_CERTIFICATE: {path}: cannot read ({type(exc).__name__})"
        ) from exc


def _targets(spec: RealmSpec, own: list[str]) -> list[str]:
    """One address per registered origin: the systems' redirect URIs and the gateway's services."""
    seen: dict[str, str] = {}
    for url in [*own, *(u for c in spec.clients for u in c.redirect_uris)]:
        origin = origin_of(url)
        if origin is not None:
            seen.setdefault(origin, origin + "/")
    return list(seen.values())


async def scan_all(
    connection: Connection,
    console: Console,
    ca_file: Path | None,
    records: set[str] | None = None,
    budget_seconds: float = 0,
    dast_seconds: float = DEFAULT_DAST_SECONDS,
) -> list[ScanResult]:
    previous: dict[str, list[str]] = (
        json.loads(connection.state_file.read_text()) if connection.state_file.exists() else {}
    )

    def result(kind: str, system: str, findings: list[Violation]) -> ScanResult:
        known = previous.get(f"{kind}|{system}")
        return ScanResult(system, kind, findings, frozenset(known) if known is not None else None)

    # The realm, accounts, gateway and audit-log scans always run; the web systems share what is
    # left of the budget, counted from the start of the run.
    deadline = time.monotonic() + budget_seconds if budget_seconds else None
    results: list[ScanResult] = []
    realm = connection.realm.realm
    steps = 3 + 3 * len(connection.web_targets)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Quét / scanning", total=steps)
        results.append(
            result(
                "realm",
                f"keycloak:{realm}",
                scan_realm(connection.admin, realm, accepted=acceptances(connection.realm)),
            )
        )
        progress.advance(task)
        results.append(
            result(
                "accounts",
                f"keycloak:{realm}",
                scan_accounts(
                    connection.admin,
                    realm,
                    records=records,
                    declared=[u.username for u in connection.realm.users],
                ),
            )
        )
        progress.advance(task)
        if connection.own is not None:
            progress.update(task, description="gateway")
            seal = connection.own["seal"].encode("ascii")
            results.append(
                result(
                    "gateway",
                    "gateway",
                    await scan_gateway(
                        signing_url=connection.own["signing"],
                        audit_url=connection.own["audit"],
                        seal_certificate_pem=seal,
                    ),
                )
            )
        progress.advance(task)
        if connection.audit_store is not None:
            progress.update(task, description="personal data / dữ liệu cá nhân")
            results.append(result("privacy", "audit-log", scan_records(connection.audit_store)))
        for index, url in enumerate(connection.web_targets):
            if deadline is not None and time.monotonic() > deadline:
                skipped = connection.web_targets[index:]
                console.print(
                    f"[yellow]hết thời gian / time budget of {budget_seconds:g} s spent: "
                    f"{len(skipped)} system(s) not scanned this run: {', '.join(skipped)}[/yellow]",
                    highlight=False,
                )
                break
            progress.update(task, description=f"HTTP {url}")
            try:
                results.append(result("headers", url, await scan_headers(url, connection.registry)))
            except GatewayError as exc:
                _not_scanned(console, url, exc)
                progress.advance(task, 3)
                continue  # not reachable: TLS and the dynamic scan would say the same again
            progress.advance(task)
            if dast_seconds:
                progress.update(task, description=f"DAST (wapiti) {url}")
                try:
                    surfaces = await asyncio.to_thread(_own_surfaces, connection, console, url)
                    findings = await scan_dast(
                        url, connection.registry, budget_seconds=dast_seconds, **surfaces
                    )
                    results.append(result("dast", url, findings))
                except GatewayError as exc:
                    _not_scanned(console, url, exc)
                if connection.zap is not None:
                    progress.update(task, description=f"DAST (ZAP) {url}")
                    try:
                        findings = await scan_with_zap(
                            url, connection.registry, connection.zap, budget_seconds=dast_seconds
                        )
                        results.append(result("dast-zap", url, findings))
                    except GatewayError as exc:
                        _not_scanned(console, url, exc)
            progress.advance(task)
            if url.startswith("https://"):
                progress.update(task, description=f"TLS {url}")
                try:
                    results.append(
                        result(
                            "tls", url, await scan_tls(url, connection.registry, ca_file=ca_file)
                        )
                    )
                except GatewayError as exc:
                    _not_scanned(console, url, exc)
            progress.advance(task)
    return results


def _own_surfaces(connection: Connection, console: Console, url: str) -> dict[str, Any]:
    return own_surfaces(
        connection.own,
        url,
        connection.dashboard_account,
        warn=lambda line: console.print(f"[yellow]{line}[/yellow]", highlight=False),
    )


def _not_scanned(console: Console, url: str, exc: GatewayError) -> None:
    """One line for a person (why, in Vietnamese and English); the detail goes to the log."""
    why = (
        exc.reason.words
        if isinstance(exc, SystemUnreachable)
        else f"{exc.message_vi} / {exc.message_en}"
    )
    console.print(
        f"[yellow]{url}: không quét được / not scanned: {why}[/yellow]",
        highlight=False,
        soft_wrap=True,
    )
    _log.info("scan.not_scanned", url=url, code=exc.code, detail=exc.detail)


async def record_results(connection: Connection, results: list[ScanResult], scan_id: str) -> None:
    client = connection.trail.client()
    trail = connection.trail.trail(client, Producer.SCANNERS)
    actor = Actor(name="scanner", client_id="gateway-scan")
    try:
        for result in results:
            for event in result.audit_events(scan_id, actor):
                await trail.record(event)
    finally:
        await client.aclose()


def save_state(connection: Connection, results: list[ScanResult]) -> None:
    state: dict[str, list[str]] = (
        json.loads(connection.state_file.read_text()) if connection.state_file.exists() else {}
    )
    for result in results:
        state[f"{result.kind}|{result.system}"] = sorted(result.fingerprints)
    connection.state_file.parent.mkdir(parents=True, exist_ok=True)
    connection.state_file.write_text(json.dumps(state, indent=1))
