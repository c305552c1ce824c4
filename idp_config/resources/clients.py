"""The education systems' clients and what hangs on them: client scopes, the clients, their
roles, the realm roles each may see, the optional scopes each may ask for, and the client roles
granted to service accounts.

Keycloak's built-in clients (``account``, ``admin-cli``...) are never reported as unmanaged. A
client's secret is sent when the client is created or changed, never compared or shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from idp_config.model import AccessType, ClientScopeSpec, ClientSpec, RealmSpec
from idp_config.representation import (
    BUILTIN_CLIENTS,
    client_representation,
    client_scope_representation,
)
from idp_config.resources.kind import Desired, Fields, LiveRead, ResourceKind, Session

# -- client scopes (audiences, the parents' ``family`` scope) --------------------------------


def _scopes_desired(spec: RealmSpec) -> Iterator[Desired[ClientScopeSpec]]:
    for scope in spec.client_scopes:
        yield Desired(
            f"client-scope/{scope.name}",
            {"description": scope.description, "audience": scope.audience},
            scope,
        )


def _scopes_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for scope in read.admin.get_client_scopes():
        if scope["name"] not in read.declared_scopes:
            continue
        audiences = [
            m.get("config", {}).get("included.client.audience")
            for m in scope.get("protocolMappers", [])
            if m.get("protocolMapper") == "oidc-audience-mapper"
        ]
        yield (
            f"client-scope/{scope['name']}",
            {
                "description": scope.get("description", ""),
                "audience": audiences[0] if audiences else None,
            },
        )


def _create_scopes(session: Session, scopes: list[ClientScopeSpec]) -> None:
    for scope in scopes:
        session.admin.create_client_scope(client_scope_representation(scope))
        session.report.created.append(f"client-scope/{scope.name}")


def _update_scopes(session: Session, scopes: list[ClientScopeSpec]) -> None:
    admin = session.admin
    ids = {s["name"]: s["id"] for s in admin.get_client_scopes()}
    for scope in scopes:
        body = client_scope_representation(scope)
        scope_id = ids[scope.name]
        admin.update_client_scope(scope_id, body)
        # Its mappers are replaced: what the files say is all the scope does.
        for mapper in admin.get_mappers_from_client_scope(scope_id):
            admin.delete_mapper_from_client_scope(scope_id, mapper["id"])
        for mapper in body["protocolMappers"]:
            admin.add_mapper_to_client_scope(scope_id, mapper)
        session.report.updated.append(f"client-scope/{scope.name}")


CLIENT_SCOPES = ResourceKind[ClientScopeSpec](
    "client-scope", _scopes_desired, _scopes_live, _create_scopes, _update_scopes
)

# -- clients ---------------------------------------------------------------------------------


def _managed_clients(read: LiveRead) -> Iterator[dict[str, Any]]:
    """The live clients that are not Keycloak's own."""
    return (c for c in read.clients if c["clientId"] not in BUILTIN_CLIENTS)


def _clients_desired(spec: RealmSpec) -> Iterator[Desired[ClientSpec]]:
    for client in spec.clients:
        yield Desired(f"client/{client.client_id}", client_representation(client, None), client)


def _clients_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for client in _managed_clients(read):
        yield f"client/{client['clientId']}", dict(client)


def _create_clients(session: Session, clients: list[ClientSpec]) -> None:
    for client in clients:
        secret = session.secrets.clients.get(client.client_id)
        internal = session.admin.create_client(client_representation(client, secret))
        session.remember_client(client.client_id, str(internal))
        session.report.created.append(f"client/{client.client_id}")


def _update_clients(session: Session, clients: list[ClientSpec]) -> None:
    for client in clients:
        secret = session.secrets.clients.get(client.client_id)
        session.admin.update_client(
            session.client_uuid(client.client_id), client_representation(client, secret)
        )
        session.report.updated.append(f"client/{client.client_id}")


CLIENTS = ResourceKind[ClientSpec](
    "client", _clients_desired, _clients_live, _create_clients, _update_clients
)

# -- client roles ----------------------------------------------------------------------------


def _client_roles_desired(spec: RealmSpec) -> Iterator[Desired[tuple[str, str]]]:
    for client in spec.clients:
        for role_name in client.roles:
            yield Desired(
                f"client-role/{client.client_id}:{role_name}", {}, (client.client_id, role_name)
            )


def _client_roles_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for client in _managed_clients(read):
        for role in read.admin.get_client_roles(client["id"]):
            yield f"client-role/{client['clientId']}:{role['name']}", {}


def _create_client_roles(session: Session, roles: list[tuple[str, str]]) -> None:
    for client_id, role_name in roles:
        session.admin.create_client_role(
            session.client_uuid(client_id), {"name": role_name}, skip_exists=True
        )
        session.report.created.append(f"client-role/{client_id}:{role_name}")


def _client_roles_unchanged(session: Session, roles: list[tuple[str, str]]) -> None:
    """A client role has no field the files manage: it exists or it does not."""


CLIENT_ROLES = ResourceKind[tuple[str, str]](
    "client-role",
    _client_roles_desired,
    _client_roles_live,
    _create_client_roles,
    _client_roles_unchanged,
)

