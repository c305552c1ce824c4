"""Accounts made in the live realm for one test (a tag in their names), deleted after it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from keycloak import KeycloakAdmin

from devstack import Stack, StackInfo
from idp_config import admin_client


@pytest.fixture
def admin(stack: Stack, stack_info: StackInfo) -> KeycloakAdmin:
    client = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    client.change_current_realm("education")
    return client


class People:
    def __init__(self, admin: KeycloakAdmin) -> None:
        self.admin = admin
        self.ids: list[str] = []
        self.tag = secrets.token_hex(3)

    def add(self, name: str, unit: str, role: str, *, email: str | None = None) -> tuple[str, str]:
        """A person of ``unit`` holding the realm role ``role``: (user name, password)."""
        username = f"{name}.{self.tag}"
        password = f"Cu-{secrets.token_urlsafe(12)}"
        user_id = self.admin.create_user(
            {
                "username": username,
                "enabled": True,
                "firstName": "Thử",
                "lastName": "Nghiệm",
                **({"email": email, "emailVerified": True} if email else {}),
                "attributes": {"unit_code": [unit]},
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            }
        )
        self.admin.assign_realm_roles(user_id, [self.admin.get_realm_role(role)])
        self.ids.append(user_id)
        return username, password


@pytest.fixture
def people(admin: KeycloakAdmin) -> Iterator[People]:
    found = People(admin)
    yield found
    for user_id in found.ids:
        admin.delete_user(user_id)
