"""Batch signing through the real service: a class at once, idempotent resubmission, and a crash of
the service mid-batch that ends with every document signed exactly once."""

from __future__ import annotations

import html
import os
import signal
import time
from typing import Any

import httpx
import pytest

from devstack import Stack, StackInfo
from devstack.demo import transcript_pdf
from devstack.process import ManagedProcess
from tests.conftest import TokenFactory
from tests.pdf_inspection import annotation_texts, qr_codes_drawn

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

    # The same key with the same request again: the same batch, nothing new signed.
    again = _submit(stack_info, token, "lop-10a1-hk1-2026", files, level="B-T")
    assert again.status_code == 200
    assert again.json()["batch_id"] == batch_id
    assert again.json()["total"] == 41
    # The same key with other files, or other options: refused, never the old batch.
    for other_files, params in ((files[:2], {"level": "B-T"}), (files, {"level": "B-B"})):
        reused = _submit(stack_info, token, "lop-10a1-hk1-2026", other_files, **params)
        assert reused.status_code == 422, reused.text
        assert reused.json()["code"] == "idempotency-key-reused"
        assert "different batch" in reused.json()["message_en"]

    # Past the end: it does not exist (not "not signed yet").
    missing = httpx.get(
        f"{stack_info.signing_url}/v1/batches/{batch_id}/documents/41",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]
    failed = httpx.get(
        f"{stack_info.signing_url}/v1/batches/{batch_id}/documents/40",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert failed.status_code == 409
    assert failed.json()["detail"] == "document 40 is failed"

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
    assert no_key.status_code == 400
    assert no_key.json()["code"] == "idempotency-key-required"
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


def test_visible_stamps_on_a_batch_each_point_at_their_own_document(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    """Every option of single signing works on a batch: ``visible=true`` stamps each document,
    the stamp naming the organisation's seal and its QR link that document's own reference."""
    token = client_token("demo-eoffice")
    files = [(f"giay-khen-{i}.pdf", transcript_pdf([f"GIAY KHEN {i}"])) for i in range(3)]
    accepted = _submit(
        stack_info,
        token,
        "giay-khen-visible-2026",
        files,
        level="B-T",
        visible="true",
    )
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["batch_id"]
    status = _wait(stack_info, token, batch_id)
    assert (status["signed"], status["failed"]) == (3, 0), status
    references = [d["reference"] for d in status["documents"]]
    assert len(set(references)) == 3
    # The service's public address (what its stamps link to) names the host "localhost".
    bases = {stack_info.signing_url, stack_info.signing_url.replace("127.0.0.1", "localhost")}
    urls = [f"{base}/verify?ref={reference}" for base in bases for reference in references]
    for index, reference in enumerate(references):
        signed = httpx.get(
            f"{stack_info.signing_url}/v1/batches/{batch_id}/documents/{index}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).content
        [text] = annotation_texts(signed)
        assert "Dấu cơ quan / Organisation seal" in text and "Đơn vị" not in text
        drawn = qr_codes_drawn(signed, urls)
        assert len(drawn) == 1 and drawn[0].endswith(f"/verify?ref={reference}"), drawn
    events = _batch_sign_events(stack_info, client_token("audit-reports"), batch_id)
    assert sorted(e["target"]["reference"] for e in events) == sorted(references)


def test_each_document_of_a_batch_keeps_its_own_title(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """The record a batch keeps of each document (what a paper copy's QR code shows) holds that
    document's own title, read when the batch was uploaded; a document without one shows none."""
    token = client_token("demo-eoffice")
    titles = ["Học bạ — Nguyễn Văn An", "Học bạ — Lê Thị Bình", None]
    files = [
        (f"hoc-ba-{i}.pdf", transcript_pdf([f"HOC BA {i}"], title=title))
        for i, title in enumerate(titles)
    ]
    accepted = _submit(stack_info, token, "hoc-ba-titles-2026", files, level="B-B")
    assert accepted.status_code == 202, accepted.text
    status = _wait(stack_info, token, accepted.json()["batch_id"])
    assert (status["signed"], status["failed"]) == (3, 0), status
    pages = [
        httpx.get(
            f"{stack_info.signing_url}/verify", params={"ref": d["reference"]}, timeout=10
        ).text
        for d in status["documents"]
    ]
    for index, (page, title) in enumerate(zip(pages, titles, strict=True)):
        others = [t for t in titles if t and t != title]
        assert title is None or html.escape(title) in page, index
        assert not any(html.escape(other) in page for other in others), index


def test_batch_options_that_single_signing_refuses_are_refused(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    token = client_token("demo-eoffice")
    titled = _submit(
        stack_info,
        token,
        "titled-batch-2026",
        [("a.pdf", demo_pdf)],
        visible="true",
        title="Hiệu trưởng",
    )
    assert titled.status_code == 422
    assert titled.json()["code"] == "stamp-title-not-accepted"
