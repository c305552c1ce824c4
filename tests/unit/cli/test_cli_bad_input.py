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
