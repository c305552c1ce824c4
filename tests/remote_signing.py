"""Helpers of the remote-signing tests: pair a device, approve from it, sign with pyHanko's CSC client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

import aiohttp
import httpx
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

from tests.conftest import AlertInbox
from tests.soft_authenticator import SoftAuthenticator


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def enrol(base: str, token: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/credentials", headers=bearer(token), timeout=30)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def pair(base: str, token: str, authenticator: SoftAuthenticator) -> None:
    """Pair ``authenticator`` for the token's person (a token of a second-factor login)."""
    response = httpx.post(f"{base}/v1/devices:pair", headers=bearer(token), timeout=10)
    assert response.status_code == 200, response.text
    answer = register_on_pairing_page(base, response.json()["pairing_url"], authenticator)
    assert answer.status_code == 201, answer.text


def register_on_pairing_page(
    base: str, pairing_url: str, authenticator: SoftAuthenticator, label: str = "test phone"
) -> httpx.Response:
    """What the phone does on the pairing page: ask for the options, create the passkey, send it."""
    code = pairing_url.rsplit("/", 1)[1]
    options = httpx.post(f"{base}/approve/pair/{code}/options", timeout=10).json()
    return httpx.post(
        f"{base}/approve/pair/{code}",
        json={"credential": authenticator.create(options), "label": label},
        timeout=10,
    )


def next_approval(inbox: AlertInbox, seen: int, timeout: float = 30) -> dict[str, Any]:
    """The next approval announcement after the first ``seen`` ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approvals = [m for m in inbox.received if m.get("kind") == "signing-approval"]
        if len(approvals) > seen:
            return approvals[seen]
        time.sleep(0.05)
    raise AssertionError("no approval request was announced")


def approvals_seen(inbox: AlertInbox) -> int:
    return sum(1 for m in inbox.received if m.get("kind") == "signing-approval")


class Approver:
    """Stands for the signer's phone: answers the next approval request in a thread."""

    def __init__(
        self,
        base: str,
        inbox: AlertInbox,
        decide: Callable[[str, dict[str, Any]], httpx.Response],
    ) -> None:
        self.base = base
        self.inbox = inbox
        self.decide = decide
        self.seen = approvals_seen(inbox)
        self.response: httpx.Response | None = None
        self.announcement: dict[str, Any] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.announcement = next_approval(self.inbox, self.seen)
        approval_id = self.announcement["url"].rsplit("/", 1)[1]
        options = httpx.post(f"{self.base}/approve/{approval_id}/options", timeout=10).json()
        self.response = self.decide(approval_id, options)

    def __enter__(self) -> Approver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=60)


def approve_with(base: str, authenticator: SoftAuthenticator) -> Callable[..., httpx.Response]:
    def decide(approval_id: str, options: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{base}/approve/{approval_id}", json=authenticator.get(options), timeout=10
        )

    return decide


class _Authorize(CSCAuthorizationManager):
    """pyHanko's authorization hook: one ``credentials/authorize`` per batch of hashes."""

    def __init__(self, session: aiohttp.ClientSession, *args: Any) -> None:
        super().__init__(*args)
        self.session = session

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        request = self.format_csc_auth_request(hash_b64s=hash_b64s, description="Học bạ 10A1")
        async with self.session.post(
            self.csc_session_info.endpoint_url("credentials/authorize"),
            json=request,
            headers=self.auth_headers,
            timeout=aiohttp.ClientTimeout(total=150),
        ) as response:
            response.raise_for_status()
            return self.parse_csc_auth_response(await response.json())


def csc_sign_pdf(base: str, token: str, credential_id: str, pdf: bytes) -> bytes:
    """Sign ``pdf`` through the service's CSC API with pyHanko's own CSC client."""

    async def run() -> bytes:
        async with aiohttp.ClientSession() as session:
            info = CSCServiceSessionInfo(
                service_url=base, credential_id=credential_id, oauth_token=token, api_ver="v2"
            )
            credential = await fetch_certs_in_csc_credential(session, info)
            signer = CSCSigner(session, _Authorize(session, info, credential))
            writer = IncrementalPdfFileWriter(BytesIO(pdf))
            output = await signers.async_sign_pdf(
                writer, signers.PdfSignatureMetadata(field_name="GiaoVienChuNhiem"), signer=signer
            )
            signed: bytes = output.getvalue()
            return signed

    return asyncio.run(run())
