"""The realm itself and what lives directly in it: roles, the organisation's groups, the user
profile, Keycloak's built-in clients (hardened) and its offline tokens (withdrawn), and the users the files declare.

People's accounts are not among the users: ``issue-accounts`` manages them from the sector's
records, so only the users the files declare are read and compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from idp_config.errors import IdpConfigError
from idp_config.flows import (
    BROKER_LINK_FLOW,
    broker_link_flow_present,
    create_broker_link_flow,
    create_step_up_flow,
    ensure_identity_provider_redirector,
    step_up_flow_present,
)
from idp_config.model import ProfileAttribute, RealmSpec, RoleSpec, UserSpec
from idp_config.representation import (
    OFFLINE_ACCESS,
    builtin_client_representations,
    profile_attribute_representation,
    realm_representation,
    user_representation,
)
from idp_config.resources.kind import (
    Desired,
    Fields,
    LiveRead,
    ResourceKind,
    Secrets,
    Session,
    group_tree,
)
from organisation import Unit

# -- the realm -------------------------------------------------------------------------------


def _realm_desired(spec: RealmSpec) -> Iterator[Desired[RealmSpec]]:
    yield Desired(f"realm/{spec.realm}", realm_representation(spec), spec)


def _realm_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    yield f"realm/{read.spec.realm}", read.admin.get_realm(read.spec.realm)


def _realm_payload(spec: RealmSpec, secrets: Secrets) -> dict[str, Any]:
    """The realm without its browser flow: the step-up flow must exist before the realm is
    bound to it (:func:`_settle_realm`). With the mail relay's password: Keycloak drops a
    password the update does not carry."""
    payload = realm_representation(spec)
    payload.pop("browserFlow", None)
    if "smtpServer" in payload and spec.smtp is not None and spec.smtp.user is not None:
        if not secrets.smtp_password:
            raise IdpConfigError(
                "smtp.user is set: the mail relay's password must be given to apply "
                "(IDP_SMTP_PASSWORD), never written in the realm file"
            )
        payload["smtpServer"] = {**payload["smtpServer"], "password": secrets.smtp_password}
    return payload


def _create_realm(session: Session, specs: list[RealmSpec]) -> None:
    for spec in specs:
        # Not ``skip_exists``: python-keycloak then takes any HTTP 400 (a policy Keycloak refuses)
        # for "exists" and fails with a TypeError instead of the refusal and its reason.
        session.admin.create_realm(_realm_payload(spec, session.secrets))
        session.report.created.append(f"realm/{spec.realm}")


def _update_realm(session: Session, specs: list[RealmSpec]) -> None:
    for spec in specs:
        session.admin.update_realm(spec.realm, _realm_payload(spec, session.secrets))
        session.report.updated.append(f"realm/{spec.realm}")


def _settle_realm(session: Session, touched: list[RealmSpec]) -> None:
    """The realm's authentication flows, on every apply: the step-up browser flow (with the
    identity-provider redirector) bound to the realm, and the first-login flow of external
    identity providers if the realm has any."""
    admin, spec, report = session.admin, session.spec, session.report
    admin.change_current_realm(spec.realm)
    browser_flow = realm_representation(spec).get("browserFlow")
    if browser_flow is not None:
        if not step_up_flow_present(admin):
            create_step_up_flow(admin)
            report.created.append(f"flow/{browser_flow}")
        elif ensure_identity_provider_redirector(admin):
            report.updated.append(f"flow/{browser_flow}")
        if admin.get_realm(spec.realm).get("browserFlow") != browser_flow:
            admin.update_realm(spec.realm, {"browserFlow": browser_flow})
            report.updated.append(f"realm/{spec.realm}:browserFlow")
    if spec.identity_providers and not broker_link_flow_present(admin):
        create_broker_link_flow(admin, spec.identity_providers[0].link_attribute)
        report.created.append(f"flow/{BROKER_LINK_FLOW}")


REALM = ResourceKind[RealmSpec](
    "realm", _realm_desired, _realm_live, _create_realm, _update_realm, _settle_realm
)

# -- realm roles -----------------------------------------------------------------------------


def _roles_desired(spec: RealmSpec) -> Iterator[Desired[RoleSpec]]:
    for role in spec.roles:
        yield Desired(
            f"role/{role.name}",
            {"description": role.description, "composites": list(role.composites)},
            role,
        )


def _roles_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    admin = read.admin
    for role in admin.get_realm_roles():
        if role["name"] in read.default_roles:
            continue
        composites = (
            [r["name"] for r in admin.get_composite_realm_roles_of_role(role["name"])]
            if role.get("composite")
            else []
        )
        yield (
            f"role/{role['name']}",
            {"description": role.get("description", ""), "composites": composites},
        )


def _create_roles(session: Session, roles: list[RoleSpec]) -> None:
    for role in roles:
        session.admin.create_realm_role({"name": role.name, "description": role.description})
        session.report.created.append(f"role/{role.name}")


def _update_roles(session: Session, roles: list[RoleSpec]) -> None:
    for role in roles:
        session.admin.update_realm_role(
            role.name, {"name": role.name, "description": role.description}
        )
        session.report.updated.append(f"role/{role.name}")


def _settle_composites(session: Session, roles: list[RoleSpec]) -> None:
    """The roles each role includes, once every role exists (a composite names others)."""
    admin = session.admin
    for role in (r for r in session.spec.roles if r in roles):
        have = {r["name"] for r in admin.get_composite_realm_roles_of_role(role.name)}
        want = set(role.composites)
        if want - have:
            admin.add_composite_realm_roles_to_role(
                role.name, [admin.get_realm_role(name) for name in sorted(want - have)]
            )
            session.report.updated.append(f"role/{role.name}:composites")
        if have - want:
            admin.remove_composite_realm_roles_to_role(
                role.name, [admin.get_realm_role(name) for name in sorted(have - want)]
            )
            session.report.updated.append(f"role/{role.name}:composites")


ROLES = ResourceKind[RoleSpec](
    "role", _roles_desired, _roles_live, _create_roles, _update_roles, _settle_composites
)

# -- the organisation tree (one group per unit) ----------------------------------------------


def _groups_desired(spec: RealmSpec) -> Iterator[Desired[Unit]]:
    for unit in spec.units:
        yield Desired(f"group{unit.address}", {"attributes": unit.attributes()}, unit)


def _groups_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for path, group in group_tree(read.admin).items():
        yield f"group{path}", {"attributes": group.get("attributes", {})}


def _create_groups(session: Session, units: list[Unit]) -> None:
    """Parents come before their children in the files, and so in ``units``."""
    groups = {path: group["id"] for path, group in group_tree(session.admin).items()}
    for unit in units:
        parent = "/" + "/".join(unit.path[:-1]) if len(unit.path) > 1 else None
        groups[unit.address] = session.admin.create_group(
            {"name": unit.code, "attributes": unit.attributes()},
            parent=groups[parent] if parent else None,
            skip_exists=True,
        )
        session.report.created.append(f"group{unit.address}")


def _update_groups(session: Session, units: list[Unit]) -> None:
    groups = {path: group["id"] for path, group in group_tree(session.admin).items()}
    for unit in units:
        session.admin.update_group(
            groups[unit.address], {"name": unit.code, "attributes": unit.attributes()}
        )
        session.report.updated.append(f"group{unit.address}")


GROUPS = ResourceKind[Unit]("group", _groups_desired, _groups_live, _create_groups, _update_groups)

# -- the user profile (declared attributes) --------------------------------------------------


def _profile_desired(spec: RealmSpec) -> Iterator[Desired[ProfileAttribute]]:
    for attribute in spec.user_profile:
        yield Desired(
            f"user-profile/{attribute.name}", profile_attribute_representation(attribute), attribute
        )


def _profile_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    declared = {a.name for a in read.spec.user_profile}
    for attribute in read.admin.get_realm_users_profile().get("attributes", []):
        if attribute["name"] in declared:
            yield f"user-profile/{attribute['name']}", attribute


def _write_profile(session: Session, attributes: list[ProfileAttribute]) -> None:
    """The profile is one document: every declared attribute is written in one request, the
    attributes the files do not declare (Keycloak's own: username, e-mail...) kept."""
    if "user-profile" in session.report.updated:
        return  # new and changed attributes alike were written by the first call
    profile = session.admin.get_realm_users_profile()
    declared = {a.name: profile_attribute_representation(a) for a in session.spec.user_profile}
    kept = [a for a in profile.get("attributes", []) if a["name"] not in declared]
    profile["attributes"] = [*kept, *declared.values()]
    session.admin.update_realm_users_profile(profile)
    session.report.updated.append("user-profile")


USER_PROFILE = ResourceKind[ProfileAttribute](
    "user-profile", _profile_desired, _profile_live, _write_profile, _write_profile
)

# -- Keycloak's built-in clients: hardened, as every realm's are ---------------------------


def _builtin_desired(spec: RealmSpec) -> Iterator[Desired[str]]:
    for client_id, fields in builtin_client_representations(spec).items():
        yield Desired(f"builtin-client/{client_id}", fields, client_id)


def _builtin_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    managed = builtin_client_representations(read.spec)
    for client in read.clients:
        if client["clientId"] in managed:
            yield f"builtin-client/{client['clientId']}", client


def _harden_builtin(session: Session, client_ids: list[str]) -> None:
    """Built in: "created" only when the realm is new, and then updated like any other time; only
    the managed fields (and attributes) change, the rest stays Keycloak's."""
    wanted = builtin_client_representations(session.spec)
    for client_id in client_ids:
        internal = session.admin.get_client_id(client_id)
        if not internal:
            continue
        client = session.admin.get_client(internal)
        fields = dict(wanted[client_id])
        attributes = {**(client.get("attributes") or {}), **fields.pop("attributes", {})}
        session.admin.update_client(internal, {**client, **fields, "attributes": attributes})
        session.report.updated.append(f"builtin-client/{client_id}")


BUILTIN_CLIENTS = ResourceKind[str](
    "builtin-client", _builtin_desired, _builtin_live, _harden_builtin, _harden_builtin
)

# -- no offline tokens: Keycloak offers the offline_access scope to every client -------------

#: Keycloak refuses any change to this one (HTTP 403); it is bearer-only: nobody logs in with it.
_UNCHANGEABLE = frozenset({"realm-management"})


def _offline_desired(spec: RealmSpec) -> Iterator[Desired[RealmSpec]]:
    yield Desired(
        "offline-access",
        {
            "realm_default_optional": False,
            "clients": sorted(
                c.client_id for c in spec.clients if OFFLINE_ACCESS in c.optional_scopes
            ),
        },
        spec,
    )


def _offline_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    defaults = read.admin.get_default_optional_client_scopes()
    yield (
        "offline-access",
        {
            "realm_default_optional": any(s["name"] == OFFLINE_ACCESS for s in defaults),
            "clients": sorted(
                c["clientId"]
                for c in read.clients
                if c["clientId"] not in _UNCHANGEABLE
                and (
                    OFFLINE_ACCESS in (c.get("optionalClientScopes") or [])
                    or OFFLINE_ACCESS in (c.get("defaultClientScopes") or [])
                )
            ),
        },
    )


def _withdraw_offline_access(session: Session, specs: list[RealmSpec]) -> None:
    """Off the realm's defaults (for clients made later) and off every client that does not ask
    for it in the files."""
    admin = session.admin
    scope = next((s for s in admin.get_client_scopes() if s["name"] == OFFLINE_ACCESS), None)
    if scope is None:
        return
    if any(s["name"] == OFFLINE_ACCESS for s in admin.get_default_optional_client_scopes()):
        admin.delete_default_optional_client_scope(scope["id"])
    allowed = {c.client_id for c in session.spec.clients if OFFLINE_ACCESS in c.optional_scopes}
    for client in admin.get_clients():
        if client["clientId"] in allowed or client["clientId"] in _UNCHANGEABLE:
            continue
        if OFFLINE_ACCESS in (client.get("optionalClientScopes") or []):
            admin.delete_client_optional_client_scope(client["id"], scope["id"])
        if OFFLINE_ACCESS in (client.get("defaultClientScopes") or []):
            admin.delete_client_default_client_scope(client["id"], scope["id"])
    session.report.updated.append("offline-access")


OFFLINE_ACCESS_WITHDRAWN = ResourceKind[RealmSpec](
    "offline-access",
    _offline_desired,
    _offline_live,
    _withdraw_offline_access,
    _withdraw_offline_access,
)

# -- the users the files declare (demo and technical accounts) -------------------------------


def _users_desired(spec: RealmSpec) -> Iterator[Desired[UserSpec]]:
    for user in spec.users:
        yield Desired(
            f"user/{user.username}",
            {**user_representation(user), "roles": list(user.realm_roles)},
            user,
        )


def _users_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    admin = read.admin
    for declared in read.spec.users:
        found = admin.get_users(
            {"username": declared.username, "exact": True, "briefRepresentation": False}
        )
        if not found:
            continue
        user = found[0]
        roles = [r["name"] for r in admin.get_realm_roles_of_user(user["id"])]
        yield (
            f"user/{user['username']}",
            {**user, "roles": [r for r in roles if r not in read.default_roles]},
        )


def _grant_roles(session: Session, user_id: str, user: UserSpec) -> None:
    admin = session.admin
    have = {r["name"] for r in admin.get_realm_roles_of_user(user_id)}
    missing = [admin.get_realm_role(name) for name in user.realm_roles if name not in have]
    if missing:
        admin.assign_realm_roles(user_id, missing)


def _create_users(session: Session, users: list[UserSpec]) -> None:
    for user in users:
        user_id = session.admin.create_user(user_representation(user), exist_ok=True)
        session.report.created.append(f"user/{user.username}")
        # A password is set when the account is created; later applies leave it to its owner
        # (the realm's password history would refuse the same one anyway).
        password = session.secrets.users.get(user.username)
        if password is not None:
            session.admin.set_user_password(user_id, password, temporary=False)
        _grant_roles(session, user_id, user)


def _update_users(session: Session, users: list[UserSpec]) -> None:
    for user in users:
        user_id = str(session.admin.get_user_id(user.username))
        body = user_representation(user)
        # Keycloak replaces the whole attribute map: keep what others set (a citizen ID).
        live_attributes = session.admin.get_user(user_id).get("attributes") or {}
        body["attributes"] = {**live_attributes, **body.get("attributes", {})}
        session.admin.update_user(user_id, body)
        session.report.updated.append(f"user/{user.username}")
        _grant_roles(session, user_id, user)


USERS = ResourceKind[UserSpec]("user", _users_desired, _users_live, _create_users, _update_users)
