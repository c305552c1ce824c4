"""People's accounts in Keycloak: what account issuing reads and writes through the admin API.

Reads are paged (2,000 users a page: a province's 25,000 accounts in 13 requests, not 250) and
brief (Keycloak then reads no attributes, one query per user on a cold cache); the units people
belong to come from group membership, their managed roles from each role's members. New accounts
go in through Keycloak's partial import, each with its profile attributes, unit group and role in
one request. Nothing here decides anything: :mod:`idp_config.account_plan` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError, raise_error_from_response

from idp_config.errors import IdpConfigError
from idp_config.model import RealmSpec
from idp_config.records import MANAGED_ROLES, STUDENT_ROLES, StaffRecord
from idp_config.resources import group_tree

#: Users per page when reading the realm, and per partial import when creating accounts. At
#: python-keycloak's default page (100) a province's 25,000 accounts took 250 requests to read.
PAGE_SIZE = 2000
IMPORT_BATCH = 500


def _pages(admin: KeycloakAdmin, url: str, **query: Any) -> Iterator[dict[str, Any]]:
    first = 0
    while True:
        page = raise_error_from_response(
            admin.connection.raw_get(url, first=first, max=PAGE_SIZE, **query), KeycloakGetError
        )
        if not isinstance(page, list):
            raise IdpConfigError(f"{url}: unexpected answer from Keycloak")
        yield from page
        if len(page) < PAGE_SIZE:
            return
        first += PAGE_SIZE


@dataclass(frozen=True)
class LiveAccounts:
    """The realm's accounts as planning needs them."""

    #: Every user (brief representation), by user name.
    users: dict[str, dict[str, Any]]
    #: The managed realm roles each user holds directly, by user id.
    roles_held: dict[str, set[str]]
    #: The units (groups of the organisation tree) each user is a member of, by user id.
    units_held: dict[str, set[str]]


def read_accounts(admin: KeycloakAdmin, spec: RealmSpec) -> LiveAccounts:
    admin.change_current_realm(spec.realm)
    base = f"admin/realms/{spec.realm}"
    users = {u["username"]: u for u in _pages(admin, f"{base}/users", briefRepresentation=True)}
    roles_held: dict[str, set[str]] = {}
    for role in sorted(MANAGED_ROLES | STUDENT_ROLES):
        for user in _pages(admin, f"{base}/roles/{role}/users", briefRepresentation=True):
            roles_held.setdefault(user["id"], set()).add(role)
    tree = group_tree(admin)
    units_held: dict[str, set[str]] = {}
    for unit in spec.units:
        group = tree.get(unit.address)
        if group is None:
            continue
        url = f"{base}/groups/{group['id']}/members"
        for user in _pages(admin, url, briefRepresentation=True):
            units_held.setdefault(user["id"], set()).add(unit.code)
    return LiveAccounts(users, roles_held, units_held)


def _citizen(user: dict[str, Any]) -> str:
    values = (user.get("attributes") or {}).get("citizen_id") or [""]
    return str(values[0])


class CitizenDirectory:
    """Whose each account is, and which accounts a citizen holds: what keeps one real person to one
    account when records name people by the sector's record ids.

    With many questions to come for the realm's size (its first run, a class list of new
    students), every user is listed once with attributes; otherwise each question is one query
    (a daily run asks about its joiners and changes only: listing 25,000 users with their
    attributes costs Keycloak a query per user, ``docs/benchmarks.md``)."""

    def __init__(
        self, admin: KeycloakAdmin, spec: RealmSpec, live: LiveAccounts, expected: int
    ) -> None:
        self._admin = admin
        self._url = f"admin/realms/{spec.realm}/users"
        self._citizens: dict[str, str] | None = None
        self._holders: dict[str, set[str]] = {}
        if expected * 4 >= len(live.users):
            self._citizens = {
                u["username"]: _citizen(u)
                for u in _pages(admin, self._url, briefRepresentation=False)
            }
            for username, citizen in self._citizens.items():
                self._holders.setdefault(citizen, set()).add(username)

    def holders(self, citizen_id: str) -> set[str]:
        """The user names of the accounts that carry ``citizen_id``."""
        if self._citizens is not None:
            return set(self._holders.get(citizen_id, set()))
        found = _pages(
            self._admin,
            self._url,
            q=f"citizen_id:{citizen_id}",
            exact=True,
            briefRepresentation=False,
        )
        return {str(u["username"]) for u in found if _citizen(u) == citizen_id}

    def citizen_of(self, username: str) -> str | None:
        """The citizen ID of the account ``username`` ("" if it has none), None if no account."""
        if self._citizens is not None:
            return self._citizens.get(username)
        found = _pages(
            self._admin, self._url, username=username, exact=True, briefRepresentation=False
        )
        return next((_citizen(u) for u in found if u.get("username") == username), None)


