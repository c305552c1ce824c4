"""The realm as code against the real Keycloak started for this session."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import Stack, StackInfo
from idp_config import admin_client, apply_realm, load_realm
from idp_config.export import export_realm
from idp_config.plan import Action, live_state, plan, render

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
    assert report.updated == []
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
    # Passkeys need the PIN or biometric; security keys as a second factor ask for it too.
    assert realm["webAuthnPolicyPasswordlessUserVerificationRequirement"] == "required"
    assert realm["webAuthnPolicyPasswordlessRequireResidentKey"] == "Yes"
    assert realm["webAuthnPolicyUserVerificationRequirement"] == "required"
    assert realm["webAuthnPolicyAvoidSameAuthenticatorRegister"] is True
    assert realm["otpPolicyDigits"] == 6 and realm["otpPolicyType"] == "totp"
    admin.change_current_realm("education")
    declared = {c.client_id for c in stack.realm_spec.clients}
    # Keycloak's built-in account clients keep their "/realms/education/account/*" default here;
    # tightening them is the compliance scanner's job (issue 5).
    for client in (c for c in admin.get_clients() if c["clientId"] in declared):
        assert not any("*" in uri for uri in client.get("redirectUris", [])), client["clientId"]
        if client["clientId"] in {"signing-service", "audit-service"}:
            assert client["directAccessGrantsEnabled"] is False


def test_hand_changes_show_as_drift_and_apply_reverts_them(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    spec = stack.realm_spec
    admin.change_current_realm("education")
    admin.update_realm("education", {"bruteForceProtected": False})
    client_uuid = admin.get_client_id("demo-eoffice")
    assert client_uuid is not None
    admin.update_client(client_uuid, {"redirectUris": ["https://x.vn/*"]})
    admin.create_user({"username": "made.by.hand", "enabled": True}, exist_ok=True)
    try:
        changes = {c.address: c for c in plan(admin, spec)}
        realm_change = changes["realm/education"]
        assert realm_change.action is Action.UPDATE
        assert [(f.name, f.live, f.desired) for f in realm_change.fields] == [
            ("bruteForceProtected", False, True)
        ]
        # Keycloak may derive webOrigins from the new redirect URI: that is drift too.
        assert "redirectUris" in [f.name for f in changes["client/demo-eoffice"].fields]
        # People's accounts are issue-accounts' business (and the account-hygiene scanner's), not
        # the realm files': one made by hand is not listed among tens of thousands of issued ones.
        assert "user/made.by.hand" not in changes
        rendered = render(list(changes.values()))
        assert "~ realm/education" in rendered and "bruteForceProtected: False -> True" in rendered

        report = apply_realm(
            admin,
            spec,
            client_secrets={c.client_id: stack.client_secret(c.client_id) for c in spec.clients},
            user_passwords={},
            smtp_password=stack.mail_password,
        )
        assert sorted(report.updated) == ["client/demo-eoffice", "realm/education"]
        assert plan(admin, spec) == []
        assert admin.get_user_id("made.by.hand") is not None  # never deleted
    finally:
        admin.change_current_realm("education")
        user_id = admin.get_user_id("made.by.hand")
        if user_id:
            admin.delete_user(user_id)


def test_export_writes_a_realm_file_that_plans_to_nothing(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    exported = tmp_path / "exported.yaml"
    exported.write_text(
        export_realm("education", live_state(admin, stack.realm_spec)), encoding="utf-8"
    )
    spec = load_realm(exported)
    assert {c.client_id for c in spec.clients} == {c.client_id for c in stack.realm_spec.clients}
    assert [c for c in plan(admin, spec) if c.action is not Action.UNMANAGED] == []


def test_organisation_tree_is_applied_and_a_renamed_school_is_drift(
    stack: Stack, stack_info: StackInfo
) -> None:
    from idp_config.plan import group_tree

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    tree = group_tree(admin)
    school = tree["/so-gddt/phong-760/79760101"]
    assert school["attributes"]["display_name"] == ["Trường THPT Bùi Thị Xuân"]
    assert school["attributes"]["unit_level"] == ["thpt"]
    assert len([p for p in tree if p.count("/") == 3]) == len(
        [u for u in stack.realm_spec.units if u.level not in {"department", "district"}]
    )
    admin.update_group(
        school["id"],
        {"name": "79760101", "attributes": {**school["attributes"], "display_name": ["Sửa tay"]}},
    )
    changes = {c.address: c for c in plan(admin, stack.realm_spec)}
    assert changes["group/so-gddt/phong-760/79760101"].action is Action.UPDATE
    apply_realm(
        admin,
        stack.realm_spec,
        client_secrets={},
        user_passwords={},
        smtp_password=stack.mail_password,
    )
    admin.change_current_realm("education")
    assert group_tree(admin)["/so-gddt/phong-760/79760101"]["attributes"]["display_name"] == [
        "Trường THPT Bùi Thị Xuân"
    ]


def test_each_education_system_sees_only_its_roles_and_the_app_uses_pkce(
    stack: Stack, stack_info: StackInfo
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    gradebook = admin.get_client(str(admin.get_client_id("e-gradebook")))
    assert gradebook["fullScopeAllowed"] is False
    assert gradebook["redirectUris"] == ["https://sodiem.sogddt.example.vn/oidc/callback"]
    visible = {r["name"] for r in admin.get_realm_roles_of_client_scope(gradebook["id"])}
    assert visible == {
        "principal",
        "vice-principal",
        "teacher",
        "homeroom-teacher",
        "student",
        "parent",
    }
    assert "it-admin" not in visible
    app = admin.get_client(str(admin.get_client_id("citizen-app-contact-book")))
    assert app["publicClient"] is True
    assert app["attributes"]["pkce.code.challenge.method"] == "S256"
    assert app["directAccessGrantsEnabled"] is False
    accreditation = admin.get_client(str(admin.get_client_id("accreditation")))
    assert accreditation["attributes"]["minimum.acr.value"] == "2"


@pytest.mark.parametrize("bad", ["07920300123", "0792030012345", "07920300123x"])
def test_user_profile_refuses_a_citizen_id_that_is_not_12_digits(
    stack: Stack, stack_info: StackInfo, bad: str
) -> None:
    from keycloak.exceptions import KeycloakError

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    user_id = str(admin.get_user_id("demo.hocsinh"))
    user = admin.get_user(user_id)
    with pytest.raises(KeycloakError) as refused:
        admin.update_user(user_id, {**user, "attributes": {"citizen_id": [bad]}})
    assert refused.value.response_code == 400
    assert b"12" in (refused.value.response_body or b"")
    admin.update_user(
        user_id,
        {**user, "attributes": {"citizen_id": ["079203001234"], "date_of_birth": ["2009-05-14"]}},
    )
    stored = admin.get_user(user_id)["attributes"]
    assert stored["citizen_id"] == ["079203001234"]


def test_a_wrong_admin_password_is_a_refusal_not_an_outage(stack_info: StackInfo) -> None:
    """Keycloak refuses the login (HTTP 4xx): retrying will not help, so it is not reported as
    unreachable, and Keycloak's reason is given."""
    from idp_config import KeycloakRefused, KeycloakUnreachable

    with pytest.raises(KeycloakRefused) as refused:
        admin_client(stack_info.keycloak_url, "admin", "Not-the-admin-password-1")
    assert not isinstance(refused.value, KeycloakUnreachable)
    assert "HTTP 4" in str(refused.value.detail)
    assert "Invalid user credentials" in str(refused.value.detail)
    assert "Not-the-admin-password-1" not in refused.value.diagnostics()


def test_keycloak_refusing_what_apply_sends_is_a_refusal_naming_the_reason(
    stack: Stack, stack_info: StackInfo
) -> None:
    """A realm Keycloak itself rejects (a password policy it cannot parse): HTTP 400, its reason."""
    from idp_config import KeycloakRefused
    from idp_config.model import RealmSpec

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    spec = RealmSpec.model_validate(
        {
            "realm": "refused-by-keycloak",
            "security": {"password_policy": "length(12) and notUsername and noSuchPolicy(3)"},
        }
    )
    try:
        with pytest.raises(KeycloakRefused) as refused:
            apply_realm(admin, spec, client_secrets={}, user_passwords={}, smtp_password="x" * 12)
        assert "HTTP 400" in str(refused.value.detail)
        assert "Password policy not found" in str(refused.value.detail)
    finally:
        admin.change_current_realm("master")
        if "refused-by-keycloak" in {r["realm"] for r in admin.get_realms()}:
            admin.delete_realm("refused-by-keycloak")
