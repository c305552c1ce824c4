"""The realm as code against the real Keycloak started for this session."""

from __future__ import annotations

import pytest

from devstack import Stack, StackInfo
from idp_config import admin_client, apply_realm

pytestmark = pytest.mark.keycloak


def test_second_apply_creates_nothing(stack: Stack, stack_info: StackInfo) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    spec = stack.realm_spec
    report = apply_realm(
        admin,
        spec,
        client_secrets={c.client_id: stack.client_secret(c.client_id) for c in spec.clients},
        user_passwords={u.username: stack.user_password(u.username) for u in spec.users},
    )
    assert report.created == []
    admin.change_current_realm("education")
    users = admin.get_users({"username": "demo.giaovien", "exact": True})
    assert len(users) == 1


def test_live_realm_has_the_security_baseline(stack: Stack, stack_info: StackInfo) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    realm = admin.get_realm("education")
    assert realm["bruteForceProtected"] is True
    assert realm["defaultLocale"] == "vi"
    assert realm["eventsEnabled"] is True and realm["adminEventsEnabled"] is True
    assert "length(12)" in realm["passwordPolicy"]
    admin.change_current_realm("education")
    declared = {c.client_id for c in stack.realm_spec.clients}
    # Keycloak's built-in account clients keep their "/realms/education/account/*" default here;
    # tightening them is the compliance scanner's job (issue 5).
    for client in (c for c in admin.get_clients() if c["clientId"] in declared):
        assert not any("*" in uri for uri in client.get("redirectUris", [])), client["clientId"]
        if client["clientId"] in {"signing-service", "audit-service"}:
            assert client["directAccessGrantsEnabled"] is False
