"""``idp-config``: plan, apply, drift and export of the realm as code; issuing accounts.

Connection (:class:`~idp_config.connection.IdpConnection`): the environment (``KEYCLOAK_URL``,
``KEYCLOAK_ADMIN_USER``, ``KEYCLOAK_ADMIN_PASSWORD``...), and/or a settings file: ``--settings
FILE``, or ``--stack FOLDER`` for the ``connection.json`` the local gateway writes in its folder
(e.g. ``.work/run``). Exit codes: 0 nothing to do / done, 1 error, 2 ``drift`` found differences,
3 ``apply`` refused by the policies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from keycloak import KeycloakAdmin
from rich.console import Console
from rich.markup import escape

from gateway_runtime.errors import GatewayError
from idp_config.apply import apply_realm
from idp_config.connection import CONNECTION_FILE, AuditTrailMissing, IdpConnection
from idp_config.errors import ConnectionSettingsError, IdpConfigError
from idp_config.export import export_realm
from idp_config.model import DEFAULT_REALM_FILE, RealmSpec, load_realm
from idp_config.plan import Action, live_state, plan, render
from policies import PolicyViolation

if TYPE_CHECKING:
    from idp_config.accounts import AccountAuditTrail
    from idp_config.population.registry import PopulationRegistry, Reason

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Realm as code / cấu hình SSO")
console = Console()

RealmFile = Annotated[Path, typer.Option("--realm-file", help="Tệp realm (YAML)")]
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


class _Target:
    """The realm file read for a deployment, its connection settings, and its Keycloak, logged in
    to on first use (a bad realm or records file is named without reaching Keycloak)."""

    def __init__(self, spec: RealmSpec, connection: IdpConnection) -> None:
        self.spec = spec
        self.connection = connection

    @cached_property
    def admin(self) -> KeycloakAdmin:
        return self.connection.admin()


def _settings_file(stack: Path | None, settings: Path | None) -> Path | None:
    if stack is not None and settings is not None:
        console.print("--stack or --settings, not both")
        raise typer.Exit(1)
    return stack / CONNECTION_FILE if stack is not None else settings


def _connect(
    stack: Path | None, settings: Path | None, realm_file: Path = DEFAULT_REALM_FILE
) -> _Target:
    """Keycloak from the settings (file and/or environment), and the realm file read with the
    deployment's values for its ``${...}`` variables."""
    try:
        connection = IdpConnection.load(_settings_file(stack, settings))
    except ConnectionSettingsError:
        load_realm(realm_file)  # a broken realm file is named first: no Keycloak needed to fix it
        raise
    spec = load_realm(realm_file, connection.idp_realm_variables)
    return _Target(spec, connection)


def _review_csv(review: list[tuple[str, Reason]]) -> str:
    """The review queue for a spreadsheet: the reason in Vietnamese, then in English; fields that
    hold a comma (two account names) quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record_id", "reason", "reason_en"])
    writer.writerows((record_id, reason.vi, reason.en) for record_id, reason in review)
    return out.getvalue()


def _fail(error: GatewayError, code: int = 1) -> None:
    console.print(f"[red]{escape(error.diagnostics())}[/red]", highlight=False)
    raise typer.Exit(code)


@app.command("plan")
def plan_command(
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Show what `apply` would change, like `terraform plan`."""
    try:
        target = _connect(stack, settings, realm_file)
        console.print(render(plan(target.admin, target.spec)), highlight=False)
    except GatewayError as exc:
        _fail(exc)


