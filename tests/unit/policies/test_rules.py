from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from policies import PolicyFileError, default_rules, evaluate_realm, load_rules

GOOD_REALM: dict[str, Any] = {
    "bruteForceProtected": True,
    "failureFactor": 5,
    "passwordPolicy": "length(12) and notUsername",
    "sslRequired": "external",
    "eventsEnabled": True,
    "adminEventsEnabled": True,
    "eventsExpiration": 90 * 86400,
    "accessTokenLifespan": 300,
    "ssoSessionIdleTimeout": 1800,
    "ssoSessionMaxLifespan": 36000,
    "webAuthnPolicyUserVerificationRequirement": "preferred",
    "webAuthnPolicySignatureAlgorithms": ["ES256", "RS256"],
    "webAuthnPolicyPasswordlessUserVerificationRequirement": "required",
    "webAuthnPolicyPasswordlessSignatureAlgorithms": ["ES256"],
    "revokeRefreshToken": True,
    "refreshTokenMaxReuse": 0,
}
GOOD_CLIENT = {
    "clientId": "eoffice",
    "redirectUris": ["https://vp.sogd.vn/cb"],
    "webOrigins": [],
    "standardFlowEnabled": True,
    "fullScopeAllowed": False,
    "scopeRealmRoles": ["principal", "teacher"],
    "attributes": {"pkce.code.challenge.method": "S256"},
    "optionalClientScopes": ["address"],
}


def test_every_shipped_rule_has_vietnamese_and_english_text() -> None:
    rules = default_rules()
    assert len(rules) >= 7
    for rule in rules:
        assert rule.title.vi and rule.title.en and rule.remediation.vi and rule.remediation.en


def test_a_compliant_realm_has_no_violation() -> None:
    assert evaluate_realm(GOOD_REALM, [GOOD_CLIENT]) == []


@pytest.mark.parametrize(
    ("change", "client_change", "rule"),
    [
        ({"bruteForceProtected": False}, {}, "IDP-002"),
        ({"failureFactor": 30}, {}, "IDP-002"),
        ({"passwordPolicy": "length(8)"}, {}, "IDP-003"),
        ({"passwordPolicy": ""}, {}, "IDP-003"),
        ({"sslRequired": "none"}, {}, "IDP-004"),
        ({"adminEventsEnabled": False}, {}, "IDP-005"),
        ({"eventsExpiration": 86400}, {}, "IDP-005"),
        ({"accessTokenLifespan": 3600}, {}, "IDP-006"),
        ({}, {"redirectUris": ["https://vp.sogd.vn/*"]}, "IDP-001"),
        ({}, {"webOrigins": ["*"]}, "IDP-001"),
        ({}, {"directAccessGrantsEnabled": True}, "IDP-007"),
        ({"webAuthnPolicyPasswordlessUserVerificationRequirement": "preferred"}, {}, "IDP-011"),
        ({"webAuthnPolicyPasswordlessUserVerificationRequirement": None}, {}, "IDP-011"),
        ({"webAuthnPolicyUserVerificationRequirement": "discouraged"}, {}, "IDP-011"),
        ({"webAuthnPolicySignatureAlgorithms": ["ES256", "RS1"]}, {}, "IDP-011"),
        ({}, {"fullScopeAllowed": True}, "IDP-012"),
        ({"ssoSessionIdleTimeout": 7200}, {}, "IDP-015"),
        ({"ssoSessionMaxLifespan": 0}, {}, "IDP-015"),
        ({}, {"scopeRealmRoles": ["teacher", "it-admin"]}, "IDP-012"),
        (
            {},
            {
                "scopeRealmRoles": ["security-officer"],
                "attributes": {"minimum.acr.value": "1", "pkce.code.challenge.method": "S256"},
            },
            "IDP-012",
        ),
        # PKCE not required (attack class: authorization code injection), or only "plain".
        ({}, {"attributes": {}}, "IDP-017"),
        ({}, {"attributes": {"pkce.code.challenge.method": "plain"}}, "IDP-017"),
        ({}, {"publicClient": True, "fullScopeAllowed": False, "attributes": {}}, "IDP-016"),
        # Offline tokens: sessions that outlive every session limit.
        ({}, {"optionalClientScopes": ["address", "offline_access"]}, "IDP-018"),
        ({}, {"defaultClientScopes": ["offline_access"]}, "IDP-018"),
        # A refresh token that can be used again (a stolen one goes unnoticed).
        ({"revokeRefreshToken": False}, {}, "IDP-019"),
        ({"refreshTokenMaxReuse": 3}, {}, "IDP-019"),
    ],
)
def test_each_rule_catches_its_violation(
    change: dict[str, Any], client_change: dict[str, Any], rule: str
) -> None:
    violations = evaluate_realm({**GOOD_REALM, **change}, [{**GOOD_CLIENT, **client_change}])
    assert [v.rule_id for v in violations] == [rule]


