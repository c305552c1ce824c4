"""A new password for someone who has no e-mail address (many teachers, most parents), given by
their school's IT officer, audited.

"Forgot password" sends a link by mail; without an address, nothing can arrive. The person asks the
IT officer of their school (or of a district office or the department above it), who runs
``idp-config reset-password``: the gateway checks that the officer's account holds ``it-admin`` and
that their unit is the person's or one above it, that the person has no e-mail (else the mail path
is the one to use), and sets a one-time password that Keycloak makes the person replace at the next
login. The officer gives it in person; it is printed once and never logged. The change is an
``idp:account:issue`` audit event (``change: password-reset``, the officer as its actor, the unit,
the reason) — recorded after Keycloak took it, with the trail checked before anything changes.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from keycloak import KeycloakAdmin

from idp_config.errors import IdpConfigError, keycloak_errors
from idp_config.model import RealmSpec

__all__ = ["IT_ADMIN_ROLE", "PasswordReset", "plan_reset", "temporary_password"]

IT_ADMIN_ROLE = "it-admin"
#: Readable aloud and typed on a phone: no 0/O, 1/l/I.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def temporary_password(length: int = 14) -> str:
    """A one-time password for the realm's policy (length 12 or more, letters and digits)."""
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


@dataclass(frozen=True)
class PasswordReset:
    """A reset that may go ahead: whose, by whom, in which unit."""

    user_id: str
    username: str
    unit: str | None
    operator: str
    operator_unit: str


def _single(attributes: Any, name: str) -> str | None:
    values = attributes.get(name) if isinstance(attributes, dict) else None
    return str(values[0]) if isinstance(values, list) and values else None


def _covers(spec: RealmSpec, above: str, unit: str | None) -> bool:
    """``above`` is ``unit`` or one of the units it belongs to (a district office, the department)."""
    if unit is None:
        return False
    paths = {u.code: u.path for u in spec.units}
    path = paths.get(unit)
    return path is not None and above in path


def plan_reset(
    admin: KeycloakAdmin, spec: RealmSpec, *, username: str, operator: str
) -> PasswordReset:
    """Check everything a reset needs, changing nothing; raise :class:`IdpConfigError` saying
    what stops it."""
    with keycloak_errors(f"reading accounts {username!r} and {operator!r}"):
        admin.change_current_realm(spec.realm)
        operator_id = admin.get_user_id(operator)
        if not operator_id:
            raise IdpConfigError(f"operator {operator!r} has no account in {spec.realm!r}")
        operator_user = admin.get_user(operator_id)
        roles = {r["name"] for r in admin.get_composite_realm_roles_of_user(operator_id)}
        user_id = admin.get_user_id(username)
        if not user_id:
            raise IdpConfigError(f"no account {username!r} in {spec.realm!r}")
        user = admin.get_user(user_id)
    if not operator_user.get("enabled", False) or IT_ADMIN_ROLE not in roles:
        raise IdpConfigError(f"{operator!r} is not an IT officer ({IT_ADMIN_ROLE}) of the realm")
    operator_unit = _single(operator_user.get("attributes"), "unit_code")
    if operator_unit is None:
        raise IdpConfigError(f"the IT officer {operator!r} has no unit (unit_code)")
    if not user.get("enabled", False):
        raise IdpConfigError(f"the account {username!r} is disabled: issuing decides that")
    if user.get("email"):
        raise IdpConfigError(
            f"the account {username!r} has an e-mail address: the person resets the password "
            "with 'Quên mật khẩu? / Forgot password?' on the login page"
        )
    unit = _single(user.get("attributes"), "unit_code")
    if not _covers(spec, operator_unit, unit):
        raise IdpConfigError(
            f"{operator!r} ({operator_unit}) is not an IT officer of {username!r}'s unit "
            f"({unit or 'none'}) or of a unit above it"
        )
    return PasswordReset(user_id, username, unit, operator, operator_unit)


def reset_password(admin: KeycloakAdmin, reset: PasswordReset) -> str:
    """Set a one-time password (Keycloak asks for a new one at the next login); return it."""
    password = temporary_password()
    with keycloak_errors(f"setting a one-time password for {reset.username!r}"):
        admin.set_user_password(reset.user_id, password, temporary=True)
    return password
