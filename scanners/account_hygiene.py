"""Scanner: the accounts of a live realm against the account rules: a second factor for privileged
roles, one account per person (citizen ID), no shared accounts. The citizen ID is read only to group
accounts; findings name accounts, never the number."""

from __future__ import annotations

from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from policies import Violation, evaluate_accounts
from scanners.errors import ScanTargetUnreachable


def scan_accounts(admin: KeycloakAdmin, realm: str) -> list[Violation]:
    try:
        admin.change_current_realm(realm)
        accounts: list[dict[str, Any]] = []
        for user in admin.get_users({}):
            if user["username"].startswith("service-account-"):
                continue
            roles = [r["name"] for r in admin.get_realm_roles_of_user(user["id"])]
            credentials = [c.get("type", "") for c in admin.get_credentials(user["id"])]
            accounts.append(
                {
                    "username": user["username"],
                    "enabled": user.get("enabled", True),
                    "roles": roles,
                    "credential_types": credentials,
                    "citizen_id": ((user.get("attributes") or {}).get("citizen_id") or [None])[0],
                }
            )
    except KeycloakError as exc:
        raise ScanTargetUnreachable(f"realm {realm!r}: HTTP {exc.response_code}") from exc
    return evaluate_accounts(accounts)
