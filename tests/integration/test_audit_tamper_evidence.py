"""The audit log's tamper evidence, end to end: events from the real signing service, checkpoints
signed in the real token by the audit service, and `gateway-audit` finding every kind of tampering."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.records import RecordColumns, record_leaf
from audit.store import GENESIS, chain_step
from devstack import Stack, StackInfo
from gateway_runtime.local_time import PEOPLES_ZONE
from tests.audit_cli import run_audit_cli
from tests.conftest import TokenFactory

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm]


def _store_copy(stack: Stack, tmp_path: Path) -> Path:
    source = sqlite3.connect(stack.folder / "audit" / "events.sqlite3")
    copy = tmp_path / "events.sqlite3"
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


@pytest.fixture(scope="module")
def signed_event(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> dict[str, Any]:
    """Sign a document, then wait until its audit event is under a signed checkpoint."""
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={
            "Authorization": f"Bearer {client_token('demo-eoffice')}",
            "Content-Type": "application/pdf",
        },
        timeout=30,
    )
    assert response.status_code == 200
    reader = {"Authorization": f"Bearer {client_token('audit-reports')}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = httpx.get(
            f"{stack_info.audit_url}/v1/events",
            params={"correlation_id": response.headers["x-request-id"]},
            headers=reader,
            timeout=10,
        ).json()["events"]
        if events:
            proof = httpx.get(
                f"{stack_info.audit_url}/v1/events/{events[0]['event_id']}/proof",
                headers=reader,
                timeout=10,
            )
            if proof.status_code == 200:
                return {"event": events[0], "proof": proof.json()}
            assert proof.json()["code"] == "not-checkpointed"
        time.sleep(0.5)
    raise AssertionError("the event was never checkpointed")


def test_exported_proof_checks_offline_and_a_doctored_one_does_not(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(signed_event["proof"]))
    key = str(stack.checkpoint_public_key)
    ok = run_audit_cli("check-proof", str(proof_file), "--public-key", key)
    assert ok.returncode == 0, ok.stdout
    assert signed_event["event"]["event_id"] in ok.stdout

    doctored = dict(signed_event["proof"])
    body = json.loads(doctored["event_canonical"])
    body["actor"]["name"] = "client:someone-else"
    doctored["event"] = body
    doctored["event_canonical"] = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    proof_file.write_text(json.dumps(doctored))
    bad = run_audit_cli("check-proof", str(proof_file), "--public-key", key)
    assert bad.returncode == 1
    assert "does not lead to the signed root" in bad.stdout


def test_live_log_verifies(stack: Stack, signed_event: dict[str, Any], tmp_path: Path) -> None:
    result = run_audit_cli(
        "verify",
        "--store",
        str(_store_copy(stack, tmp_path)),
        "--public-key",
        str(stack.checkpoint_public_key),
    )
    assert result.returncode == 0, result.stdout
    assert "VERIFIED" in result.stdout


def _open_for_tampering(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER events_no_delete")
    return db


def test_altered_record_is_named(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    copy = _store_copy(stack, tmp_path)
    db = _open_for_tampering(copy)
    db.execute("UPDATE events SET body = replace(body, '\"success\"', '\"failure\"') WHERE seq = 2")
    assert db.total_changes == 1
    db.close()
    result = run_audit_cli(
        "verify", "--store", str(copy), "--public-key", str(stack.checkpoint_public_key)
    )
    assert result.returncode == 1
    assert "seq 2" in result.stdout


def test_log_rewritten_with_a_fresh_chain_is_caught_by_the_checkpoints(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    copy = _store_copy(stack, tmp_path)
    db = _open_for_tampering(copy)
    rows = db.execute(
        "SELECT seq, event_id, tag, time, actor, outcome, unit, document, received_at, body"
        " FROM events ORDER BY seq"
    ).fetchall()
    head = GENESIS
    for seq, *values, body in rows:
        columns = RecordColumns(*values)
        if seq == 1:
            body = body.replace('"outcome":"success"', '"outcome":"failure"')
            columns = columns._replace(outcome="failure")
        leaf = record_leaf(columns, body)
        head = chain_step(head, leaf)
        db.execute(
            "UPDATE events SET body = ?, outcome = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
            (body, columns.outcome, leaf, head, seq),
        )
    db.close()
    result = run_audit_cli(
        "verify", "--store", str(copy), "--public-key", str(stack.checkpoint_public_key)
    )
    assert result.returncode == 1
    assert "rewritten" in result.stdout


def test_records_cut_off_below_a_checkpoint_are_reported_removed(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    copy = _store_copy(stack, tmp_path)
    db = _open_for_tampering(copy)
    db.execute("DELETE FROM events WHERE seq > 1")
    db.close()
    result = run_audit_cli(
        "verify", "--store", str(copy), "--public-key", str(stack.checkpoint_public_key)
    )
    assert result.returncode == 1
    assert "records removed" in result.stdout


def test_checkpoint_signed_by_another_key_is_refused(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    key = tmp_path / "other.pem"
    key.write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = run_audit_cli(
        "verify", "--store", str(_store_copy(stack, tmp_path)), "--public-key", str(key)
    )
    assert result.returncode == 1
    assert (
        hashlib.sha256(b"").hexdigest()[:4] not in result.stdout
    )  # no stray hashes, just the fault
    assert "not this one" in result.stdout


def test_a_time_range_verifies_and_a_change_inside_it_is_named(
    stack: Stack, signed_event: dict[str, Any], tmp_path: Path
) -> None:
    copy = _store_copy(stack, tmp_path)
    db = sqlite3.connect(copy)
    first_time, last_time = db.execute("SELECT MIN(time), MAX(time) FROM events").fetchone()
    db.close()
    since = first_time[:19] + "+00:00"
    key = str(stack.checkpoint_public_key)
    good = run_audit_cli("verify", "--store", str(copy), "--public-key", key, "--since", since)
    assert good.returncode == 0, good.stdout
    assert "records between" in good.stdout and "positions 1.." in good.stdout
    # Shown to the officer in local time with its zone; a time typed without an offset is local.
    first = datetime.fromisoformat(first_time)
    assert first.astimezone(PEOPLES_ZONE).strftime("%d/%m/%Y %H:%M:%S (UTC+07:00)") in good.stdout
    local_since = (
        (first - timedelta(seconds=1)).astimezone(PEOPLES_ZONE).strftime("%Y-%m-%d %H:%M:%S")
    )
    local = run_audit_cli(
        "verify", "--store", str(copy), "--public-key", key, "--since", local_since
    )
    assert local.returncode == 0, local.stdout
    assert "positions 1.." in local.stdout  # read as UTC, it would be 7 hours later: no record
    backwards = run_audit_cli(
        "verify",
        "--store",
        str(copy),
        "--public-key",
        key,
        "--since",
        since,
        "--until",
        "2000-01-01",
    )
    assert backwards.returncode == 2
    tampered = _open_for_tampering(copy)
    tampered.execute(
        "UPDATE events SET body = replace(body, '\"success\"', '\"failure\"') WHERE seq = 3"
    )
    tampered.close()
    bad = run_audit_cli("verify", "--store", str(copy), "--public-key", key, "--since", since)
    assert bad.returncode == 1
    assert "seq 3" in bad.stdout
    assert last_time >= first_time
