"""Converge a live Keycloak realm on a :class:`~idp_config.model.RealmSpec` (create or update).

Idempotent: applying the same spec twice changes nothing the second time beyond re-setting the
secrets from the stack's secret store. Secrets (client secrets, demo passwords) are passed in, never
read from the YAML, and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from idp_config.errors import KeycloakUnreachable
from idp_config.flows import (
    broker_link_flow_present,
    create_broker_link_flow,
    create_step_up_flow,
    ensure_identity_provider_redirector,
    step_up_flow_present,
)
from idp_config.model import AccessType, RealmSpec
from idp_config.plan import Action, desired_state, diff, group_tree, live_state
from idp_config.representation import (
    ADMIN_CONSOLE,
    client_representation,
    client_scope_representation,
    evaluated_clients,
    identity_provider_mapper_representation,
    identity_provider_representation,
    profile_attribute_representation,
    realm_representation,
    user_representation,
)
from policies import PolicyViolation, Violation, evaluate_realm

_log = structlog.get_logger(__name__)


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def changed(self) -> bool:
        return bool(self.created or self.updated)


def admin_client(server_url: str, username: str, password: str) -> KeycloakAdmin:
    """An admin API client logged in to the master realm."""
    try:
        admin = KeycloakAdmin(
            server_url=server_url,
            username=username,
            password=password,
            realm_name="master",
            user_realm_name="master",
            verify=True,
        )
        admin.get_realms()
    except KeycloakError as exc:
        raise KeycloakUnreachable(f"{server_url} (HTTP {exc.response_code})") from exc
    return admin


def check_realm(spec: RealmSpec) -> list[Violation]:
    """The policy violations of ``spec``, judged on exactly what would be sent to Keycloak."""
    return evaluate_realm(realm_representation(spec), evaluated_clients(spec))


def apply_realm(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    *,
    client_secrets: Mapping[str, str],
    user_passwords: Mapping[str, str],
    provider_secrets: Mapping[str, str] | None = None,
) -> ApplyReport:
    """Converge the live realm on ``spec``; refuse (changing nothing) if it breaks a policy.

    ``provider_secrets``: the client secret the realm holds at each external identity provider,
    by alias (set when the provider is created or changed, never diffed or shown)."""
    violations = check_realm(spec)
    if violations:
        _log.warning("idp.realm_refused", realm=spec.realm, rules=[v.rule_id for v in violations])
        raise PolicyViolation("; ".join(v.line() for v in violations))
    report = ApplyReport()
    try:
        # Only what differs is sent: a second apply makes no call that changes anything.
        outdated = {
            change.address
            for change in diff(desired_state(spec), live_state(admin, spec))
            if change.action in {Action.UPDATE, Action.CREATE}
        }
        _apply(admin, spec, client_secrets, user_passwords, report, outdated)
        _apply_identity_providers(admin, spec, provider_secrets or {}, report, outdated)
    except KeycloakError as exc:
        reason = (
            exc.error_message.decode(errors="replace")
            if isinstance(exc.error_message, bytes)
            else str(exc.error_message)
        )
        raise KeycloakUnreachable(
            f"admin API answered HTTP {exc.response_code}: {reason[:300]}"
        ) from exc
    _log.info("idp.realm_applied", realm=spec.realm, created=len(report.created))
    return report


def _apply(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    client_secrets: Mapping[str, str],
    user_passwords: Mapping[str, str],
    report: ApplyReport,
    outdated: set[str],
) -> None:
    admin.change_current_realm("master")
    realms = {r["realm"] for r in admin.get_realms()}
    payload = realm_representation(spec)
    # The step-up flow must exist before the realm can be bound to it.
    browser_flow = payload.pop("browserFlow", None)
    if spec.realm in realms:
        if f"realm/{spec.realm}" in outdated:
            admin.update_realm(spec.realm, payload)
            report.updated.append(f"realm/{spec.realm}")
    else:
        admin.create_realm(payload, skip_exists=True)
        report.created.append(f"realm/{spec.realm}")
    admin.change_current_realm(spec.realm)
    if browser_flow is not None:
        if not step_up_flow_present(admin):
            create_step_up_flow(admin)
            report.created.append(f"flow/{browser_flow}")
        elif ensure_identity_provider_redirector(admin):
            report.updated.append(f"flow/{browser_flow}")
        if admin.get_realm(spec.realm).get("browserFlow") != browser_flow:
            admin.update_realm(spec.realm, {"browserFlow": browser_flow})
            report.updated.append(f"realm/{spec.realm}:browserFlow")

    existing_roles = {r["name"] for r in admin.get_realm_roles()}
    for role in spec.roles:
        if role.name in existing_roles:
            if f"role/{role.name}" in outdated:
                admin.update_realm_role(
                    role.name, {"name": role.name, "description": role.description}
                )
                report.updated.append(f"role/{role.name}")
        else:
            admin.create_realm_role({"name": role.name, "description": role.description})
            report.created.append(f"role/{role.name}")
    for role in spec.roles:
        have = {r["name"] for r in admin.get_composite_realm_roles_of_role(role.name)}
        want = set(role.composites)
        if want - have:
            admin.add_composite_realm_roles_to_role(
                role.name, [admin.get_realm_role(name) for name in sorted(want - have)]
            )
            report.updated.append(f"role/{role.name}:composites")
        if have - want:
            admin.remove_composite_realm_roles_to_role(
                role.name, [admin.get_realm_role(name) for name in sorted(have - want)]
            )
            report.updated.append(f"role/{role.name}:composites")

    if spec.units:
        groups = {path: group["id"] for path, group in group_tree(admin).items()}
        for unit in spec.units:  # parents come before their children
            group_body = {"name": unit.code, "attributes": unit.attributes()}
            address = f"group{unit.address}"
            if unit.address in groups:
                if address in outdated:
                    admin.update_group(groups[unit.address], group_body)
                    report.updated.append(address)
            else:
                parent = "/" + "/".join(unit.path[:-1]) if len(unit.path) > 1 else None
                groups[unit.address] = admin.create_group(
                    group_body, parent=groups[parent] if parent else None, skip_exists=True
                )
                report.created.append(address)

    if any(f"user-profile/{a.name}" in outdated for a in spec.user_profile):
        profile = admin.get_realm_users_profile()
        declared = {a.name: profile_attribute_representation(a) for a in spec.user_profile}
        kept = [a for a in profile.get("attributes", []) if a["name"] not in declared]
        profile["attributes"] = [*kept, *declared.values()]
        admin.update_realm_users_profile(profile)
        report.updated.append("user-profile")

    scope_ids = {scope["name"]: scope["id"] for scope in admin.get_client_scopes()}
    for scope in spec.client_scopes:
        body = client_scope_representation(scope)
        if scope.name in scope_ids:
            if f"client-scope/{scope.name}" in outdated:
                admin.update_client_scope(scope_ids[scope.name], body)
                for mapper in admin.get_mappers_from_client_scope(scope_ids[scope.name]):
                    admin.delete_mapper_from_client_scope(scope_ids[scope.name], mapper["id"])
                for mapper in body["protocolMappers"]:
                    admin.add_mapper_to_client_scope(scope_ids[scope.name], mapper)
                report.updated.append(f"client-scope/{scope.name}")
        else:
            scope_ids[scope.name] = admin.create_client_scope(body)
            report.created.append(f"client-scope/{scope.name}")

    internal_ids: dict[str, str] = {}
    for client in spec.clients:
        secret = client_secrets.get(client.client_id)
        body = client_representation(client, secret)
        internal = admin.get_client_id(client.client_id)
        if internal:
            if f"client/{client.client_id}" in outdated:
                admin.update_client(internal, body)
                report.updated.append(f"client/{client.client_id}")
        else:
            internal = admin.create_client(body)
            report.created.append(f"client/{client.client_id}")
        internal_ids[client.client_id] = internal
        have = {r["name"] for r in admin.get_client_roles(internal)}
        for role_name in client.roles:
            if role_name not in have:
                admin.create_client_role(internal, {"name": role_name}, skip_exists=True)
                report.created.append(f"client-role/{client.client_id}:{role_name}")
        if client.visible_roles is not None:
            seen = {r["name"] for r in admin.get_realm_roles_of_client_scope(internal)}
            want = set(client.visible_roles)
            if want - seen:
                admin.assign_realm_roles_to_client_scope(
                    internal, [admin.get_realm_role(n) for n in sorted(want - seen)]
                )
                report.updated.append(f"client-visible-roles/{client.client_id}")
            if seen - want:
                admin.delete_realm_roles_of_client_scope(
                    internal, [admin.get_realm_role(n) for n in sorted(seen - want)]
                )
                report.updated.append(f"client-visible-roles/{client.client_id}")
        optional = {s["name"] for s in admin.get_client_optional_client_scopes(internal)}
        for scope_name in client.optional_scopes:
            if scope_name not in optional:
                admin.add_client_optional_client_scope(internal, scope_ids[scope_name], {})
                report.created.append(f"client-scopes/{client.client_id}:{scope_name}")

    console_id = admin.get_client_id(ADMIN_CONSOLE)
    if console_id and f"admin-console/{ADMIN_CONSOLE}" in outdated:
        console = admin.get_client(console_id)
        attributes = {
            **(console.get("attributes") or {}),
            "minimum.acr.value": spec.security.admin_console_minimum_acr,
        }
        admin.update_client(console_id, {**console, "attributes": attributes})
        report.updated.append(f"admin-console/{ADMIN_CONSOLE}")

    for client in spec.clients:
        if client.access_type is not AccessType.SERVICE:
            continue
        account = admin.get_client_service_account_user(internal_ids[client.client_id])
        for owner, roles in client.service_account_roles.items():
            owner_id = internal_ids.get(owner) or admin.get_client_id(owner)
            if owner_id is None:
                raise KeycloakUnreachable(f"client {owner!r} not found in realm {spec.realm!r}")
            granted = {r["name"] for r in admin.get_client_roles_of_user(account["id"], owner_id)}
            missing = [admin.get_client_role(owner_id, r) for r in roles if r not in granted]
            if missing:
                admin.assign_client_role(account["id"], owner_id, missing)
                report.created.append(f"grant/{client.client_id}->{owner}")

    for user in spec.users:
        user_id = admin.get_user_id(user.username)
        body = user_representation(user)
        if user_id:
            if f"user/{user.username}" in outdated:
                # Keycloak replaces the whole attribute map: keep what others set (a citizen ID).
                live_attributes = admin.get_user(user_id).get("attributes") or {}
                body["attributes"] = {**live_attributes, **body.get("attributes", {})}
                admin.update_user(user_id, body)
                report.updated.append(f"user/{user.username}")
        else:
            user_id = admin.create_user(body, exist_ok=True)
            report.created.append(f"user/{user.username}")
            # A password is set when the account is created; later applies leave it to its owner
            # (the realm's password history would refuse the same one anyway).
            password = user_passwords.get(user.username)
            if password is not None:
                admin.set_user_password(user_id, password, temporary=False)
        have = {r["name"] for r in admin.get_realm_roles_of_user(user_id)}
        missing = [admin.get_realm_role(name) for name in user.realm_roles if name not in have]
        if missing:
            admin.assign_realm_roles(user_id, missing)


def _apply_identity_providers(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    secrets: Mapping[str, str],
    report: ApplyReport,
    outdated: set[str],
) -> None:
    if not spec.identity_providers:
        return
    if not broker_link_flow_present(admin):
        create_broker_link_flow(admin, spec.identity_providers[0].link_attribute)
        report.created.append("flow/national-id-first-login")
    existing = {idp["alias"] for idp in admin.get_idps()}
    for provider in spec.identity_providers:
        address = f"identity-provider/{provider.alias}"
        body = identity_provider_representation(provider, secrets.get(provider.alias))
        if provider.alias in existing:
            if address in outdated:
                admin.update_idp(provider.alias, body)
                report.updated.append(address)
        else:
            admin.create_idp(body)
            report.created.append(address)
        mapper = identity_provider_mapper_representation(provider)
        have = {m["name"]: m for m in admin.get_idp_mappers(provider.alias)}
        if mapper["name"] not in have:
            admin.add_mapper_to_idp(provider.alias, mapper)
            report.created.append(f"{address}:mapper/{mapper['name']}")
        elif f"{address}:mapper/{mapper['name']}" in outdated:
            mapper_id = have[mapper["name"]]["id"]
            # python-keycloak's update_mapper_in_idp expects a body in Keycloak's 204 answer.
            response = admin.connection.raw_put(
                f"admin/realms/{spec.realm}/identity-provider/instances/{provider.alias}"
                f"/mappers/{mapper_id}",
                data=json.dumps({**mapper, "id": mapper_id}),
            )
            if response.status_code != 204:
                raise KeycloakUnreachable(
                    f"updating mapper {mapper['name']} answered HTTP {response.status_code}"
                )
            report.updated.append(f"{address}:mapper/{mapper['name']}")
