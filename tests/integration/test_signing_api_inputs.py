"""The signing API against bad input and a missing audit path (real Keycloak, token and Redis)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from devstack import Stack, StackInfo
from signing_service import create_app
from tests.conftest import TokenFactory, free_port
from tests.signing_app import app_settings

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm]


def _post(
    info: StackInfo, token: str, content: bytes, media: str = "application/pdf"
) -> httpx.Response:
    return httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": media},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("content", "media", "status", "code"),
    [
        (b"not a pdf at all", "application/pdf", 422, "invalid-pdf"),
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "application/pdf", 422, "invalid-pdf"),
        (b"%PDF-1.7", "text/html", 415, "unsupported-media-type"),
    ],
    ids=["not-pdf", "truncated", "wrong-media-type"],
)
def test_bad_uploads_get_a_clear_4xx(
    stack_info: StackInfo,
    client_token: TokenFactory,
    content: bytes,
    media: str,
    status: int,
    code: str,
) -> None:
    response = _post(stack_info, client_token("demo-eoffice"), content, media)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["message"] and body["message_en"]


@pytest.mark.parametrize(
    ("client", "path", "params", "headers"),
    [
        # no Idempotency-Key, a bad level: still 403 for a client that may only verify
        ("demo-verify-portal", "/v1/batches", {"level": "B-Z"}, {}),
        ("demo-verify-portal", "/v1/documents:sign", {"level": "B-Z", "page": "x"}, {}),
        ("audit-report-signer", "/v1/documents:verify", {}, {"Content-Type": "text/plain"}),
    ],
    ids=["batches", "sign", "verify"],
)
def test_a_caller_without_the_role_gets_403_before_any_validation(
    stack_info: StackInfo,
    client_token: TokenFactory,
    client: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
) -> None:
    """Authorisation runs before validation: a client without the ``sign`` (or ``verify``) role
    learns nothing about what a valid request looks like."""
    response = httpx.post(
        f"{stack_info.signing_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {client_token(client)}", **headers},
        timeout=30,
    )
    assert response.status_code == 403, response.text


def test_unknown_level_is_a_422_naming_the_field(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        params={"level": "B-X"},
        content=demo_pdf,
        headers={
            "Authorization": f"Bearer {client_token('demo-eoffice')}",
            "Content-Type": "application/pdf",
        },
        timeout=30,
    )
    assert response.status_code == 422
    assert "level" in response.json()["detail"]


def test_oversized_upload_is_refused_before_it_is_read_whole(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    app = create_app(app_settings(stack, stack_info, max_document_bytes=64 * 1024))

    def body() -> object:
        # 100 MiB announced by streaming, no Content-Length: the service must stop reading early.
        chunk = b"%PDF-1.7\n" + b"0" * (1024 * 1024 - 9)
        for _ in range(100):
            yield chunk

    with TestClient(app) as client:
        response = client.post(
            "/v1/documents:sign",
            content=body(),  # type: ignore[arg-type]
            headers={
                "Authorization": f"Bearer {client_token('demo-eoffice')}",
                "Content-Type": "application/pdf",
            },
        )
    assert response.status_code == 413
    assert response.json()["code"] == "document-too-large"


def test_signing_fails_closed_when_no_audit_path_can_record(
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    demo_pdf: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Redis is down and the spool cannot be written (its folder would sit under a regular file).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(
        app_settings(stack, stack_info, redis_url=dead_redis, audit_spool_dir=blocker / "spool")
    )
    token = client_token("demo-eoffice")
    with TestClient(app) as client:
        response = client.post(
            "/v1/documents:sign",
            content=demo_pdf,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "audit-unavailable"
    assert b"%PDF" not in response.content
    logs = capsys.readouterr().out
    assert token not in logs
    assert stack.secrets.get("hsm:user-pin") not in logs
    events = [json.loads(line).get("event") for line in logs.splitlines() if line.startswith("{")]
    assert "audit.record_failed" in events and "audit.spool_failed" in events


def test_events_spooled_while_redis_is_down_reach_the_audit_log_later(
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    demo_pdf: bytes,
    tmp_path: Path,
) -> None:
    import asyncio

    import redis.asyncio as redis_async

    from audit import RedisAuditTrail
    from audit.producers import HmacSealer, Producer, decode_key
    from audit.spool import SpoolingAuditTrail

    spool = tmp_path / "spool"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    pending = tmp_path / "document-records.pending"
    app = create_app(
        app_settings(
            stack,
            stack_info,
            redis_url=dead_redis,
            audit_spool_dir=spool,
            record_spool_path=pending,
        )
    )
    token = client_token("demo-eoffice")
    with TestClient(app) as client:
        response = client.post(
            "/v1/documents:sign",
            content=demo_pdf,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
    assert response.status_code == 200  # the spool is an audit path: signing goes on
    [spool_file] = list(spool.glob("spool-*.jsonl"))
    spooled = spool_file.read_text()
    assert response.headers["x-document-sha256"] in spooled
    assert token not in spooled

    async def replay() -> int:
        client = redis_async.Redis.from_url(
            stack_info.redis_url, username="signing", password=stack.redis_password("signing")
        )
        sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
        try:
            return await SpoolingAuditTrail(RedisAuditTrail(client, sealer), spool).replay_once()
        finally:
            await client.aclose()

    assert asyncio.run(replay()) == 1
    assert not list(spool.glob("spool-*.jsonl")) and not list(spool.glob("replaying-*.jsonl"))
    reader = {"Authorization": f"Bearer {client_token('audit-reports')}"}
    deadline = time.monotonic() + 10
    events: list[dict[str, object]] = []
    while not events and time.monotonic() < deadline:
        events = httpx.get(
            f"{stack_info.audit_url}/v1/events",
            params={"correlation_id": response.headers["x-request-id"]},
            headers=reader,
            timeout=10,
        ).json()["events"]
        time.sleep(0.2)
    assert [e["tag"] for e in events] == ["signing:document:sign"]

    # The record for its QR code waited on disk too; the next signature, with Redis back, stores
    # it first, and the public page shows it.
    reference = response.headers["x-document-reference"]
    assert reference in pending.read_text()
    back = create_app(app_settings(stack, stack_info, record_spool_path=pending))
    with TestClient(back) as client:
        again = client.post(
            "/v1/documents:sign",
            content=demo_pdf,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
        assert again.status_code == 200, again.text
        page = client.get("/verify", params={"ref": reference})
    assert 'id="record-status"' in page.text and response.headers["x-document-sha256"] in page.text
    assert not pending.exists()


def test_without_its_audit_key_in_the_token_the_service_does_not_start(
    stack: Stack, stack_info: StackInfo
) -> None:
    """Fail closed, and say why, at start: not a 503 on every audited request afterwards."""
    from audit.producers import ProducerKeyError

    app = create_app(app_settings(stack, stack_info, audit_mac_key_label="no-such-key"))
    with pytest.raises(ProducerKeyError, match="no-such-key"), TestClient(app):
        pass