@app.command()
def drift(
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Report what was changed in Keycloak by hand, outside the files (exit 2 if anything)."""
    try:
        target = _connect(stack, settings, realm_file)
        changes = [c for c in plan(target.admin, target.spec) if c.action is not Action.CREATE]
    except GatewayError as exc:
        _fail(exc)
        return
    if not changes:
        console.print("Không có sai lệch / No drift.")
        return
    console.print("Sai lệch so với tệp cấu hình / Drift from the files:", highlight=False)
    console.print(render(changes), highlight=False)
    raise typer.Exit(2)


@app.command("apply")
def apply_command(
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Converge the live realm on the files; refused if they break a policy."""
    try:
        target = _connect(stack, settings, realm_file)
        connection = target.connection
        report = apply_realm(
            target.admin,
            target.spec,
            client_secrets=connection.client_secrets(),
            user_passwords=connection.user_passwords(),
            provider_secrets=connection.provider_secrets(
                [p.alias for p in target.spec.identity_providers]
            ),
            smtp_password=(
                connection.idp_smtp_password.get_secret_value()
                if connection.idp_smtp_password
                else None
            ),
        )
    except PolicyViolation as exc:
        _fail(exc, code=3)
        return
    except GatewayError as exc:
        _fail(exc)
        return
    console.print(f"created: {len(report.created)}, updated: {len(report.updated)}")
    for address in [*report.created, *report.updated]:
        console.print(f"  {address}", highlight=False)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="Tệp YAML sẽ ghi / file to write")],
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Write the live realm back as a realm file."""
    try:
        target = _connect(stack, settings, realm_file)
        out.write_text(
            export_realm(target.spec.realm, live_state(target.admin, target.spec)), encoding="utf-8"
        )
    except GatewayError as exc:
        _fail(exc)
    console.print(f"written: {out}")


@app.command("build-extensions")
def build_extensions_command(
    out: Annotated[Path, typer.Option(help="Thư mục ghi các tệp jar / folder for the jars")],
) -> None:
    """Compile the project's Keycloak extensions (``idp_config/extensions``) against Keycloak's own
    jars, for the ``providers`` folder of a production Keycloak (see compose.yaml)."""
    from idp_config import keycloak_distribution
    from idp_config.jdk import find_java_home

    try:
        home = keycloak_distribution.distribution()
        jars = keycloak_distribution.build_extensions(home, find_java_home(), out)
    except GatewayError as exc:
        _fail(exc)
        return
    for jar in jars:
        console.print(f"written: {jar}", highlight=False)


@app.command("issue-accounts")
def issue_accounts(
    records_file: Annotated[
        Path, typer.Argument(help="Danh sách cán bộ hoặc học sinh (CSV) / staff or student records")
    ],
    population: Annotated[
        Path | None,
        typer.Option(
            help="Trích xuất dữ liệu dân cư (CSV/JSON); hoặc POPULATION_URL + POPULATION_API_KEY"
        ),
    ] = None,
    students: Annotated[
        bool,
        typer.Option(
            "--students",
            help="Danh sách học sinh kèm cha mẹ (liên kết khi cùng hộ) / students with a parent",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Chỉ in, không thay đổi")] = False,
    review_out: Annotated[
        Path | None, typer.Option(help="Ghi hàng chờ xem xét (CSV) / write the review queue")
    ] = None,
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Create, move, disable and re-enable accounts from staff records (or, with --students,
    students and their parents) checked against the population database; every change is an
    audit event. The audit trail is the settings' (``IDP_AUDIT_REDIS_URL``,
    ``IDP_AUDIT_REDIS_USERNAME``, ``IDP_AUDIT_REDIS_PASSWORD``, ``IDP_AUDIT_MAC_KEY``, or the
    stack's); without one nothing is changed (``--dry-run`` still works)."""
    import asyncio

    from rich.progress import Progress

    from idp_config.accounts import (
        FamilyPlan,
        IssuePlan,
        RowProblem,
        execute,
        execute_family,
        parse_records,
        parse_student_records,
        plan_accounts,
        plan_family_accounts,
        read_records_file,
    )

    family: FamilyPlan | None = None
    problems: list[RowProblem]
    try:
        target = _connect(stack, settings, realm_file)
        spec = target.spec
        text = read_records_file(records_file)
        if students:
            pairs, problems = parse_student_records(text, spec, source=str(records_file))
        else:
            records, problems = parse_records(text, spec, source=str(records_file))
        for problem in problems:
            console.print(f"[yellow]{escape(str(problem))}[/yellow]", highlight=False)
        registry = _registry(population, target.connection)
        admin = target.admin
        plan: IssuePlan
        if students:
            family = asyncio.run(plan_family_accounts(admin, spec, pairs, registry))
            plan = family.students
        else:
            plan = asyncio.run(plan_accounts(admin, spec, records, registry))
        for action in plan.actions:
            console.print(
                f"{action.change.value:8} {action.record.username} {action.detail}", highlight=False
            )
        for link in family.parents if family else []:
            console.print(
                f"{'parent':8} {link.parent.username} -> {', '.join(link.children)}",
                highlight=False,
            )
        review = [*plan.review, *(family.review if family else [])]
        if review_out is not None:
            review_out.write_text(_review_csv(review), encoding="utf-8")
        if not dry_run:
            record_change = _audit_recorder(target.connection)  # no trail: nothing changes
            with Progress(console=console, transient=True) as progress:
                total = len(plan.actions) + (len(family.parents) if family else 0)
                task = progress.add_task("Cấp tài khoản / issuing", total=total)

                def on_change(action: Any) -> None:
                    record_change(action)
                    progress.advance(task)

                if family is not None:
                    execute_family(admin, spec, family, on_change=on_change)
                else:
                    execute(admin, spec, plan, on_change=on_change)
    except GatewayError as exc:
        _fail(exc)
        return
    summary = plan.summary()
    console.print(
        ("(dry run) " if dry_run else "")
        + f"created {summary.get('create', 0)}, moved {summary.get('move', 0)}, "
        f"roles {summary.get('role', 0)}, disabled {summary.get('disable', 0)}, "
        f"enabled {summary.get('enable', 0)}, "
        + (f"parents linked {len(family.parents)}, " if family else "")
        + f"to review {len(review)}, bad rows {len({p.row for p in problems})}"
    )


