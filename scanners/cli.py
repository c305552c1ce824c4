"""``gateway-scan``: scan every registered system against the policies, on demand or on a schedule.

One run scans the live realm (identity rules; the realm file's accepted findings shown as accepted),
its accounts (account hygiene), and the HTTP headers, TLS and a dynamic scan (wapiti,
``--dast-seconds`` each; OWASP ZAP too when ``ZAP_URL`` and ``ZAP_API_KEY`` name a daemon) of every
registered system (the realm's clients and the gateway's own services). Every finding is an audit event
(``scan:finding:open`` / ``scan:finding:accepted`` / ``scan:finding:fixed`` / ``scan:run:complete``);
the run fails closed if they cannot be recorded. ``--sarif`` writes the findings as SARIF 2.1.0.

Connection (:class:`~scanners.connection.ScanConnection`): the environment — ``KEYCLOAK_URL``,
``KEYCLOAK_ADMIN_USER``, ``KEYCLOAK_ADMIN_PASSWORD``, the audit trail's ``SCAN_REDIS_URL``,
``SCAN_REDIS_USERNAME``, ``SCAN_REDIS_PASSWORD`` and ``SCAN_MAC_KEY`` (the ``scanners`` producer key),
``SCAN_OWN_SERVICES`` (comma-separated URLs of the gateway's services) — and/or a settings file:
``--settings FILE``, or ``--stack FOLDER`` for the ``connection.json`` of the local gateway.

Exit codes: 0 no high or critical finding, 4 high or critical findings, 1 error (nothing recorded).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from keycloak import KeycloakAdmin
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from audit.events import Actor
from audit.producers import Producer
from audit.trail import TrailSettings
from gateway_runtime import configure_logging
from gateway_runtime.errors import GatewayError
from idp_config import DEFAULT_REALM_FILE, ConnectionSettingsError, load_realm
from idp_config.connection import CONNECTION_FILE, AuditTrailMissing
from idp_config.model import RealmSpec
from policies import Severity, Violation, default_rules
from scanners.account_hygiene import record_ids, scan_accounts
from scanners.connection import ScanConnection
from scanners.dast import scan_dast
from scanners.errors import SystemUnreachable
from scanners.findings import ScanResult, to_sarif
from scanners.gateway import scan_gateway
from scanners.http_headers import scan_headers
from scanners.keycloak_config import acceptances, scan_realm
from scanners.own_services import own_surfaces
from scanners.privacy import scan_records
from scanners.sso_login import ScanAccount
from scanners.targets import TargetRegistry
from scanners.tls import scan_tls
from scanners.zap import ZapSettings, scan_with_zap

_log = structlog.get_logger(__name__)

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Quét tuân thủ / compliance scans"
)
console = Console(soft_wrap=True)
#: How long wapiti crawls and attacks each registered system, by default.
DEFAULT_DAST_SECONDS = 120.0


@app.callback()
def main() -> None:
    """Quét tuân thủ các hệ thống đã đăng ký / compliance scans of the registered systems."""


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


def _connect(stack: Path | None, settings: Path | None) -> Connection:
    if stack is not None and settings is not None:
        console.print("--stack or --settings, not both")
        raise typer.Exit(1)
    settings_file = stack / CONNECTION_FILE if stack is not None else settings
    try:
        connection = ScanConnection.load(settings_file)
        trail = connection.audit_trail()
    except AuditTrailMissing as exc:
        console.print(f"{exc.detail}: findings must be audited", highlight=False)
        raise typer.Exit(1) from exc
    spec = load_realm(DEFAULT_REALM_FILE, connection.idp_realm_variables)
    own = connection.scan_own_services
    gateway = None
    if (
        connection.scan_signing_url
        and connection.scan_audit_url
        and connection.scan_seal_certificate
    ):
        gateway = {
            "signing": connection.scan_signing_url,
            "audit": connection.scan_audit_url,
            "seal": _read_certificate(connection.scan_seal_certificate),
        }
    return Connection(
        admin=connection.admin(),
        realm=spec,
        registry=TargetRegistry.from_realm(spec, own_services=own),
        web_targets=_targets(spec, own),
        trail=trail,
        state_file=connection.scan_state_file,
        own=gateway,
        audit_store=connection.scan_audit_store,
        zap=ZapSettings.from_environment(),
        dashboard_account=connection.dashboard_account(),
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
    from scanners.targets import origin_of

    seen: dict[str, str] = {}
    for url in [*own, *(u for c in spec.clients for u in c.redirect_uris)]:
        origin = origin_of(url)
        if origin is not None:
            seen.setdefault(origin, origin + "/")
    return list(seen.values())


async def _scan(
    connection: Connection,
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
                _not_scanned(url, exc)
                progress.advance(task, 3)
                continue  # not reachable: TLS and the dynamic scan would say the same again
            progress.advance(task)
            if dast_seconds:
                progress.update(task, description=f"DAST (wapiti) {url}")
                try:
                    surfaces = await asyncio.to_thread(_own_surfaces, connection, url)
                    findings = await scan_dast(
                        url, connection.registry, budget_seconds=dast_seconds, **surfaces
                    )
                    results.append(result("dast", url, findings))
                except GatewayError as exc:
                    _not_scanned(url, exc)
                if connection.zap is not None:
                    progress.update(task, description=f"DAST (ZAP) {url}")
                    try:
                        findings = await scan_with_zap(
                            url, connection.registry, connection.zap, budget_seconds=dast_seconds
                        )
                        results.append(result("dast-zap", url, findings))
                    except GatewayError as exc:
                        _not_scanned(url, exc)
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
                    _not_scanned(url, exc)
            progress.advance(task)
    return results


def _own_surfaces(connection: Connection, url: str) -> dict[str, Any]:
    return own_surfaces(
        connection.own,
        url,
        connection.dashboard_account,
        warn=lambda line: console.print(f"[yellow]{line}[/yellow]", highlight=False),
    )


def _log_to_file(stack: Path | None) -> None:
    """The scan's log (why a system was not scanned, in detail) goes to the stack's log folder, or
    to standard error; the console keeps one line per system."""
    if stack is not None:
        path = stack / "logs" / "gateway-scan.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        configure_logging(json=True, stream=path.open("a", encoding="utf-8"))
    else:
        configure_logging(json=True, stream=sys.stderr)


def _not_scanned(url: str, exc: GatewayError) -> None:
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


async def _record(connection: Connection, results: list[ScanResult], scan_id: str) -> None:
    client = connection.trail.client()
    trail = connection.trail.trail(client, Producer.SCANNERS)
    actor = Actor(name="scanner", client_id="gateway-scan")
    try:
        for result in results:
            for event in result.audit_events(scan_id, actor):
                await trail.record(event)
    finally:
        await client.aclose()


def _save_state(connection: Connection, results: list[ScanResult]) -> None:
    state: dict[str, list[str]] = (
        json.loads(connection.state_file.read_text()) if connection.state_file.exists() else {}
    )
    for result in results:
        state[f"{result.kind}|{result.system}"] = sorted(result.fingerprints)
    connection.state_file.parent.mkdir(parents=True, exist_ok=True)
    connection.state_file.write_text(json.dumps(state, indent=1))


def _once(
    connection: Connection,
    sarif: Path | None,
    ca_file: Path | None,
    records_files: list[Path] | None = None,
    budget_seconds: float = 0,
    dast_seconds: float = DEFAULT_DAST_SECONDS,
) -> int:
    scan_id = uuid.uuid4().hex
    # Read each time: a scheduled scan sees today's records.
    records = record_ids(records_files) if records_files else None
    results = asyncio.run(_scan(connection, ca_file, records, budget_seconds, dast_seconds))
    # Fail closed: a scan whose findings cannot be recorded in the audit log did not happen.
    asyncio.run(_record(connection, results, scan_id))
    _save_state(connection, results)
    if sarif is not None:
        sarif.write_text(
            json.dumps(to_sarif(results, default_rules()), ensure_ascii=False, indent=1)
        )
    for result in results:
        console.print(
            f"{result.kind:8} {result.system:40} điểm/score {result.score:3}  "
            f"{len(result.open)} phát hiện/findings, {len(result.new)} mới/new, "
            f"{len(result.fixed)} đã sửa/fixed"
            + (f", {len(result.accepted)} chấp nhận/accepted" if result.accepted else "")
        )
        for finding in result.findings:
            console.print(f"   {finding.line()}", highlight=False)
    serious = any(f.severity in {Severity.CRITICAL, Severity.HIGH} for r in results for f in r.open)
    console.print(f"scan {scan_id}")
    return 4 if serious else 0


StackOption = Annotated[
    Path | None,
    typer.Option(
        "--stack",
        help="Thư mục của cổng chạy trên máy này (đọc connection.json), ví dụ .work/run",
    ),
]
SettingsOption = Annotated[
    Path | None,
    typer.Option("--settings", help="Tệp cấu hình kết nối (JSON, 0600) / connection settings file"),
]


@app.command("run")
def run(
    stack: StackOption = None,
    settings: SettingsOption = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Ghi kết quả SARIF 2.1.0")] = None,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA bổ sung cho quét TLS (PEM)")
    ] = None,
    every: Annotated[
        float, typer.Option("--every", help="Quét lặp lại mỗi N giây (0: một lần)", min=0)
    ] = 0,
    budget: Annotated[
        float,
        typer.Option(
            "--budget-seconds",
            help="Ngân sách thời gian của một lượt quét (0: không giới hạn) / time budget",
            min=0,
        ),
    ] = 0,
    dast: Annotated[
        float,
        typer.Option(
            "--dast-seconds",
            help="Thời gian quét động (wapiti) mỗi hệ thống, 0: không quét / DAST time per system",
            min=0,
        ),
    ] = DEFAULT_DAST_SECONDS,
    records: Annotated[
        list[Path] | None,
        typer.Option(
            "--records",
            help="Hồ sơ cán bộ/học sinh (CSV) để tìm tài khoản không có hồ sơ / records, for orphans",
        ),
    ] = None,
) -> None:
    """Scan every registered system once, or every ``--every`` seconds — and at once when the
    dashboard's compliance page asks for a scan in between."""
    _log_to_file(stack)
    try:
        connection = _connect(stack, settings)
        while True:
            code = _once(connection, sarif, ca_file, records, budget, dast)
            if not every:
                raise typer.Exit(code)
            _wait_for_turn(connection.trail, every)
    except GatewayError as exc:
        console.print(f"[red]{escape(exc.diagnostics())}[/red]", highlight=False)
        raise typer.Exit(1) from exc


def _wait_for_turn(trail: TrailSettings, every: float) -> None:
    """Wait ``every`` seconds, or until the dashboard asks for a scan (``scan:requests``, read with
    the scanners' own Redis user); if the queue cannot be reached, just wait."""
    from redis.exceptions import RedisError

    from audit.scan_requests import next_request
    from gateway_runtime.redis_connection import RedisAddress

    client = RedisAddress.parse(trail.redis_url).client(
        username=trail.redis_username,
        password=trail.redis_password.get_secret_value() if trail.redis_password else None,
        socket_timeout=every + 10,
    )
    try:
        request = next_request(client, every)
    except RedisError as exc:
        _log.warning("scan.requests_unreachable", error=type(exc).__name__)
        time.sleep(every)
        return
    finally:
        client.close()
    if request is not None:
        _log.info("scan.requested", request_id=request.request_id, by=request.by, at=request.at)
        console.print(f"Quét theo yêu cầu / scan requested by {request.by}", highlight=False)


if __name__ == "__main__":
    app()