# -- the realm roles a client may see in its tokens (least privilege) ------------------------


def _visible_desired(spec: RealmSpec) -> Iterator[Desired[ClientSpec]]:
    for client in spec.clients:
        if client.visible_roles:
            yield Desired(
                f"client-visible-roles/{client.client_id}",
                {"roles": list(client.visible_roles)},
                client,
            )


def _visible_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for client in _managed_clients(read):
        if client.get("fullScopeAllowed", True):
            continue
        visible = [r["name"] for r in read.admin.get_realm_roles_of_client_scope(client["id"])]
        if visible:
            yield f"client-visible-roles/{client['clientId']}", {"roles": visible}


def _set_visible_roles(session: Session, clients: list[ClientSpec]) -> None:
    admin = session.admin
    for client in clients:
        internal = session.client_uuid(client.client_id)
        seen = {r["name"] for r in admin.get_realm_roles_of_client_scope(internal)}
        want = set(client.visible_roles or [])
        if want - seen:
            admin.assign_realm_roles_to_client_scope(
                internal, [admin.get_realm_role(n) for n in sorted(want - seen)]
            )
            session.report.updated.append(f"client-visible-roles/{client.client_id}")
        if seen - want:
            admin.delete_realm_roles_of_client_scope(
                internal, [admin.get_realm_role(n) for n in sorted(seen - want)]
            )
            session.report.updated.append(f"client-visible-roles/{client.client_id}")


CLIENT_VISIBLE_ROLES = ResourceKind[ClientSpec](
    "client-visible-roles", _visible_desired, _visible_live, _set_visible_roles, _set_visible_roles
)

# -- the optional scopes a client may ask for ------------------------------------------------


def _optional_desired(spec: RealmSpec) -> Iterator[Desired[ClientSpec]]:
    for client in spec.clients:
        if client.optional_scopes:
            yield Desired(
                f"client-scopes/{client.client_id}",
                {"optional": list(client.optional_scopes)},
                client,
            )


def _optional_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for client in _managed_clients(read):
        optional = [
            s["name"]
            for s in read.admin.get_client_optional_client_scopes(client["id"])
            if s["name"] in read.declared_scopes
        ]
        if optional:
            yield f"client-scopes/{client['clientId']}", {"optional": optional}


def _add_optional_scopes(session: Session, clients: list[ClientSpec]) -> None:
    """Adds what is missing; a scope the files no longer list is left (shown by ``plan``)."""
    admin = session.admin
    scope_ids = {scope["name"]: scope["id"] for scope in admin.get_client_scopes()}
    for client in clients:
        internal = session.client_uuid(client.client_id)
        optional = {s["name"] for s in admin.get_client_optional_client_scopes(internal)}
        for scope_name in client.optional_scopes:
            if scope_name not in optional:
                admin.add_client_optional_client_scope(internal, scope_ids[scope_name], {})
                session.report.created.append(f"client-scopes/{client.client_id}:{scope_name}")


CLIENT_OPTIONAL_SCOPES = ResourceKind[ClientSpec](
    "client-scopes", _optional_desired, _optional_live, _add_optional_scopes, _add_optional_scopes
)

# -- client roles granted to service accounts ------------------------------------------------


def _grants_desired(spec: RealmSpec) -> Iterator[Desired[tuple[str, str, list[str]]]]:
    for client in spec.clients:
        if client.access_type is not AccessType.SERVICE:
            continue
        for owner, roles in client.service_account_roles.items():
            yield Desired(
                f"grant/{client.client_id}->{owner}",
                {"roles": list(roles)},
                (client.client_id, owner, list(roles)),
            )


def _grants_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    admin = read.admin
    declared = {c.client_id for c in read.spec.clients if c.access_type is AccessType.SERVICE}
    managed = {c["clientId"]: c["id"] for c in _managed_clients(read)}
    # Keycloak's realm-management client holds the read-only roles a collector may be granted.
    owners = {
        **managed,
        **{c["clientId"]: c["id"] for c in read.clients if c["clientId"] == "realm-management"},
    }
    for client_id in declared & managed.keys():
        account = admin.get_client_service_account_user(managed[client_id])
        for owner, owner_id in owners.items():
            granted = [r["name"] for r in admin.get_client_roles_of_user(account["id"], owner_id)]
            if granted:
                yield f"grant/{client_id}->{owner}", {"roles": granted}


def _grant(session: Session, grants: list[tuple[str, str, list[str]]]) -> None:
    """Grants what is missing; a role granted by hand is left (shown by ``plan``)."""
    admin = session.admin
    for client_id, owner, roles in grants:
        account = admin.get_client_service_account_user(session.client_uuid(client_id))
        owner_id = session.client_uuid(owner)
        granted = {r["name"] for r in admin.get_client_roles_of_user(account["id"], owner_id)}
        missing = [admin.get_client_role(owner_id, r) for r in roles if r not in granted]
        if missing:
            admin.assign_client_role(account["id"], owner_id, missing)
            session.report.created.append(f"grant/{client_id}->{owner}")


GRANTS = ResourceKind[tuple[str, str, list[str]]](
    "grant", _grants_desired, _grants_live, _grant, _grant
)
