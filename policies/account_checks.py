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
