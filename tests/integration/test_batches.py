"""Batch signing through the real service: a class at once, idempotent resubmission, and a crash of
the service mid-batch that ends with every document signed exactly once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest

from devstack import Stack, StackInfo
from devstack.process import ManagedProcess
from tests.conftest import TokenFactory

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm, pytest.mark.pki]


def _submit(
    info: StackInfo, token: str, key: str, files: list[tuple[str, bytes]], **params: str
) -> httpx.Response:
    return httpx.post(
        f"{info.signing_url}/v1/batches",
        params=params,
        files=[("documents", (name, content, "application/pdf")) for name, content in files],
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=120,
    )


def _wait(info: StackInfo, token: str, batch_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = httpx.get(
            f"{info.signing_url}/v1/batches/{batch_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        if status["status"] == "completed" or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def _batch_sign_events(info: StackInfo, token: str, batch_id: str) -> list[dict[str, Any]]:
    events = httpx.get(
        f"{info.audit_url}/v1/events",
        params={"tag": "signing:document:sign", "limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["events"]
    return [e for e in events if e["target"].get("batch_id") == batch_id]


def test_a_class_is_signed_in_one_batch_with_per_document_results(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    token = client_token("demo-eoffice")
    files = [(f"hoc-ba-{i:02d}.pdf", demo_pdf) for i in range(1, 41)]
    files.append(("hoc-ba-hong.pdf", b"this is not a PDF"))
    accepted = _submit(stack_info, token, "lop-10a1-hk1-2026", files, level="B-T")
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["batch_id"]
    assert accepted.json()["total"] == 41

    status = _wait(stack_info, token, batch_id)
    assert status["status"] == "completed"
    assert (status["signed"], status["failed"], status["pending"]) == (40, 1, 0)
    broken = status["documents"][40]
    assert (broken["id"], broken["status"], broken["error"]) == (
        "hoc-ba-hong.pdf",
        "failed",
        "invalid-pdf",
    )

    signed = httpx.get(
        f"{stack_info.signing_url}/v1/batches/{batch_id}/documents/7",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert signed.status_code == 200
    report = httpx.post(
        f"{stack_info.signing_url}/v1/documents:verify",
        content=signed.content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        timeout=30,
    ).json()
    assert report["indication"] == "TOTAL_PASSED"

    time.sleep(1)
    events = _batch_sign_events(stack_info, client_token("audit-reports"), batch_id)
    assert sorted(int(e["target"]["index"]) for e in events) == list(range(40))

    # The same key again: the same batch, nothing new signed.
    again = _submit(stack_info, token, "lop-10a1-hk1-2026", files[:2])
    assert again.status_code == 200
    assert again.json()["batch_id"] == batch_id
    assert again.json()["total"] == 41

    # Another client cannot see it.
    other = httpx.get(
        f"{stack_info.signing_url}/v1/batches/{batch_id}",
        headers={"Authorization": f"Bearer {client_token('demo-verify-portal')}"},
        timeout=10,
    )
    assert other.status_code == 404


def test_batch_without_idempotency_key_or_files_is_refused(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    token = client_token("demo-eoffice")
    no_key = httpx.post(
        f"{stack_info.signing_url}/v1/batches",
        files=[("documents", ("a.pdf", b"%PDF-1.7", "application/pdf"))],
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert no_key.status_code == 422
    empty = _submit(stack_info, token, "empty-batch-0001", [])
    assert empty.status_code == 422


def test_service_crash_mid_batch_resumes_and_signs_each_document_once(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    token = client_token("demo-eoffice")
    total = 300
    files = [(f"hs-{i:03d}.pdf", demo_pdf) for i in range(total)]
    batch_id = _submit(stack_info, token, "truong-abc-2026-crash", files).json()["batch_id"]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        signed = httpx.get(
            f"{stack_info.signing_url}/v1/batches/{batch_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["signed"]
        if signed >= 20:
            break
        time.sleep(0.05)
    assert 20 <= signed < total, "the batch finished before the crash could be injected"

    service = ManagedProcess("signing", stack.folder)
    pid = service.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # a crash: no shutdown, no cleanup
    time.sleep(0.5)
    assert not service.running()
    stack.up()  # brings back only what is down: the signing service

    status = _wait(stack_info, token, batch_id, timeout=180)
    assert status["status"] == "completed"
    assert (status["signed"], status["failed"]) == (total, 0)

    time.sleep(1)
    events = _batch_sign_events(stack_info, client_token("audit-reports"), batch_id)
    indexes = [int(e["target"]["index"]) for e in events]
    assert sorted(indexes) == list(range(total)), "every document audited exactly once"
    outputs = {e["target"]["signed_sha256"] for e in events}
    recorded = {d["signed_sha256"] for d in status["documents"]}
    assert outputs == recorded, "the audited signature is the one delivered"
