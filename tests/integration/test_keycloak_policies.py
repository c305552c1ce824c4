"""Policies against the real Keycloak: apply refuses a breaking realm, the scanner finds planted
violations in a live one."""

from __future__ import annotations

import pytest

from devstack import Stack, StackInfo
from idp_config import admin_client, apply_realm
from idp_config.model import RealmSpec
from policies import PolicyViolation
from scanners import acceptances, scan_accounts, scan_realm

pytestmark = pytest.mark.keycloak


def test_apply_refuses_a_breaking_realm_and_changes_nothing(
    stack: Stack, stack_info: StackInfo
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    spec = RealmSpec.model_validate(
        {
            "realm": "refused-realm",
            "security": {"brute_force_protected": False},
            "clients": [
                {"client_id": "lms", "access_type": "web", "redirect_uris": ["https://lms.vn/*"]}
            ],
        }
    )
    with pytest.raises(PolicyViolation) as info:
        apply_realm(admin, spec, client_secrets={}, user_passwords={})
    assert "IDP-001" in str(info.value.detail) and "IDP-002" in str(info.value.detail)
    admin.change_current_realm("master")
    assert "refused-realm" not in {r["realm"] for r in admin.get_realms()}


def test_scanner_finds_planted_violations_in_a_live_realm(
    stack: Stack, stack_info: StackInfo
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("master")
    admin.create_realm(
        {
            "realm": "weak-school",
            "enabled": True,
            "bruteForceProtected": False,
            "sslRequired": "external",
            "passwordPolicy": "length(12)",
            "eventsEnabled": True,
            "adminEventsEnabled": True,
        },
        skip_exists=True,
    )
    admin.change_current_realm("weak-school")
    admin.create_client(
        {
            "clientId": "weak-portal",
            "redirectUris": ["https://portal.truong.vn/*"],
            "standardFlowEnabled": True,
            "directAccessGrantsEnabled": True,
        },
        skip_exists=True,
    )
    findings = scan_realm(admin, "weak-school")
    found = {(v.rule_id, v.subject) for v in findings}
    assert ("IDP-002", "realm") in found
    assert ("IDP-001", "client weak-portal") in found
    assert ("IDP-007", "client weak-portal") in found
    # An admin console and a portal that let administrators in with a password alone.
    assert ("IDP-012", "client weak-portal") in found
    assert ("IDP-012", "client security-admin-console") in found
    # Passkeys without user verification (Keycloak's default "not specified").
    assert ("IDP-011", "realm") in found


def test_the_education_realm_passes_its_own_scan_every_exception_with_its_reason(
    stack: Stack, stack_info: StackInfo
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    spec = stack.realm_spec
    findings = scan_realm(admin, "education", accepted=acceptances(spec))
    assert [v.line() for v in findings if not v.accepted] == []
    # Every exception the realm file records is still needed (none is left over from a fix), and
    # each is shown with its reason.
    accepted = {(v.rule_id, v.subject): v.accepted for v in findings if v.accepted}
    assert accepted == {(a.rule, a.subject): a.reason for a in spec.accepted_findings}
    # Keycloak's built-in clients as apply leaves them: no password grant, PKCE, no login
    # through `account`, no offline tokens anywhere, refresh tokens good once.
    clients = {c["clientId"]: c for c in admin.get_clients()}
    assert not any(c.get("directAccessGrantsEnabled") for c in clients.values())
    assert not clients["account"]["standardFlowEnabled"]
    for client_id in ("account-console", "security-admin-console"):
        assert clients[client_id]["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not [
        c["clientId"]
        for c in clients.values()
        if "offline_access" in (c.get("optionalClientScopes") or []) and not c.get("bearerOnly")
    ]
    realm = admin.get_realm("education")
    assert realm["revokeRefreshToken"] and realm["refreshTokenMaxReuse"] == 0
    # Attack (password grant on a built-in client): turned on by hand, the scan finds it.
    cli = str(admin.get_client_id("admin-cli"))
    admin.update_client(cli, {**admin.get_client(cli), "directAccessGrantsEnabled": True})
    try:
        again = scan_realm(admin, "education", accepted=acceptances(spec))
        assert [(v.rule_id, v.subject) for v in again if not v.accepted] == [
            ("IDP-007", "client admin-cli")
        ]
    finally:
        admin.update_client(cli, {**admin.get_client(cli), "directAccessGrantsEnabled": False})


def test_privileged_accounts_without_a_second_factor_are_found(
    stack: Stack, stack_info: StackInfo
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    findings = {v.subject: v for v in scan_accounts(admin, "education") if v.rule_id == "IDP-008"}
    # The demo accounts start with passwords only; the dashboard's browser test registers an OTP
    # device for demo.antt (step-up), after which that account is no longer a finding.
    privileged = {
        "demo.quantri",
        "demo.antt",
        "demo.antt.q1",
        "quet.dast",
        "demo.so",
        "demo.phong",
        "demo.hieutruong",
    }
    admin.change_current_realm("education")
    with_otp = {
        name
        for name in privileged
        if any(c["type"] == "otp" for c in admin.get_credentials(str(admin.get_user_id(name))))
    }
    assert set(findings) == {f"user {name}" for name in privileged - with_otp}
    assert "user demo.quantri" in findings
    assert findings["user demo.quantri"].severity.value == "high"
    assert "it-admin" in findings["user demo.quantri"].evidence


def test_a_privileged_role_through_a_group_or_a_composite_is_still_found(
    stack: Stack, stack_info: StackInfo
) -> None:
    """Attack class: hiding privilege from the second-factor check. The scanner reads roles from
    each role's side (in bulk), so a privileged role given through a group, a subgroup's parent, a
    composite role or a client's role that contains one must count as much as one given directly."""
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    made_users: list[str] = []
    made_groups: list[str] = []
    try:
        for username in ("hid.group", "hid.subgroup", "hid.composite", "hid.client", "hid.plain"):
            made_users.append(
                admin.create_user(
                    {"username": username, "firstName": "Ẩn", "lastName": "Quyền", "enabled": True}
                )
            )
        by_group, by_subgroup, by_composite, by_client_role, plain = made_users
        parent = str(admin.create_group({"name": "hid-admins"}))
        made_groups.append(parent)
        child = str(admin.create_group({"name": "hid-admins-child"}, parent=parent))
        admin.assign_group_realm_roles(parent, [admin.get_realm_role("it-admin")])
        admin.group_user_add(by_group, parent)
        admin.group_user_add(by_subgroup, child)
        admin.create_realm_role({"name": "hid-bundle"})
        admin.add_composite_realm_roles_to_role(
            "hid-bundle", [admin.get_realm_role("security-officer")]
        )
        admin.assign_realm_roles(by_composite, [admin.get_realm_role("hid-bundle")])
        # A client's role that contains a realm composite that contains a privileged role.
        client = str(admin.get_client_id("demo-eoffice"))
        admin.create_client_role(client, {"name": "hid-client-bundle"})
        admin.add_composite_client_roles_to_role(
            client, "hid-client-bundle", [admin.get_realm_role("hid-bundle")]
        )
        admin.assign_client_role(
            by_client_role, client, [admin.get_client_role(client, "hid-client-bundle")]
        )
        admin.assign_realm_roles(plain, [admin.get_realm_role("teacher")])

        findings = {
            v.subject: v.evidence
            for v in scan_accounts(admin, "education")
            if v.rule_id == "IDP-008" and v.subject.startswith("user hid.")
        }
        assert set(findings) == {
            "user hid.group",
            "user hid.subgroup",
            "user hid.composite",
            "user hid.client",
        }
        assert "it-admin" in findings["user hid.subgroup"]
        assert "security-officer" in findings["user hid.composite"]
        assert "security-officer" in findings["user hid.client"]
    finally:
        for user_id in made_users:
            admin.delete_user(user_id)
        for group_id in made_groups:
            admin.delete_group(group_id)
        client = str(admin.get_client_id("demo-eoffice"))
        if any(r["name"] == "hid-client-bundle" for r in admin.get_client_roles(client)):
            admin.delete_client_role(client, "hid-client-bundle")
        if admin.get_realm_roles(search_text="hid-bundle"):
            admin.delete_realm_role("hid-bundle")


def test_two_accounts_of_one_person_are_found(stack: Stack, stack_info: StackInfo) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    created = []
    try:
        for username in ("dup.one", "dup.two"):
            created.append(
                admin.create_user(
                    {
                        "username": username,
                        "firstName": "Trùng",
                        "lastName": "Người",
                        "enabled": True,
                        "attributes": {"citizen_id": ["079203004321"]},
                    }
                )
            )
        findings = [v for v in scan_accounts(admin, "education") if v.rule_id == "IDP-009"]
        assert [f.subject for f in findings] == ["users dup.one, dup.two"]
        assert "079203004321" not in findings[0].evidence
    finally:
        for user_id in created:
            admin.delete_user(user_id)


def test_inactive_and_orphan_accounts_are_found(stack: Stack, stack_info: StackInfo) -> None:
    import time

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    long_ago = int((time.time() - 200 * 86400) * 1000)
    # Partial import keeps a creation time: an account made 200 days ago, never used.
    admin.partial_import_realm(
        "education",
        {
            "ifResourceExists": "SKIP",
            "users": [
                {
                    "username": username,
                    "enabled": True,
                    "firstName": "Cũ",
                    "lastName": "Tài khoản",
                    "createdTimestamp": created,
                    "realmRoles": ["teacher"],
                }
                for username, created in (("gv.old", long_ago), ("gv.norecord", None))
            ],
        },
    )
    try:
        findings = scan_accounts(
            admin,
            "education",
            records={"gv.old"},
            declared=[u.username for u in stack.realm_spec.users],
        )
        inactive = {v.subject for v in findings if v.rule_id == "IDP-013"}
        orphans = {v.subject for v in findings if v.rule_id == "IDP-014"}
        assert "user gv.old" in inactive and "user gv.norecord" not in inactive
        assert "user gv.norecord" in orphans and "user gv.old" not in orphans
        # The demo accounts are declared in the realm file: not orphans.
        assert not {f"user {u.username}" for u in stack.realm_spec.users} & orphans
        # Without the records, orphans are not judged.
        assert not [v for v in scan_accounts(admin, "education") if v.rule_id == "IDP-014"]
    finally:
        for username in ("gv.old", "gv.norecord"):
            user_id = admin.get_user_id(username)
            if user_id:
                admin.delete_user(user_id)
