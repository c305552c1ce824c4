"""``idp-config``: plan, apply, drift and export of the realm as code.

Connection: ``--stack FOLDER`` (the local gateway's folder, e.g. ``.work/run``) or the environment
``KEYCLOAK_URL``, ``KEYCLOAK_ADMIN_USER``, ``KEYCLOAK_ADMIN_PASSWORD``. Exit codes: 0 nothing to do /
done, 1 error, 2 ``drift`` found differences, 3 ``apply`` refused by the policies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from keycloak import KeycloakAdmin
from rich.console import Console

from gateway_runtime.errors import GatewayError
from idp_config.apply import admin_client, apply_realm
from idp_config.export import export_realm
from idp_config.model import DEFAULT_REALM_FILE, RealmSpec, load_realm
from idp_config.plan import Action, live_state, plan, render
from policies import PolicyViolation

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Realm as code / cấu hình SSO")
console = Console()

RealmFile = Annotated[Path, typer.Option("--realm-file", help="Tệp realm (YAML)")]
StackOption = Annotated[
    Path | None, typer.Option("--stack", help="Thư mục của cổng chạy trên máy này, ví dụ .work/run")
]


@dataclass(frozen=True)
class _Target:
    """The live Keycloak to work on, the realm file read for it, and the secrets to apply with."""

    admin: KeycloakAdmin
    spec: RealmSpec
    client_secrets: dict[str, str]
    user_passwords: dict[str, str]
    provider_secrets: dict[str, str]


def _connect(stack: Path | None, realm_file: Path = DEFAULT_REALM_FILE) -> _Target:
    """A stack on this machine (``--stack``: its addresses fill the realm file's variables and its
    secret store gives the secrets), or the Keycloak named by ``KEYCLOAK_URL`` with the secrets of
    external identity providers in ``IDP_PROVIDER_SECRET_<ALIAS>``."""
    if stack is not None:
        from urllib.parse import urlsplit

        from devstack import Stack, StackInfo
        from devstack.stack import realm_variables

        local = Stack(stack)
        info = StackInfo.load(local.info_path)
        admin = admin_client(info.keycloak_url, "admin", local.secrets.get("keycloak:admin"))
        variables = realm_variables(
            urlsplit(info.keycloak_url).port or 80, urlsplit(info.audit_url).port or 80
        )
        spec = load_realm(realm_file, variables)
        return _Target(
            admin,
            spec,
            {c.client_id: local.client_secret(c.client_id) for c in spec.clients},
            {u.username: local.user_password(u.username) for u in spec.users},
            {p.alias: local.provider_secret(p.alias) for p in spec.identity_providers},
        )
    spec = load_realm(realm_file)
    try:
        url = os.environ["KEYCLOAK_URL"]
        user = os.environ["KEYCLOAK_ADMIN_USER"]
        password = os.environ["KEYCLOAK_ADMIN_PASSWORD"]
    except KeyError as missing:
        console.print(f"set {missing.args[0]} (or pass --stack)")
        raise typer.Exit(1) from missing
    providers = {
        p.alias: os.environ[name]
        for p in spec.identity_providers
        if (name := f"IDP_PROVIDER_SECRET_{p.alias.upper().replace('-', '_')}") in os.environ
    }
    return _Target(admin_client(url, user, password), spec, {}, {}, providers)


def _fail(error: GatewayError, code: int = 1) -> None:
    console.print(f"[red]{error.diagnostics()}[/red]")
    raise typer.Exit(code)


@app.command("plan")
def plan_command(realm_file: RealmFile = DEFAULT_REALM_FILE, stack: StackOption = None) -> None:
    """Show what `apply` would change, like `terraform plan`."""
    try:
        target = _connect(stack, realm_file)
        console.print(render(plan(target.admin, target.spec)), highlight=False)
    except GatewayError as exc:
        _fail(exc)


@app.command()
def drift(realm_file: RealmFile = DEFAULT_REALM_FILE, stack: StackOption = None) -> None:
    """Report what was changed in Keycloak by hand, outside the files (exit 2 if anything)."""
    try:
        target = _connect(stack, realm_file)
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
def apply_command(realm_file: RealmFile = DEFAULT_REALM_FILE, stack: StackOption = None) -> None:
    """Converge the live realm on the files; refused if they break a policy."""
    try:
        target = _connect(stack, realm_file)
        report = apply_realm(
            target.admin,
            target.spec,
            client_secrets=target.client_secrets,
            user_passwords=target.user_passwords,
            provider_secrets=target.provider_secrets,
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
) -> None:
    """Write the live realm back as a realm file."""
    try:
        target = _connect(stack, realm_file)
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
    import shutil

    from devstack import keycloak as keycloak_dist
    from devstack.stack import PROJECT_ROOT

    try:
        home = keycloak_dist.install(PROJECT_ROOT / ".work" / "cache")
    except GatewayError as exc:
        _fail(exc)
        return
    out.mkdir(parents=True, exist_ok=True)
    for jar in sorted((home / "providers").glob("edu-gateway-*.jar")):
        shutil.copy2(jar, out / jar.name)
        console.print(f"written: {out / jar.name}", highlight=False)


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
) -> None:
    """Create, move, disable and re-enable accounts from staff records (or, with --students,
    students and their parents) checked against the population database; every change is an
    audit event. The audit trail is the stack's (``--stack``) or the environment's
    (``IDP_AUDIT_REDIS_URL``, ``IDP_AUDIT_REDIS_USERNAME``, ``IDP_AUDIT_REDIS_PASSWORD``,
    ``IDP_AUDIT_MAC_KEY``); without one nothing is changed (``--dry-run`` still works)."""
    import asyncio

    from rich.progress import Progress

    from idp_config.accounts import (
        FamilyPlan,
        IssuePlan,
        execute,
        execute_family,
        parse_records,
        parse_student_records,
        plan_accounts,
        plan_family_accounts,
        read_records_file,
    )
    from idp_config.population.registry import BulkExtract, HttpRegistry, PopulationRegistry

    family: FamilyPlan | None = None
    try:
        target = _connect(stack, realm_file)
        admin, spec = target.admin, target.spec
        text = read_records_file(records_file)
        if students:
            pairs, problems = parse_student_records(text, spec)
        else:
            records, problems = parse_records(text, spec)
        for problem in problems:
            console.print(f"[yellow]{problem}[/yellow]", highlight=False)
        registry: PopulationRegistry
        if population is not None:
            registry = BulkExtract.load(population)
        else:
            try:
                registry = HttpRegistry(
                    os.environ["POPULATION_URL"], os.environ["POPULATION_API_KEY"]
                )
            except KeyError as missing:
                console.print(f"give --population or set {missing.args[0]}")
                raise typer.Exit(1) from missing
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
            review_out.write_text(
                "record_id,reason\n" + "".join(f"{r},{why}\n" for r, why in review),
                encoding="utf-8",
            )
        if not dry_run:
            record_change = _audit_recorder(stack)  # refuses to go on without an audit trail
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
        + f"to review {len(review)}, bad rows {len(problems)}"
    )


def _audit_recorder(stack: Path | None) -> Callable[[Any], None]:
    """Record each account change in the audit log: the stack's trail, or the one the environment
    names. Without a trail, or one that cannot be reached, nothing may change (exit 1)."""
    from pydantic import ValidationError

    from audit.producers import Producer, ProducerKeyError
    from audit.trail import TrailSettings
    from idp_config.accounts import AccountAuditTrail

    if stack is not None:
        from devstack import Stack, StackInfo

        local = Stack(stack)
        settings = local.trail_settings(
            Producer.ACCOUNTS, StackInfo.load(local.info_path).redis_url
        )
    else:
        try:
            settings = TrailSettings(_env_prefix="IDP_AUDIT_")  # type: ignore[call-arg]  # from the environment
        except ValidationError as exc:
            missing = ", ".join(f"IDP_AUDIT_{str(e['loc'][0]).upper()}" for e in exc.errors())
            console.print(
                f"Không có nhật ký kiểm toán; không thay đổi gì. / No audit trail: set {missing} "
                "(or pass --stack). Account changes must be audited; --dry-run works without."
            )
            raise typer.Exit(1) from exc
    try:
        trail = AccountAuditTrail(settings)
        trail.check()
    except (ProducerKeyError, GatewayError) as exc:
        console.print(f"{exc.message_en} ({exc}); nothing was changed.", highlight=False)
        raise typer.Exit(1) from exc
    return trail.record


if __name__ == "__main__":
    app()
