"""``gateway``: run the whole gateway on this machine with demo data, stop it, show its status.

A thin layer over :class:`devstack.stack.Stack`: progress while it starts, then every URL and the demo
logins; in the foreground it supervises (:mod:`devstack.supervisor`: a component that exits is started
again with backoff, the others keep running). Exit codes: 0 success, 1 a component failed to start (the
message says which, with its log).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devstack.errors import StackError
from devstack.ha import open_stack
from devstack.stack import PROJECT_ROOT, Ports, Stack, StackInfo
from devstack.supervisor import Restarts, Supervisor, restarts_path
from gateway_runtime.errors import GatewayError
from gateway_runtime.local_time import for_people

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cổng định danh, ký số và an ninh ngành giáo dục — chạy trên máy này.",
)
console = Console()
DEFAULT_FOLDER = PROJECT_ROOT / ".work" / "run"

FolderOption = Annotated[Path, typer.Option(help="Thư mục dữ liệu / stack folder")]


def _print_info(stack: Stack, info: StackInfo) -> None:
    table = Table(title="Cổng an ninh giáo dục — đang chạy / running", show_lines=False)
    table.add_column("Thành phần / component")
    table.add_column("Địa chỉ / URL")
    table.add_row("Keycloak (SSO)", info.keycloak_url)
    table.add_row("Keycloak admin console", info.keycloak_admin_console)
    table.add_row("Keycloak health", info.keycloak_health)
    table.add_row("Realm issuer", info.issuer)
    table.add_row("Signing service (OpenAPI)", f"{info.signing_url}/docs")
    table.add_row("Audit service (OpenAPI)", f"{info.audit_url}/docs")
    table.add_row(
        "Audit dashboard (demo.antt; district: demo.antt.q1)",
        f"{info.audit_url.replace('127.0.0.1', 'localhost')}/dashboard",
    )
    table.add_row("Test PKI (CRL, OCSP, TSA)", info.pki_url)
    table.add_row("Redis", info.redis_url)
    table.add_row("Logs", f"{info.folder}/logs/")
    console.print(table)

    logins = Table(title="Tài khoản demo / demo logins (realm education)")
    logins.add_column("Tài khoản / user")
    logins.add_column("Vai trò / role")
    logins.add_column("Mật khẩu / password")
    for user in stack.realm_spec.users:
        logins.add_row(
            user.username, ", ".join(user.realm_roles), stack.user_password(user.username)
        )
    console.print(logins)
    clients = Table(title="Ứng dụng demo / demo API clients (client credentials)")
    clients.add_column("client_id")
    clients.add_column("client_secret")
    for client in stack.realm_spec.clients:
        if client.access_type.value == "service":
            clients.add_row(client.client_id, stack.client_secret(client.client_id))
    console.print(clients)
    console.print(
        f"Keycloak admin: admin / {stack.secrets.get('keycloak:admin')}\n"
        f"Secrets are kept in {stack.secrets.path} (mode 0600). "
        f"Sample documents to sign: {stack.folder / 'demo'}. "
        "Stop with Ctrl-C or `gateway stop`. See README.md for a signing example."
    )


@app.command()
def run(
    folder: FolderOption = DEFAULT_FOLDER,
    detach: Annotated[bool, typer.Option(help="Chạy nền rồi thoát / start and return")] = False,
    base_port: Annotated[
        int | None,
        typer.Option(
            help="Dùng 6 cổng liên tiếp từ đây / use six consecutive ports from here",
            min=1024,
            max=65000,
        ),
    ] = None,
    topology: Annotated[
        str | None,
        typer.Option(
            help=(
                "single: một máy / one of each; ha: cấu trúc sản xuất / the production topology "
                "(2 Keycloak nodes, PostgreSQL, 2 signing replicas, Redis Sentinel, HAProxy); "
                "mặc định: như lần trước / default: as the folder last ran"
            ),
        ),
    ] = None,
) -> None:
    """Start Keycloak, Redis, the token, the test PKI and the services with demo data."""
    ports = Ports.consecutive(base_port) if base_port else Ports()
    stack = open_stack(folder, ports, topology=topology)
    if stack.running():
        console.print("[bold]Đã chạy sẵn / already running[/bold]")
        _print_info(stack, StackInfo.load(stack.info_path))
        return
    try:
        with console.status("Đang khởi động / starting…") as status:
            info = stack.up(progress=lambda step: status.update(f"{step}…"))
    except GatewayError as exc:
        console.print(f"[red]{exc.diagnostics()}[/red]")
        stack.down()
        raise typer.Exit(1) from exc
    _print_info(stack, info)
    if detach:
        return
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    supervisor = Supervisor(
        stack.processes(), say=lambda line: console.print(f"[yellow]{line}[/yellow]")
    )
    if supervisor.unsupervised:
        console.print(
            "Không tự khởi động lại / not restarted if they exit (started by another run): "
            + ", ".join(supervisor.unsupervised)
        )
    console.print("Nhấn Ctrl-C để dừng / press Ctrl-C to stop")
    while not stopping.wait(1.0):
        if not stack.info_path.exists():  # `gateway stop` from elsewhere: it stops the components
            console.print("Dừng theo yêu cầu / stopped by `gateway stop`")
            break
        supervisor.check()
    stopped = stack.down()
    console.print(f"Đã dừng / stopped: {', '.join(stopped) or '-'}")


@app.command()
def stop(folder: FolderOption = DEFAULT_FOLDER) -> None:
    """Stop everything `gateway run` started."""
    stopped = open_stack(folder).down()
    console.print(f"Đã dừng / stopped: {', '.join(stopped) or 'không có gì / nothing was running'}")


@app.command()
def status(folder: FolderOption = DEFAULT_FOLDER) -> None:
    """Show which components run."""
    stack = open_stack(folder)
    for process in stack.processes():
        state = "chạy / running" if process.running() else "dừng / stopped"
        restarts = Restarts.read(restarts_path(process))
        since = f", lần cuối / last {for_people(restarts.last)}" if restarts.last else ""
        console.print(
            f"{process.name:10} {state:16} khởi động lại / restarts {restarts.count}{since}",
            highlight=False,
        )
    if not stack.running():
        raise typer.Exit(3)


def main() -> None:
    try:
        app()
    except StackError as exc:  # pragma: no cover - reported above
        console.print(f"[red]{exc.diagnostics()}[/red]")
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
