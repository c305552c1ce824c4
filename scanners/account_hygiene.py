"""Scanner: the accounts of a live realm against the account rules: a second factor for privileged
roles, one account per person (citizen ID), no shared accounts, no inactive accounts, no account
without a staff or student record. The citizen ID is read only to group accounts; findings name
accounts, never the number."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError, KeycloakGetError, raise_error_from_response

from idp_config.records import read_records_file
from policies import Violation, evaluate_accounts
from scanners.errors import ScanTargetUnreachable

_PAGE = 1000


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
            return
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
    (demo and technical accounts, which have no record)."""
    now = time.time() if now is None else now
    technical = set(declared)
    try:
        admin.change_current_realm(realm)
        last_login: dict[str, float] = {}
        for event in _pages(admin, "events", type="LOGIN"):
            user_id = event.get("userId")
            if user_id:
                last_login[user_id] = max(last_login.get(user_id, 0.0), event["time"] / 1000)
        accounts: list[dict[str, Any]] = []
        units: dict[str, str] = {}
        for user in _pages(admin, "users", briefRepresentation="false"):
            if user["username"].startswith("service-account-"):
                continue
            unit = ((user.get("attributes") or {}).get("unit_code") or [None])[0]
            if unit:
                units[user["username"]] = str(unit)
            roles = [r["name"] for r in admin.get_realm_roles_of_user(user["id"])]
            credentials = [c.get("type", "") for c in admin.get_credentials(user["id"])]
            accounts.append(
                {
                    "username": user["username"],
                    "enabled": user.get("enabled", True),
                    "roles": roles,
                    "credential_types": credentials,
                    "citizen_id": ((user.get("attributes") or {}).get("citizen_id") or [None])[0],
                    "created": (user.get("createdTimestamp") or 0) / 1000 or None,
                    "last_login": last_login.get(user["id"]),
                    "now": now,
                    "has_record": None
                    if records is None
                    else user["username"] in records or user["username"] in technical,
                }
            )
    except KeycloakError as exc:
        raise ScanTargetUnreachable(f"realm {realm!r}: HTTP {exc.response_code}") from exc
    return [_with_unit(v, units) for v in evaluate_accounts(accounts)]


def _with_unit(violation: Violation, units: dict[str, str]) -> Violation:
    """The finding tagged with the unit of the (first) account it names, for per-school views."""
    names = violation.subject.split(" ", 1)[-1].split(", ")
    unit = next((units[n] for n in names if n in units), None)
    return violation.model_copy(update={"unit": unit}) if unit else violation
