"""The settings file the local gateway writes for ``--stack``: owner-only, and read back by both tools
(without importing the dev stack) as the gateway's own addresses and secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from audit.producers import Producer
from devstack import Ports, Stack, StackInfo
from devstack.connection_file import connection_path, write_connection_file
from idp_config.connection import IdpConnection
from scanners.connection import ScanConnection


def _info(stack: Stack) -> StackInfo:
    folder = stack.folder
    return StackInfo(
        folder=str(folder),
        keycloak_url=f"http://localhost:{stack.ports.keycloak}",
        keycloak_admin_console="",
        keycloak_health="",
        issuer=f"http://localhost:{stack.ports.keycloak}/realms/education",
        redis_url=f"redis://127.0.0.1:{stack.ports.redis}/0",
        pki_url="",
        signing_url=f"http://127.0.0.1:{stack.ports.signing}",
        audit_url=f"http://127.0.0.1:{stack.ports.audit}",
        softhsm_conf="",
        seal_certificate=str(folder / "signing" / "org-seal.pem"),
        trust_store="",
    )


def test_both_tools_read_the_stacks_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("KEYCLOAK_", "IDP_", "SCAN_", "POPULATION_")):
            monkeypatch.delenv(name)
    stack = Stack(tmp_path / "run", Ports.consecutive(30100))
    path = write_connection_file(stack, _info(stack))
    assert path == connection_path(stack) == stack.folder / "connection.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    accounts = IdpConnection.load(path)
    assert accounts.keycloak_url == "http://localhost:30100"
    assert accounts.keycloak_admin_password.get_secret_value() == stack.secrets.get(
        "keycloak:admin"
    )
    assert accounts.idp_realm_variables == stack.realm_variables
    assert accounts.client_secrets()["demo-eoffice"] == stack.client_secret("demo-eoffice")
    assert accounts.provider_secrets(["vneid"]) == {"vneid": stack.provider_secret("vneid")}
    trail = accounts.audit_trail()
    assert trail.redis_username == "accounts"
    assert trail.mac_key.get_secret_value() == stack.producer_key(Producer.ACCOUNTS)

    scanner = ScanConnection.load(path)
    assert scanner.audit_trail().redis_username == "scanners"
    assert scanner.scan_own_services == ["http://127.0.0.1:30104", "http://127.0.0.1:30105"]
    assert scanner.scan_audit_store == stack.folder / "audit" / "events.sqlite3"
