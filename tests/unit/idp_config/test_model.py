from __future__ import annotations

from pathlib import Path

import pytest

from idp_config import DEFAULT_REALM_FILE, IdpConfigError, check_realm, load_realm


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "realm.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_realm_loads() -> None:
    spec = load_realm(DEFAULT_REALM_FILE)
    assert spec.realm == "education"
    assert spec.security.brute_force_protected is True
    assert {c.client_id for c in spec.clients} >= {"signing-service", "audit-service"}


def test_wildcard_redirect_uri_breaks_the_policy_naming_rule_and_client(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
realm: education
clients:
  - client_id: eoffice
    access_type: web
    minimum_acr: "2"
    redirect_uris: ["https://eoffice.example.vn/*"]
""",
    )
    violations = check_realm(load_realm(path))
    assert [(v.rule_id, v.subject) for v in violations] == [("IDP-001", "client eoffice")]
    assert "https://eoffice.example.vn/*" in violations[0].evidence
    assert violations[0].remediation.vi


def test_the_shipped_realm_breaks_no_policy() -> None:
    assert check_realm(load_realm(DEFAULT_REALM_FILE)) == []


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "realm: education\nbrute_force: false\n")
    with pytest.raises(IdpConfigError, match="brute_force"):
        load_realm(path)


def test_role_that_is_not_defined_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
realm: education
users:
  - {username: a.b, first_name: A, last_name: B, email: a@b.vn, realm_roles: [wizard]}
""",
    )
    with pytest.raises(IdpConfigError, match="wizard"):
        load_realm(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "realm: [unclosed", "\x00\x01"])
def test_malformed_yaml_is_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(IdpConfigError):
        load_realm(_write(tmp_path, text))
