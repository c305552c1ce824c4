"""The tests behind the account rules, over the accounts the hygiene scanner reads from Keycloak."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Finding = tuple[str, str]
AccountCheck = Callable[[list[dict[str, Any]], dict[str, Any]], Iterator[Finding]]
ACCOUNT_CHECKS: dict[str, AccountCheck] = {}


def account_check(function: AccountCheck) -> AccountCheck:
    ACCOUNT_CHECKS[function.__name__] = function
    return function


@account_check
def privileged_second_factor(
    accounts: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    privileged = set(params.get("privileged_roles", []))
    second = set(params.get("second_factors", ["otp", "webauthn", "webauthn-passwordless"]))
    for account in accounts:
        if not account.get("enabled", True):
            continue
        held = privileged & set(account.get("roles", []))
        if held and not second & set(account.get("credential_types", [])):
            yield (
                f"user {account['username']}",
                f"privileged role(s) {', '.join(sorted(held))} without a second factor",
            )


@account_check
def one_account_per_person(
    accounts: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    """Enabled accounts that carry the same citizen ID: one real person, several accounts. The
    evidence names the accounts, never the citizen ID."""
    holders: dict[str, list[str]] = {}
    for account in accounts:
        citizen = account.get("citizen_id")
        if citizen and account.get("enabled", True):
            holders.setdefault(str(citizen), []).append(str(account["username"]))
    for usernames in holders.values():
        if len(usernames) > 1:
            names = ", ".join(sorted(usernames))
            yield f"users {names}", f"{len(usernames)} enabled accounts share one citizen ID"


@account_check
def no_shared_accounts(accounts: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Finding]:
    """Accounts whose name says they belong to an office or a role rather than a person."""
    generic = [str(word) for word in params.get("generic_names", [])]
    for account in accounts:
        name = str(account["username"]).lower()
        if account.get("enabled", True) and any(
            name == word or name.startswith(f"{word}.") or name.startswith(f"{word}-")
            for word in generic
        ):
            yield f"user {account['username']}", "a shared (office or role) account, not a person's"


@account_check
def inactive_accounts(accounts: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[Finding]:
    """Enabled accounts with no login for ``inactive_days`` (by the realm's login events), counted
    from their creation when they never logged in. ``now`` and the times are epoch seconds."""
    days = int(params.get("inactive_days", 90))
    for account in accounts:
        now = account.get("now")
        if now is None or not account.get("enabled", True):
            continue
        last = account.get("last_login") or account.get("created")
        if last is not None and float(now) - float(last) > days * 86400:
            idle = int((float(now) - float(last)) // 86400)
            seen = "last login" if account.get("last_login") else "created, never logged in,"
            yield f"user {account['username']}", f"{seen} {idle} days ago (limit {days})"


@account_check
def accounts_have_records(
    accounts: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    """Enabled accounts of people (staff, students, parents) with no record in the sector's files:
    orphans. Judged only when the scan was given the records (``has_record`` set)."""
    people = set(params.get("people_roles", []))
    for account in accounts:
        has_record = account.get("has_record")
        if has_record is None or has_record or not account.get("enabled", True):
            continue
        if people & set(account.get("roles", [])):
            yield f"user {account['username']}", "no staff or student record holds this account"
