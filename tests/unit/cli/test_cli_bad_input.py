"""Command-line tools answer bad input with a message and a non-zero exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def _key(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_check_proof_on_garbage_exits_2_with_a_message(tmp_path: Path) -> None:
    proof = tmp_path / "proof.json"
    proof.write_bytes(b"\xff\xfe not json")
    result = _run("audit", "check-proof", str(proof), "--public-key", str(_key(tmp_path)))
    assert result.returncode == 2
    assert "cannot read" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_check_proof_on_a_malformed_document_exits_1(tmp_path: Path) -> None:
    proof = tmp_path / "proof.json"
    proof.write_text('{"format": "edu-gateway/audit-inclusion-proof/v1", "leaf_index": "x"}')
    result = _run("audit", "check-proof", str(proof), "--public-key", str(_key(tmp_path)))
    assert result.returncode == 1
    assert "malformed proof" in result.stdout


def test_idp_config_with_a_broken_realm_file_names_the_field(tmp_path: Path) -> None:
    realm = tmp_path / "realm.yaml"
    realm.write_text("realm: education\nclients:\n  - client_id: x\n    access_type: magic\n")
    result = _run("idp_config", "plan", "--realm-file", str(realm))
    assert result.returncode == 1
    assert "clients.0.access_type" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_idp_config_without_connection_settings_names_what_to_set(tmp_path: Path) -> None:
    result = _run("idp_config", "plan")
    assert result.returncode == 1
    for name in ("KEYCLOAK_URL", "KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD"):
        assert name in result.stdout
    assert "--stack" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    stopped = _run("idp_config", "plan", "--stack", str(tmp_path))
    assert stopped.returncode == 1
    assert "no such settings file" in stopped.stdout and "make run" in stopped.stdout


def test_issue_accounts_names_a_records_file_that_is_not_utf8(tmp_path: Path) -> None:
    """The file is judged before Keycloak is reached (none listens at the address given)."""
    records = tmp_path / "staff.csv"
    records.write_bytes(
        "record_id,citizen_id,full_name,date_of_birth,unit_code,role,status\n"
        "GV1,1,Trần,1990-01-01,1,teacher,active\n".encode("utf-16")
    )
    result = subprocess.run(
        [sys.executable, "-m", "idp_config", "issue-accounts", str(records), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            "KEYCLOAK_URL": "http://127.0.0.1:9",
            "KEYCLOAK_ADMIN_USER": "realm-admin",
            "KEYCLOAK_ADMIN_PASSWORD": "Kc-admin-2026-rotated",
        },
    )
    assert result.returncode == 1
    assert "Tệp hồ sơ không hợp lệ" in result.stdout
    assert "The records file is not valid" in result.stdout
    assert str(records) in result.stdout and "row 1" in result.stdout
    assert "realm configuration" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
