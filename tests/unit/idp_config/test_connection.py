"""The tools' connection settings: read from the environment and/or a 0600 settings file, missing or
placeholder secrets refused by name and never echoed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from idp_config.connection import AuditTrailMissing, IdpConnection
from idp_config.errors import ConnectionSettingsError
from scanners.connection import ScanConnection

PASSWORD = "Kc-admin-2026-rotated"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the shell that runs the tests."""
    for name in list(os.environ):
        if name.startswith(("KEYCLOAK_", "IDP_", "SCAN_", "POPULATION_")):
            monkeypatch.delenv(name)


def _environment(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    base = {
        "KEYCLOAK_URL": "https://sso.sogd.example.vn",
        "KEYCLOAK_ADMIN_USER": "realm-admin",
        "KEYCLOAK_ADMIN_PASSWORD": PASSWORD,
    }
    for name, value in {**base, **values}.items():
        monkeypatch.setenv(name, value)


def _settings_file(folder: Path, values: dict[str, Any], mode: int = 0o600) -> Path:
    path = folder / "connection.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_missing_admin_password_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch)
    monkeypatch.delenv("KEYCLOAK_ADMIN_PASSWORD")
    with pytest.raises(ConnectionSettingsError) as refused:
        IdpConnection.load()
    assert refused.value.detail is not None
    assert "KEYCLOAK_ADMIN_PASSWORD is not set" in refused.value.detail
    assert "KEYCLOAK_URL" not in refused.value.detail  # only what is missing is named


@pytest.mark.parametrize(
    "placeholder",
    [
        "changeme",
        "CHANGE-ME",
        "password",
        "admin",
        "<admin password>",
        "${KC_PASSWORD}",
        "  ",
        "****",
    ],
)
def test_a_placeholder_admin_password_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    _environment(monkeypatch, KEYCLOAK_ADMIN_PASSWORD=placeholder)
    with pytest.raises(ConnectionSettingsError) as refused:
        IdpConnection.load()
    detail = str(refused.value.detail)
    assert detail.startswith("KEYCLOAK_ADMIN_PASSWORD")
    if placeholder.strip():
        assert placeholder not in refused.value.diagnostics()


def test_a_real_password_is_accepted_and_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch)
    connection = IdpConnection.load()
    assert connection.keycloak_admin_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(connection) and PASSWORD not in str(connection)


def test_the_settings_file_wins_and_the_environment_fills_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Production keeps the password out of the file: the environment gives it; an explicit file
    is not overridden by an address left in the shell."""
    _environment(monkeypatch, KEYCLOAK_URL="https://left-in-the-shell.example.vn")
    path = _settings_file(
        tmp_path,
        {
            "keycloak_url": "https://sso.sogd.example.vn",
            "keycloak_admin_user": "realm-admin",
            "idp_client_secrets": {"e-gradebook": "Rb7-client-secret-xyz"},
            "scan_mac_key": "belongs-to-the-scanner",  # the other tool's key: ignored here
        },
    )
    connection = IdpConnection.load(path)
    assert connection.keycloak_url == "https://sso.sogd.example.vn"
    assert connection.keycloak_admin_password.get_secret_value() == PASSWORD
    assert connection.client_secrets() == {"e-gradebook": "Rb7-client-secret-xyz"}


def test_a_settings_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = _settings_file(
        tmp_path,
        {
            "keycloak_url": "https://sso.sogd.example.vn",
            "keycloak_admin_user": "realm-admin",
            "keycloak_admin_password": PASSWORD,
        },
        mode=0o644,
    )
    with pytest.raises(ConnectionSettingsError, match="chmod 600"):
        IdpConnection.load(path)


def test_an_unknown_key_or_a_missing_file_is_named(tmp_path: Path) -> None:
    path = _settings_file(
        tmp_path,
        {
            "keycloak_url": "https://sso.sogd.example.vn",
            "keycloak_admin_user": "realm-admin",
            "keycloak_admin_pasword": PASSWORD,  # a typo
        },
    )
    with pytest.raises(ConnectionSettingsError, match="unknown key keycloak_admin_pasword"):
        IdpConnection.load(path)
    with pytest.raises(ConnectionSettingsError, match="no such settings file"):
        IdpConnection.load(tmp_path / "absent" / "connection.json")


def test_a_placeholder_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _settings_file(
        tmp_path,
        {
            "keycloak_url": "https://sso.sogd.example.vn",
            "keycloak_admin_user": "realm-admin",
            "keycloak_admin_password": PASSWORD,
            "idp_provider_secrets": {"vneid": "changeme"},
        },
    )
    with pytest.raises(ConnectionSettingsError, match="IDP_PROVIDER_SECRETS"):
        IdpConnection.load(path)


def test_provider_secrets_from_one_variable_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, IDP_PROVIDER_SECRET_NATIONAL_ID="Vn-eid-client-secret-1")
    connection = IdpConnection.load()
    assert connection.provider_secrets(["national-id", "other"]) == {
        "national-id": "Vn-eid-client-secret-1"
    }


def test_without_an_audit_trail_account_changes_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, IDP_AUDIT_REDIS_URL="redis://127.0.0.1:6380/0")
    with pytest.raises(AuditTrailMissing) as refused:
        IdpConnection.load().audit_trail()
    assert refused.value.detail is not None
    assert "IDP_AUDIT_MAC_KEY" in refused.value.detail
    assert "IDP_AUDIT_REDIS_URL" not in refused.value.detail


def test_the_scanner_reads_its_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(
        monkeypatch,
        SCAN_OWN_SERVICES="https://ky.sogd.example.vn, https://nhatky.sogd.example.vn",
        SCAN_REDIS_URL="redis://127.0.0.1:6380/0",
        SCAN_MAC_KEY="c2Nhbm5lcnMta2V5LW9mLTMyLWJ5dGVzLWxvbmctZW5vdWdo",
    )
    connection = ScanConnection.load()
    assert connection.scan_own_services == [
        "https://ky.sogd.example.vn",
        "https://nhatky.sogd.example.vn",
    ]
    assert connection.audit_trail().redis_url == "redis://127.0.0.1:6380/0"
    monkeypatch.setenv("SCAN_MAC_KEY", "changeme")
    with pytest.raises(ConnectionSettingsError, match="SCAN_MAC_KEY"):
        ScanConnection.load()
