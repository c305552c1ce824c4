"""The first whole journey: an app gets a token, signs a PDF with the token-held key, verifies it, and
both operations are found in the audit log. Real Keycloak, Redis, SoftHSM2, PKI and services."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from devstack import StackInfo
from tests.audit_events import wait_for_events
from tests.conftest import TokenFactory

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm, pytest.mark.pki]


def _wait_for_events(
    info: StackInfo, token: str, correlation_id: str, *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    return wait_for_events(info, token, timeout=timeout, correlation_id=correlation_id)


def test_signed_and_verified_document_is_in_the_audit_log(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    app_token = client_token("demo-eoffice")
    headers = {"Authorization": f"Bearer {app_token}", "Content-Type": "application/pdf"}

    signed = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        params={"level": "B-T", "reason": "Duyệt học bạ"},
        content=demo_pdf,
        headers=headers,
        timeout=30,
    )
    assert signed.status_code == 200, signed.text
    assert signed.headers["content-type"] == "application/pdf"
    assert signed.content.startswith(b"%PDF-")
    assert len(signed.content) > len(demo_pdf)
    sign_request_id = signed.headers["x-request-id"]

    verified = httpx.post(
        f"{stack_info.signing_url}/v1/documents:verify",
        content=signed.content,
        headers=headers,
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    report = verified.json()
    assert report["indication"] == "TOTAL_PASSED"
    [signature] = report["signatures"]
    assert signature["intact"] and signature["valid"] and signature["trusted"]
    assert signature["timestamped"] is True
    assert "Dấu cơ quan" in signature["signer"]

    reader_token = client_token("audit-reports")
    sign_events = _wait_for_events(stack_info, reader_token, sign_request_id)
    assert [e["tag"] for e in sign_events] == ["signing:document:sign"]
    sign_event = sign_events[0]
    assert sign_event["actor"]["name"] == "client:demo-eoffice"
    assert sign_event["outcome"] == "success"
    assert sign_event["target"]["signed_sha256"] == signed.headers["x-document-sha256"]
    assert sign_event["target"]["level"] == "B-T"

    verify_events = _wait_for_events(stack_info, reader_token, verified.headers["x-request-id"])
    assert [e["tag"] for e in verify_events] == ["signing:document:verify"]
    assert verify_events[0]["target"]["indication"] == "TOTAL_PASSED"

    chain = httpx.get(
        f"{stack_info.audit_url}/v1/chain",
        headers={"Authorization": f"Bearer {reader_token}"},
        timeout=10,
    )
    assert chain.json()["status"] == "intact"
    assert chain.json()["verified_records"] >= 2


def test_document_changed_after_signing_is_total_failed(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    headers = {
        "Authorization": f"Bearer {client_token('demo-eoffice')}",
        "Content-Type": "application/pdf",
    }
    signed = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign", content=demo_pdf, headers=headers, timeout=30
    ).content
    # Change a grade inside the signed byte range: "10A1" becomes "10A2".
    position = signed.index(b"10A1")
    tampered = signed[:position] + b"10A2" + signed[position + 4 :]
    report = httpx.post(
        f"{stack_info.signing_url}/v1/documents:verify",
        content=tampered,
        headers=headers,
        timeout=30,
    ).json()
    assert report["indication"] == "TOTAL_FAILED"
    assert report["subindication"] == "HASH_FAILURE"


def test_call_without_token_is_refused(stack_info: StackInfo, demo_pdf: bytes) -> None:
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={"Content-Type": "application/pdf"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid-token"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_token_from_another_realm_is_refused(
    stack: Any, stack_info: StackInfo, demo_pdf: bytes
) -> None:
    # A genuine Keycloak token, but from the master realm: another issuer, other keys.
    master = httpx.post(
        f"{stack_info.keycloak_url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": stack.secrets.get("keycloak:admin"),
        },
        timeout=10,
    )
    master.raise_for_status()
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={
            "Authorization": f"Bearer {master.json()['access_token']}",
            "Content-Type": "application/pdf",
        },
        timeout=10,
    )
    assert response.status_code == 401


def test_forged_token_with_the_right_issuer_is_refused(
    stack_info: StackInfo, demo_pdf: bytes
) -> None:
    key = RSAKey.generate_key(2048)
    now = int(time.time())
    forged = jwt.encode(
        {"alg": "RS256", "kid": "forged"},
        {
            "iss": stack_info.issuer,
            "aud": ["signing-service"],
            "sub": "attacker",
            "azp": "demo-eoffice",
            "iat": now,
            "exp": now + 300,
            "typ": "Bearer",
            "resource_access": {"signing-service": {"roles": ["sign"]}},
        },
        key,
    )
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={"Authorization": f"Bearer {forged}", "Content-Type": "application/pdf"},
        timeout=10,
    )
    assert response.status_code == 401


def test_client_without_the_signing_audience_is_refused(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    # audit-reports has no role on signing-service, so its token does not name that audience.
    token = client_token("audit-reports")
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        timeout=10,
    )
    assert response.status_code == 401


def test_client_with_verify_role_only_cannot_sign_and_the_refusal_is_audited(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    token = client_token("demo-verify-portal")
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        timeout=10,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    events = _wait_for_events(
        stack_info, client_token("audit-reports"), response.headers["x-request-id"]
    )
    assert [e["tag"] for e in events] == ["signing:request:refused"]
    assert events[0]["outcome"] == "failure"
    assert events[0]["actor"]["client_id"] == "demo-verify-portal"
