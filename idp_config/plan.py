"""``plan`` and ``drift``: the difference between the realm files and the live realm.

Both compare the same two states, resource by resource and field by field, on the fields the files
manage (Keycloak fills in many others). ``plan`` reads it as what ``apply`` would do; ``drift`` reads it
as what someone changed in the admin console. Objects that exist in Keycloak but in no file are reported
as unmanaged (never deleted), Keycloak's built-in clients and roles excepted. People's accounts are
not part of the files: ``issue-accounts`` manages them from the sector's records, so only the users the
files declare are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from keycloak import KeycloakAdmin

from idp_config.model import AccessType, RealmSpec
from idp_config.representation import (
    ADMIN_CONSOLE,
    BUILTIN_CLIENTS,
    BUILTIN_REALM_ROLES,
    admin_console_representation,
    client_representation,
    identity_provider_mapper_representation,
    identity_provider_representation,
    profile_attribute_representation,
    realm_representation,
    user_representation,
)

State = dict[str, dict[str, Any]]
#: List fields whose order Keycloak does not keep.
_UNORDERED = {
    "redirectUris",
    "webOrigins",
    "supportedLocales",
    "roles",
    "optional",
    "composites",
}
#: Fields never compared or shown (secrets are set on creation, not diffed).
_IGNORED = {"secret"}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNMANAGED = "unmanaged"


@dataclass(frozen=True)
class FieldChange:
    name: str
    live: Any
    desired: Any


@dataclass(frozen=True)
class Change:
    action: Action
    address: str
    fields: list[FieldChange] = field(default_factory=list)

    def render(self) -> str:
        symbol = {Action.CREATE: "+", Action.UPDATE: "~", Action.UNMANAGED: "?"}[self.action]
        lines = [f"  {symbol} {self.address}"]
        for change in self.fields:
            lines.append(f"      {change.name}: {change.live!r} -> {change.desired!r}")
        return "\n".join(lines)


def _normalise(name: str, value: Any) -> Any:
    if name in _UNORDERED and isinstance(value, list):
        return sorted(value)
    return value


def desired_state(spec: RealmSpec) -> State:
    state: State = {f"realm/{spec.realm}": realm_representation(spec)}
    for role in spec.roles:
        state[f"role/{role.name}"] = {
            "description": role.description,
            "composites": list(role.composites),
        }
    for unit in spec.units:
        state[f"group{unit.address}"] = {"attributes": unit.attributes()}
    for attribute in spec.user_profile:
        state[f"user-profile/{attribute.name}"] = profile_attribute_representation(attribute)
    for scope in spec.client_scopes:
        state[f"client-scope/{scope.name}"] = {
            "description": scope.description,
            "audience": scope.audience,
        }
    state[f"admin-console/{ADMIN_CONSOLE}"] = {
        "attributes": admin_console_representation(spec)["attributes"]
    }
    for client in spec.clients:
        if client.optional_scopes:
            state[f"client-scopes/{client.client_id}"] = {"optional": list(client.optional_scopes)}
        if client.visible_roles:
            state[f"client-visible-roles/{client.client_id}"] = {
                "roles": list(client.visible_roles)
            }
        representation = client_representation(client, None)
        state[f"client/{client.client_id}"] = representation
        for role_name in client.roles:
            state[f"client-role/{client.client_id}:{role_name}"] = {}
        if client.access_type is AccessType.SERVICE:
            for owner, roles in client.service_account_roles.items():
                state[f"grant/{client.client_id}->{owner}"] = {"roles": list(roles)}
    for user in spec.users:
        state[f"user/{user.username}"] = {
            **user_representation(user),
            "roles": list(user.realm_roles),
        }
    for provider in spec.identity_providers:
        address = f"identity-provider/{provider.alias}"
        state[address] = identity_provider_representation(provider, None)
        mapper = identity_provider_mapper_representation(provider)
        state[f"{address}:mapper/{mapper['name']}"] = {
            "identityProviderMapper": mapper["identityProviderMapper"],
            "config": mapper["config"],
        }
    return state


def live_state(admin: KeycloakAdmin, spec: RealmSpec) -> State:
    """The live realm, read through the admin API, in the shape of :func:`desired_state`."""
    admin.change_current_realm("master")
    if spec.realm not in {r["realm"] for r in admin.get_realms()}:
        return {}
    admin.change_current_realm(spec.realm)
    state: State = {f"realm/{spec.realm}": admin.get_realm(spec.realm)}
    default_roles = {f"default-roles-{spec.realm}", *BUILTIN_REALM_ROLES}
    for role in admin.get_realm_roles():
        if role["name"] not in default_roles:
            composites = (
                [r["name"] for r in admin.get_composite_realm_roles_of_role(role["name"])]
                if role.get("composite")
                else []
            )
            state[f"role/{role['name']}"] = {
                "description": role.get("description", ""),
                "composites": composites,
            }
    for path, group in group_tree(admin).items():
        state[f"group{path}"] = {"attributes": group.get("attributes", {})}
    declared_attributes = {a.name for a in spec.user_profile}
    for attribute in admin.get_realm_users_profile().get("attributes", []):
        if attribute["name"] in declared_attributes:
            state[f"user-profile/{attribute['name']}"] = attribute
    declared_scopes = {s.name for s in spec.client_scopes}
    for scope in admin.get_client_scopes():
        if scope["name"] in declared_scopes:
            audiences = [
                m.get("config", {}).get("included.client.audience")
                for m in scope.get("protocolMappers", [])
                if m.get("protocolMapper") == "oidc-audience-mapper"
            ]
            state[f"client-scope/{scope['name']}"] = {
                "description": scope.get("description", ""),
                "audience": audiences[0] if audiences else None,
            }
    declared_service = {c.client_id for c in spec.clients if c.access_type is AccessType.SERVICE}
    internal_ids: dict[str, str] = {}
    grant_owners: dict[str, str] = {}
    for client in admin.get_clients():
        client_id = client["clientId"]
        if client_id == "realm-management":
            grant_owners[client_id] = client["id"]
        if client_id == ADMIN_CONSOLE:
            state[f"admin-console/{ADMIN_CONSOLE}"] = {"attributes": client.get("attributes") or {}}
        if client_id in BUILTIN_CLIENTS:
            continue
        internal_ids[client_id] = client["id"]
        state[f"client/{client_id}"] = client
        optional = [
            s["name"]
            for s in admin.get_client_optional_client_scopes(client["id"])
            if s["name"] in declared_scopes
        ]
        if optional:
            state[f"client-scopes/{client_id}"] = {"optional": optional}
        if not client.get("fullScopeAllowed", True):
            visible = [r["name"] for r in admin.get_realm_roles_of_client_scope(client["id"])]
            if visible:
                state[f"client-visible-roles/{client_id}"] = {"roles": visible}
        for role in admin.get_client_roles(client["id"]):
            state[f"client-role/{client_id}:{role['name']}"] = {}
    for client_id in declared_service & internal_ids.keys():
        account = admin.get_client_service_account_user(internal_ids[client_id])
        for owner, owner_id in {**internal_ids, **grant_owners}.items():
            granted = [r["name"] for r in admin.get_client_roles_of_user(account["id"], owner_id)]
            if granted:
                state[f"grant/{client_id}->{owner}"] = {"roles": granted}
    for provider in admin.get_idps():
        address = f"identity-provider/{provider['alias']}"
        state[address] = provider
        for mapper in admin.get_idp_mappers(provider["alias"]):
            state[f"{address}:mapper/{mapper['name']}"] = mapper
    # Only the users the files declare (demo and technical accounts): the people's accounts are
    # issued from the sector's records by ``issue-accounts`` and would be tens of thousands here.
    for declared in spec.users:
        found = admin.get_users(
            {"username": declared.username, "exact": True, "briefRepresentation": False}
        )
        if not found:
            continue
        user = found[0]
        roles = [r["name"] for r in admin.get_realm_roles_of_user(user["id"])]
        state[f"user/{user['username']}"] = {
            **user,
            "roles": [r for r in roles if r not in default_roles],
        }
    return state


def group_tree(admin: KeycloakAdmin) -> dict[str, dict[str, Any]]:
    """Every group of the realm by path, with its attributes: one call per group that has children
    (about 30 for a province of 600 schools), not one per group."""
    tree: dict[str, dict[str, Any]] = {}
    brief = {"briefRepresentation": "false"}

    def walk(groups: list[dict[str, Any]], parent: str) -> None:
        for group in groups:
            path = f"{parent}/{group['name']}"
            tree[path] = group
            children = group.get("subGroups")
            # Keycloak 23+ sends children only one level down, and an empty list below that.
            if not children and group.get("subGroupCount"):
                children = admin.get_group_children(group["id"], query=brief)
            walk(children or [], path)

    walk(admin.get_groups(brief), "")
    return tree


def diff(desired: State, live: State) -> list[Change]:
    changes: list[Change] = []
    for address, wanted in desired.items():
        current = live.get(address)
        if current is None:
            changes.append(Change(Action.CREATE, address))
            continue
        fields: list[FieldChange] = []
        for name, value in wanted.items():
            if name in _IGNORED:
                continue
            if isinstance(value, dict):
                have = current.get(name) or {}
                for key, sub in value.items():
                    if have.get(key) != sub:
                        fields.append(FieldChange(f"{name}.{key}", have.get(key), sub))
            elif _normalise(name, current.get(name)) != _normalise(name, value):
                fields.append(FieldChange(name, current.get(name), value))
        if fields:
            changes.append(Change(Action.UPDATE, address, fields))
    for address in live.keys() - desired.keys():
        changes.append(Change(Action.UNMANAGED, address))
    return sorted(changes, key=lambda c: (c.address.split("/")[0] != "realm", c.address))


def plan(admin: KeycloakAdmin, spec: RealmSpec) -> list[Change]:
    return diff(desired_state(spec), live_state(admin, spec))


def render(changes: list[Change]) -> str:
    if not changes:
        return "Không có thay đổi / No changes: the live realm matches the files."
    counts = {action: sum(c.action is action for c in changes) for action in Action}
    body = "\n".join(change.render() for change in changes)
    return (
        f"{body}\n\nPlan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.UNMANAGED]} unmanaged (left as they are)."
    )
