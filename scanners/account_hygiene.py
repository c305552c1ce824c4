"""Scanner: the accounts of a live realm against the account rules: a second factor for privileged
roles, one account per person (citizen ID), no shared accounts, no inactive accounts, no account
without a staff or student record. The citizen ID is read only to group accounts; findings name
accounts, never the number."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError, KeycloakGetError, raise_error_from_response

from idp_config.records import read_records_file
from policies import Violation, evaluate_accounts, privileged_account_roles
from scanners.errors import ScanTargetUnreachable

#: Users per request: a province's 25,000 accounts in 13 requests.
_PAGE = 2000
#: Users with their attributes per request, and requests at a time (see ``_all_users``).
_FULL_PAGE = 500
_READERS = 4


def _pages(admin: KeycloakAdmin, path: str, **query: Any) -> Iterator[dict[str, Any]]:
    first = 0
    while True:
        page = raise_error_from_response(
            admin.connection.raw_get(
                f"admin/realms/{admin.connection.realm_name}/{path}",
                first=first,
                max=_PAGE,
                **query,
            ),
            KeycloakGetError,
        )
        if not isinstance(page, list):
            raise ScanTargetUnreachable(f"{path}: Keycloak answered something other than a list")
        yield from page
        if len(page) < _PAGE:
            return
        first += _PAGE


def record_ids(files: Iterable[Path]) -> set[str]:
    """The user names that active records hold: staff lists (``record_id``, ``status``) and
    student lists (``record_id`` and ``parent_record_id``), lower-cased as accounts are named."""
    held: set[str] = set()
    for path in files:
        for row in csv.DictReader(io.StringIO(read_records_file(path))):
            if (row.get("status") or "active").strip() != "active":
                continue
            for column in ("record_id", "parent_record_id"):
                value = (row.get(column) or "").strip().lower()
                if value:
                    held.add(value)
    return held


def scan_accounts(
    admin: KeycloakAdmin,
    realm: str,
    *,
    records: set[str] | None = None,
    declared: Iterable[str] = (),
    now: float | None = None,
) -> list[Violation]:
    """Every account-rule violation in ``realm``. ``records``: the user names the sector's records
    hold (orphans are judged only when given); ``declared``: accounts the realm files declare
    (demo and technical accounts, which have no record).

    Read in bulk, as account issuing reads: the users in pages, the holders of the privileged roles
    from the roles' side (a role given to a group counts for the group's members and its
    subgroups', a composite role for everyone holding it); every role of an account only where a
    rule judges it by them (an account no record holds); credentials only of the accounts a rule
    asks about (the privileged ones). Not one request per account."""
    now = time.time() if now is None else now
    technical = set(declared)
    try:
        admin.change_current_realm(realm)
        last_login: dict[str, float] = {}
        for event in _pages(admin, "events", type="LOGIN"):
            user_id = event.get("userId")
            if user_id:
                last_login[user_id] = max(last_login.get(user_id, 0.0), event["time"] / 1000)
        privileged = _holders(admin, privileged_account_roles())
        accounts: list[dict[str, Any]] = []
        units: dict[str, str] = {}
        for user in _all_users(admin):
            if user["username"].startswith("service-account-"):
                continue
            attributes = user.get("attributes") or {}
            unit = (attributes.get("unit_code") or [None])[0]
            if unit:
                units[user["username"]] = str(unit)
            has_record = (
                None
                if records is None
                else user["username"] in records or user["username"] in technical
            )
            accounts.append(
                {
                    "username": user["username"],
                    # The roles the rules need: the privileged ones for everyone; all of them for
                    # an account no record holds (whether it is a person's is judged by them).
                    "roles": sorted(
                        _effective_roles(admin, user["id"])
                        if has_record is False
                        else privileged.get(user["id"], ())
                    ),
                    "enabled": user.get("enabled", True),
                    "credential_types": _CredentialTypes(admin, user["id"]),
                    "citizen_id": (attributes.get("citizen_id") or [None])[0],
                    "created": (user.get("createdTimestamp") or 0) / 1000 or None,
                    "last_login": last_login.get(user["id"]),
                    "now": now,
                    "has_record": has_record,
                }
            )
        violations = evaluate_accounts(accounts)
    except KeycloakError as exc:
        raise ScanTargetUnreachable(f"realm {realm!r}: HTTP {exc.response_code}") from exc
    return [_with_unit(v, units) for v in violations]


def _all_users(admin: KeycloakAdmin) -> list[dict[str, Any]]:
    """Every user with its attributes, in pages read side by side: Keycloak reads a user's
    attributes with a query of its own when they are not in its cache (most of a province's are
    not: the cache holds 10,000), so one page after another left Keycloak's cores waiting on its
    database. Pages are cut by offset from the count; one more page catches users added since."""
    total = int(admin.users_count())

    def page(first: int) -> list[dict[str, Any]]:
        found = raise_error_from_response(
            admin.connection.raw_get(
                f"admin/realms/{admin.connection.realm_name}/users",
                first=first,
                max=_FULL_PAGE,
                briefRepresentation="false",
            ),
            KeycloakGetError,
        )
        return found if isinstance(found, list) else []

    users: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=_READERS) as readers:
        for found in readers.map(page, range(0, total + _FULL_PAGE, _FULL_PAGE)):
            users.update((user["id"], user) for user in found)
    last = total - total % _FULL_PAGE + _FULL_PAGE
    while len(found) == _FULL_PAGE:  # more users than counted: read on until a short page
        found = page(last)
        users.update((user["id"], user) for user in found)
        last += _FULL_PAGE
    return list(users.values())


class _CredentialTypes:
    """The types of one account's credentials, read from Keycloak the first time a rule asks: the
    second-factor rule asks only for accounts that hold a privileged role, so a province's scan
    reads the credentials of its few hundred privileged accounts, not of its 25,000."""

    def __init__(self, admin: KeycloakAdmin, user_id: str) -> None:
        self._admin, self._user_id = admin, user_id
        self._types: list[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._types is None:
            self._types = [c.get("type", "") for c in self._admin.get_credentials(self._user_id)]
        return iter(self._types)


def _holders(admin: KeycloakAdmin, wanted: frozenset[str]) -> dict[str, set[str]]:
    """Who holds the ``wanted`` realm roles, by user id: directly, through a group (its members
    and its subgroups' members), or through a composite role that contains one — a realm role (the
    realm's default roles too) or a client's role, nested as deep as they go. One request per
    client, per composite role, and per role that brings a wanted one and its groups: not per user."""
    # Every role of the realm and of its clients, by id, with where its members are read from.
    roles: dict[str, tuple[str, dict[str, Any]]] = {
        role["id"]: ("roles", role) for role in _pages(admin, "roles", briefRepresentation="true")
    }
    for client in _pages(admin, "clients"):
        for role in _pages(admin, f"clients/{client['id']}/roles", briefRepresentation="true"):
            roles[role["id"]] = (f"clients/{client['id']}/roles", role)
    contains: dict[str, set[str]] = {}
    for role_id, (_, role) in roles.items():
        if role.get("composite"):
            composites = _list(admin, f"roles-by-id/{role_id}/composites")
            contains[role_id] = {str(r["id"]) for r in composites if r.get("id")}
    wanted_ids = {
        role_id
        for role_id, (where, role) in roles.items()
        if where == "roles" and role["name"] in wanted
    }
    held: dict[str, set[str]] = {}
    for role_id, (where, role) in roles.items():
        granted = {roles[r][1]["name"] for r in _closure(role_id, contains) & wanted_ids}
        if not granted:
            continue
        path = f"{where}/{quote(role['name'], safe='')}"
        members = {u["id"] for u in _pages(admin, f"{path}/users", briefRepresentation=True)}
        for group in _pages(admin, f"{path}/groups", briefRepresentation=True):
            members |= _group_members(admin, group["id"])
        for user_id in members:
            held.setdefault(user_id, set()).update(granted)
    return held


def _list(admin: KeycloakAdmin, path: str) -> list[dict[str, Any]]:
    found = raise_error_from_response(
        admin.connection.raw_get(f"admin/realms/{admin.connection.realm_name}/{path}"),
        KeycloakGetError,
    )
    if not isinstance(found, list):
        raise ScanTargetUnreachable(f"{path}: Keycloak answered something other than a list")
    return found


def _effective_roles(admin: KeycloakAdmin, user_id: str) -> set[str]:
    """Every realm role one account holds, however (Keycloak's effective role mappings)."""
    found = _list(admin, f"users/{user_id}/role-mappings/realm/composite")
    return {r["name"] for r in found if r.get("name")}


def _group_members(admin: KeycloakAdmin, group_id: str) -> set[str]:
    """The ids of the members of a group and of all its subgroups (who inherit its roles)."""
    members = {
        u["id"] for u in _pages(admin, f"groups/{group_id}/members", briefRepresentation=True)
    }
    for child in _pages(admin, f"groups/{group_id}/children", briefRepresentation=True):
        members |= _group_members(admin, child["id"])
    return members


def _closure(role: str, contains: dict[str, set[str]]) -> set[str]:
    granted: set[str] = set()
    waiting = [role]
    while waiting:
        name = waiting.pop()
        if name not in granted:
            granted.add(name)
            waiting.extend(contains.get(name, ()))
    return granted


def _with_unit(violation: Violation, units: dict[str, str]) -> Violation:
    """The finding tagged with the unit of the (first) account it names, for per-school views."""
    names = violation.subject.split(" ", 1)[-1].split(", ")
    unit = next((units[n] for n in names if n in units), None)
    return violation.model_copy(update={"unit": unit}) if unit else violation
