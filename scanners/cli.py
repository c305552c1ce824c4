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
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.markup import escape

from audit.trail import TrailSettings
from gateway_runtime import configure_logging
from gateway_runtime.errors import GatewayError
from idp_config.connection import CONNECTION_FILE, AuditTrailMissing
from policies import Severity, default_rules
from scanners.account_hygiene import record_ids
from scanners.connection import ScanConnection
from scanners.findings import to_sarif
from scanners.sweep import (
    DEFAULT_DAST_SECONDS,
    Connection,
    connect,
    record_results,
    save_state,
    scan_all,
)

_log = structlog.get_logger(__name__)

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Quét tuân thủ / compliance scans"
)
console = Console(soft_wrap=True)


@app.callback()
def main() -> None:
    """Quét tuân thủ các hệ thống đã đăng ký / compliance scans of the registered systems."""


def _connect(stack: Path | None, settings: Path | None) -> Connection:
    if stack is not None and settings is not None:
        console.print("--stack or --settings, not both")
        raise typer.Exit(1)
    try:
        return connect(ScanConnection.load(stack / CONNECTION_FILE if stack else settings))
    except AuditTrailMissing as exc:
        console.print(f"{exc.detail}: findings must be audited", highlight=False)
        raise typer.Exit(1) from exc


def _log_to_file(stack: Path | None) -> None:
    """The scan's log (why a system was not scanned, in detail) goes to the stack's log folder, or
    to standard error; the console keeps one line per system."""
    if stack is not None:
        path = stack / "logs" / "gateway-scan.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        configure_logging(json=True, stream=path.open("a", encoding="utf-8"))
    else:
        configure_logging(json=True, stream=sys.stderr)


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
    results = asyncio.run(
        scan_all(connection, console, ca_file, records, budget_seconds, dast_seconds)
    )
    # Fail closed: a scan whose findings cannot be recorded in the audit log did not happen.
    asyncio.run(record_results(connection, results, scan_id))
    save_state(connection, results)
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