def user_body(record: StaffRecord, **attributes: list[str]) -> dict[str, Any]:
    """The account of a verified person: given name last in Vietnamese order, as Keycloak splits it."""
    family, _, given = record.full_name.rpartition(" ")
    return {
        "username": record.username,
        "firstName": given or record.full_name,
        "lastName": family or "-",
        "enabled": True,
        "attributes": {
            "citizen_id": [record.citizen_id],
            "date_of_birth": [record.date_of_birth.isoformat()],
            **attributes,
        },
    }


def import_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    records: list[StaffRecord],
    on_added: Callable[[StaffRecord], None],
    batch_size: int = IMPORT_BATCH,
) -> None:
    """Create accounts through Keycloak's partial import, ``batch_size`` at a time, each with its
    profile attributes, unit group and role in the same request (five admin calls per account
    otherwise). Partial import skips Keycloak's user-profile validation: every field was validated
    by :func:`~idp_config.records.parse_records` first. An account that already exists (a re-run
    after a crash) is skipped, so a run can be repeated; ``on_added`` is called for each account
    actually added."""
    groups = {u.code: u.address for u in spec.units}
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        users = [
            {
                **user_body(
                    record, unit_code=[record.unit_code], personal_identifier=[record.record_id]
                ),
                "groups": [groups[record.unit_code]],
                "realmRoles": [record.role],
            }
            for record in batch
        ]
        result = admin.partial_import_realm(
            spec.realm, {"ifResourceExists": "SKIP", "users": users}
        )
        added = {
            r.get("resourceName")
            for r in result.get("results", [])
            if r.get("action") == "ADDED" and r.get("resourceType") == "USER"
        }
        for record in batch:
            if record.username in added:
                on_added(record)


def _user(admin: KeycloakAdmin, username: str) -> tuple[str, dict[str, Any]]:
    user_id = str(admin.get_user_id(username))
    return user_id, admin.get_user(user_id)


def disable(admin: KeycloakAdmin, username: str) -> None:
    """Disable the account (never delete it) and end its sessions."""
    user_id, user = _user(admin, username)
    admin.update_user(user_id, {**user, "enabled": False})
    admin.user_logout(user_id)


def enable(admin: KeycloakAdmin, username: str) -> None:
    user_id, user = _user(admin, username)
    admin.update_user(user_id, {**user, "enabled": True})


def move(admin: KeycloakAdmin, spec: RealmSpec, username: str, unit_code: str) -> None:
    """Into the unit's group (out of every other) and its ``unit_code`` attribute."""
    user_id, user = _user(admin, username)
    address = next(u.address for u in spec.units if u.code == unit_code)
    for group in admin.get_user_groups(user_id):
        admin.group_user_remove(user_id, group["id"])
    admin.group_user_add(user_id, admin.get_group_by_path(address)["id"])
    attributes = {**(user.get("attributes") or {}), "unit_code": [unit_code]}
    admin.update_user(user_id, {**user, "attributes": attributes})


def set_role(admin: KeycloakAdmin, username: str, role: str) -> None:
    """``role`` in place of the managed roles the account holds (other roles are kept)."""
    user_id = str(admin.get_user_id(username))
    held = [r for r in admin.get_realm_roles_of_user(user_id) if r["name"] in MANAGED_ROLES]
    if held:
        admin.delete_realm_roles_of_user(user_id, held)
    admin.assign_realm_roles(user_id, [admin.get_realm_role(role)])


def user_exists(admin: KeycloakAdmin, username: str) -> bool:
    return admin.get_user_id(username) is not None


def create_parent(admin: KeycloakAdmin, record: StaffRecord, children: list[str]) -> None:
    user_id = admin.create_user(user_body(record, children=children), exist_ok=True)
    admin.assign_realm_roles(user_id, [admin.get_realm_role("parent")])


def set_children(admin: KeycloakAdmin, username: str, children: list[str]) -> bool:
    """The parent's ``children`` attribute (the user names the parents' app may see); True if
    it changed."""
    user_id, user = _user(admin, username)
    attributes = user.get("attributes") or {}
    if sorted(attributes.get("children", [])) == children:
        return False
    admin.update_user(user_id, {**user, "attributes": {**attributes, "children": children}})
    return True