@app.command("reset-password")
def reset_password_command(
    username: Annotated[str, typer.Argument(help="Tài khoản cần mật khẩu mới / the account")],
    operator: Annotated[
        str, typer.Option(help="Cán bộ CNTT thực hiện (tài khoản) / the IT officer doing it")
    ],
    reason: Annotated[
        str, typer.Option(help="Lý do, ghi vào nhật ký / why, for the audit log", min=5)
    ],
    realm_file: RealmFile = DEFAULT_REALM_FILE,
    stack: StackOption = None,
    settings: SettingsOption = None,
) -> None:
    """Give a one-time password to someone without an e-mail address, as their school's (or a
    unit above's) IT officer: printed once, replaced by the person at the next login, audited."""
    from idp_config.password_reset import plan_reset, reset_password

    if len(reason.strip()) < 5:
        _fail(IdpConfigError("--reason: say why (at least 5 characters), for the audit log"))
        return
    try:
        target = _connect(stack, settings, realm_file)
        reset = plan_reset(target.admin, target.spec, username=username, operator=operator)
        trail = _audit_trail(target.connection)  # reachable, or exit 1 before anything changes
        password = reset_password(target.admin, reset)
        trail.record_reset(reset, reason.strip())
        trail.close()
    except GatewayError as exc:
        _fail(exc)
        return
    console.print(
        f"Mật khẩu dùng một lần cho / one-time password for {reset.username}:", highlight=False
    )
    # Printed once, for the officer to hand over in person; never logged.
    console.print(password, highlight=False, markup=False)
    console.print(
        "Người dùng phải đổi mật khẩu ở lần đăng nhập tới / they must choose a new one at the "
        "next login.",
        highlight=False,
    )


def _registry(population: Path | None, connection: IdpConnection) -> PopulationRegistry:
    """The population database: a bulk extract, or the verification service of the settings."""
    from idp_config.population.registry import BulkExtract, HttpRegistry

    if population is not None:
        return BulkExtract.load(population)
    if connection.population_url is None or connection.population_api_key is None:
        console.print("give --population or set POPULATION_URL and POPULATION_API_KEY")
        raise typer.Exit(1)
    return HttpRegistry(connection.population_url, connection.population_api_key.get_secret_value())


def _audit_recorder(connection: IdpConnection) -> Callable[[Any], None]:
    """Record each account change in the audit log, through the trail the settings name.
    Without a trail, or one that cannot be reached, nothing may change (exit 1)."""
    return _audit_trail(connection).record


def _audit_trail(connection: IdpConnection) -> AccountAuditTrail:
    """The audit trail the settings name, reached now; without one, or one that cannot be
    reached, nothing may change (exit 1)."""
    from audit.producers import ProducerKeyError
    from idp_config.accounts import AccountAuditTrail

    try:
        trail = AccountAuditTrail(connection.audit_trail())
        trail.check()
    except AuditTrailMissing as exc:
        console.print(exc.diagnostics(), highlight=False, markup=False)
        console.print("Account changes must be audited; --dry-run works without.")
        raise typer.Exit(1) from exc
    except (ProducerKeyError, GatewayError) as exc:
        console.print(f"{exc.message_en} ({exc}); nothing was changed.", highlight=False)
        raise typer.Exit(1) from exc
    return trail


if __name__ == "__main__":
    app()
