"""Login with the national e-ID (a second realm plays VNeID): the first broker login links the
external identity to the account issued for that person, by the verified citizen ID the provider
asserts, never by e-mail or name, and never creates an account. Real Keycloak, real broker flow."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from keycloak import KeycloakAdmin

from devstack import Stack, StackInfo, national_id
from idp_config import admin_client
from tests.keycloak_login import BrokerLoginRefused, broker_login

pytestmark = [pytest.mark.keycloak]

CLIENT = "demo-gradebook"
REDIRECT = "http://localhost:8766/callback"


@pytest.fixture()
def admin(stack: Stack, stack_info: StackInfo) -> Iterator[KeycloakAdmin]:
    client = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    created: list[tuple[str, str]] = []
    client.created = created  # type: ignore[attr-defined]
    yield client
    for realm, user_id in created:
        client.change_current_realm(realm)
        client.delete_user(user_id)


def _account(admin: KeycloakAdmin, username: str, citizen_id: str | None, **extra: Any) -> str:
    admin.change_current_realm("education")
    user_id = str(
        admin.create_user(
            {
                "username": username,
                "enabled": True,
                "firstName": "Lan",
                "lastName": "Nguyễn Thị",
                "email": f"{username}@truong.example.vn",
                "attributes": {"citizen_id": [citizen_id]} if citizen_id else {},
                **extra,
            }
        )
    )
    admin.created.append(("education", user_id))  # type: ignore[attr-defined]
    return user_id


def _citizen(admin: KeycloakAdmin, username: str, citizen_id: str, email: str | None = None) -> str:
    password = secrets.token_urlsafe(12)
    user_id = national_id.ensure_citizen(
        admin,
        national_id.Citizen(username, password, "Lan", "Nguyễn Thị", citizen_id),
    )
    if email is not None:
        admin.update_user(user_id, {"email": email})
    admin.created.append((national_id.REALM, user_id))  # type: ignore[attr-defined]
    return password


def _login(stack: Stack, stack_info: StackInfo, username: str, password: str) -> dict[str, Any]:
    return broker_login(
        stack_info.issuer,
        provider="vneid",
        client_id=CLIENT,
        client_secret=stack.client_secret(CLIENT),
        redirect_uri=REDIRECT,
        username=username,
        password=password,
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def test_first_login_links_by_citizen_id_and_the_next_one_goes_straight_through(
    stack: Stack, stack_info: StackInfo, admin: KeycloakAdmin
) -> None:
    account = _account(admin, "gv.broker01", "001185000111")
    password = _citizen(admin, "vneid.broker01", "001185000111")
    tokens = _login(stack, stack_info, "vneid.broker01", password)
    assert _claims(tokens["access_token"])["sub"] == account
    admin.change_current_realm("education")
    [link] = admin.get_user_social_logins(account)
    assert link["identityProvider"] == "vneid"
    assert link["userName"] == "vneid.broker01"
    # No second account appeared.
    assert len(admin.get_users({"q": "citizen_id:001185000111"})) == 1
    again = _login(stack, stack_info, "vneid.broker01", password)
    assert _claims(again["access_token"])["sub"] == account


def test_a_matching_email_or_name_without_the_citizen_id_links_nothing(
    stack: Stack, stack_info: StackInfo, admin: KeycloakAdmin
) -> None:
    # Same e-mail and name as an account, but that account carries another citizen ID.
    account = _account(admin, "gv.broker02", "001185000222")
    password = _citizen(
        admin, "vneid.broker02", "001185000999", email="gv.broker02@truong.example.vn"
    )
    with pytest.raises(BrokerLoginRefused) as refused:
        _login(stack, stack_info, "vneid.broker02", password)
    assert "số định danh" in refused.value.page
    admin.change_current_realm("education")
    assert admin.get_user_social_logins(account) == []
    assert admin.get_users({"username": "vneid.broker02", "exact": True}) == []


@pytest.mark.parametrize("case", ["two accounts", "disabled"])
def test_ambiguous_or_disabled_accounts_are_refused(
    stack: Stack, stack_info: StackInfo, admin: KeycloakAdmin, case: str
) -> None:
    citizen_id = "001185000333" if case == "two accounts" else "001185000444"
    suffix = "03" if case == "two accounts" else "04"
    first = _account(admin, f"gv.broker{suffix}", citizen_id, enabled=case != "disabled")
    accounts = [first]
    if case == "two accounts":
        accounts.append(_account(admin, f"gv.broker{suffix}b", citizen_id))
    password = _citizen(admin, f"vneid.broker{suffix}", citizen_id)
    with pytest.raises(BrokerLoginRefused):
        _login(stack, stack_info, f"vneid.broker{suffix}", password)
    admin.change_current_realm("education")
    for account in accounts:
        assert admin.get_user_social_logins(account) == []
    # The refusal is a login error event with the reason, and without the citizen ID.
    reasons = [
        event.get("details", {}).get("link_reason")
        for event in admin.get_events({"max": 20})
        if event.get("error")
    ]
    expected = "several_accounts_for_citizen" if case == "two accounts" else "account_disabled"
    assert expected in reasons
    assert not any(citizen_id in json.dumps(e) for e in admin.get_events({"max": 20}))


def test_the_demo_teacher_can_log_in_with_the_stand_in(
    stack: Stack, stack_info: StackInfo, admin: KeycloakAdmin
) -> None:
    tokens = _login(stack, stack_info, "vneid.giaovien", stack.user_password("vneid.giaovien"))
    admin.change_current_realm("education")
    assert _claims(tokens["access_token"])["sub"] == admin.get_user_id("demo.giaovien")