def test_clients_nobody_logs_in_with_need_no_pkce_and_hold_no_offline_tokens() -> None:
    bearer = {**GOOD_CLIENT, "bearerOnly": True, "attributes": {}}
    bearer["optionalClientScopes"] = ["offline_access"]
    service = {**GOOD_CLIENT, "standardFlowEnabled": False, "attributes": {}}
    service["optionalClientScopes"] = ["offline_access"]
    assert evaluate_realm(GOOD_REALM, [bearer, service]) == []


def test_an_accepted_finding_is_marked_with_its_reason_and_others_stay_open() -> None:
    weak = {**GOOD_CLIENT, "redirectUris": ["https://vp.sogd.vn/*"], "attributes": {}}
    found = evaluate_realm(
        GOOD_REALM,
        [weak],
        accepted={("IDP-001", "client eoffice"): "a reason long enough to read"},
    )
    assert {v.rule_id: v.accepted for v in found} == {
        "IDP-001": "a reason long enough to read",
        "IDP-017": None,
    }
    assert "accepted: a reason long enough to read" in found[0].line()


def _rules_folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    return tmp_path


RULE = """
rules:
  - id: IDP-900
    title: {vi: "Thử", en: "Test"}
    severity: %s
    sources: ["test"]
    check: %s
    remediation: {vi: "Sửa", en: "Fix"}
"""


def test_bad_severity_names_file_rule_and_field(tmp_path: Path) -> None:
    folder = _rules_folder(tmp_path, RULE % ("urgent", "ssl_required"))
    with pytest.raises(PolicyFileError) as info:
        load_rules(folder)
    assert "rules.yaml" in str(info.value.detail)
    assert "rules.IDP-900.severity" in str(info.value.detail)


def test_unknown_check_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="unknown check 'no_such_check'"):
        load_rules(_rules_folder(tmp_path, RULE % ("high", "no_such_check")))


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    text = RULE % ("high", "ssl_required") + "    enabled: false\n"
    with pytest.raises(PolicyFileError, match="enabled"):
        load_rules(_rules_folder(tmp_path, text))


def test_duplicate_rule_id_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(RULE % ("high", "ssl_required"), encoding="utf-8")
    with pytest.raises(PolicyFileError, match="also defined"):
        load_rules(_rules_folder(tmp_path, RULE % ("high", "ssl_required")))


def test_a_privileged_client_with_a_second_factor_or_nobody_logging_in_passes() -> None:
    stepped_up = {
        **GOOD_CLIENT,
        "fullScopeAllowed": True,
        "attributes": {"minimum.acr.value": "2", "pkce.code.challenge.method": "S256"},
    }
    service = {**GOOD_CLIENT, "fullScopeAllowed": True, "standardFlowEnabled": False}
    own_account = {**GOOD_CLIENT, "clientId": "account-console", "fullScopeAllowed": True}
    unknown_scope = {k: v for k, v in GOOD_CLIENT.items() if k != "scopeRealmRoles"}
    for client in (stepped_up, service, own_account, unknown_scope):
        assert evaluate_realm(GOOD_REALM, [client]) == [], client


def test_the_shipped_realm_file_breaks_no_rule() -> None:
    from idp_config import load_realm
    from idp_config.apply import check_realm
    from idp_config.model import DEFAULT_REALM_FILE

    assert check_realm(load_realm(DEFAULT_REALM_FILE)) == []


def test_a_realm_file_whose_admin_console_takes_a_password_alone_is_refused() -> None:
    from idp_config import load_realm
    from idp_config.apply import check_realm
    from idp_config.model import DEFAULT_REALM_FILE

    spec = load_realm(DEFAULT_REALM_FILE)
    weak = spec.model_copy(
        update={"security": spec.security.model_copy(update={"admin_console_minimum_acr": "1"})}
    )
    assert [v.rule_id for v in check_realm(weak)] == ["IDP-012"]
