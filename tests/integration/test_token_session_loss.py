"""A token that ends its sessions does not break what uses it.

An HSM that restarts, fails over or is reconnected forgets every session opened on it; the service's
next operation on the old session gets CKR_SESSION_HANDLE_INVALID. Here SoftHSM2's library is
re-initialised in this process, which ends every session the process holds on it, the way the HSM
would. What was broken: the keystore kept the dead session, so every later signature, audit seal and
checkpoint failed (503) until the service was restarted, while ``/health`` said the key store was up
(it looked at the kept session object, not at the token).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient
from pkcs11.exceptions import SessionHandleInvalid
from pyhanko.pdf_utils.reader import PdfFileReader

from devstack import Stack, StackInfo, softhsm
from devstack.stack import SEAL_KEY, TOKEN_LABEL
from gateway_runtime.keystore import TokenKeystore, TokenUnavailable
from signing_service import create_app
from signing_service.keystore import TokenGate, token_key_signer
from tests.conftest import TokenFactory
from tests.signing_app import app_settings, der_certificate

pytestmark = [
    pytest.mark.keycloak,
    pytest.mark.softhsm,
    pytest.mark.pki,
    pytest.mark.redis,
    # python-pkcs11 ends a search whose session is gone in the search's __del__, which raises
    # there (CKR_SESSION_HANDLE_INVALID, printed and ignored): the library's way, not a defect.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _token_ends_every_session() -> None:
    pkcs11.lib(str(softhsm.module_path())).reinitialize()


@pytest.fixture
def keystore(stack: Stack) -> Iterator[TokenKeystore]:
    store = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    yield store
    store.close()


def _verify_rsa(keystore: TokenKeystore, signature: bytes, data: bytes) -> None:
    public = serialization.load_der_public_key(keystore.public_key(SEAL_KEY).dump())
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_the_keystore_signs_on_a_new_session_after_the_token_ended_its_own(
    keystore: TokenKeystore,
) -> None:
    before = keystore.sign(SEAL_KEY, b"before")
    _token_ends_every_session()
    after = keystore.sign(SEAL_KEY, b"after")  # was: TokenUnavailable, for good
    _verify_rsa(keystore, before, b"before")
    _verify_rsa(keystore, after, b"after")
    _token_ends_every_session()
    assert keystore.has_key(SEAL_KEY)
    _token_ends_every_session()
    keystore.close()  # a session the token ended closes quietly


def test_a_key_is_never_created_twice_across_a_lost_session(keystore: TokenKeystore) -> None:
    """Creating an object is not made again on the new session (the first attempt may have
    created it): the error stands, and the next operation uses the new session."""
    label = f"session-loss-{secrets.token_hex(4)}"
    assert not keystore.has_key(label)
    _token_ends_every_session()
    with pytest.raises(SessionHandleInvalid):
        keystore.generate_rsa_key(label)
    assert not keystore.has_key(label)
    keystore.generate_rsa_key(label)
    assert keystore.has_key(label)


@pytest.fixture(scope="module")
def client(stack: Stack, stack_info: StackInfo) -> Iterator[TestClient]:
    """The signing service in this process: its token sessions are this process's."""
    with TestClient(create_app(app_settings(stack, stack_info))) as test_client:
        yield test_client


def test_the_service_signs_and_seals_its_audit_events_after_the_token_ended_its_session(
    client: TestClient, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    headers = {
        "Authorization": f"Bearer {client_token('demo-eoffice')}",
        "Content-Type": "application/pdf",
    }
    assert client.post("/v1/documents:sign", content=demo_pdf, headers=headers).status_code == 200
    _token_ends_every_session()
    # The document signer (pyHanko's PKCS#11 signer holds the session and the key's handle) and
    # the audit events' seal (HMAC in the token) both go on; the event is recorded, or the
    # signature would be refused (the audit trail fails closed).
    signed = client.post("/v1/documents:sign", content=demo_pdf, headers=headers)
    assert signed.status_code == 200, signed.text
    assert len(PdfFileReader(BytesIO(signed.content)).embedded_signatures) == 1
    report = client.post("/v1/documents:verify", content=signed.content, headers=headers)
    assert report.json()["indication"] == "TOTAL_PASSED", report.text
    _token_ends_every_session()
    health = client.get("/health/live")  # asks the token, on a new session
    assert (health.status_code, health.json()["key_store"]) == (200, "up"), health.text
    assert client.post("/v1/documents:sign", content=demo_pdf, headers=headers).status_code == 200


def test_a_key_the_token_does_not_show_is_the_tokens_failure_not_an_internal_error(
    keystore: TokenKeystore, stack_info: StackInfo
) -> None:
    """A person's key that the token does not show (seen twice in tests: one signing process did
    not find the key another had just made) is looked up again on a new session, then refused as
    the token's failure (503 key-store-unavailable), not left to pyHanko's PKCS11Error (500)."""
    seal = der_certificate(Path(stack_info.seal_certificate))
    gate = TokenGate(keystore)
    with pytest.raises(TokenUnavailable, match="person-0000"):
        token_key_signer(gate, "person-" + "0" * 32, seal, [])
    assert TokenUnavailable.status_code == 503
    assert token_key_signer(gate, SEAL_KEY, seal, []).signing_cert.dump() == seal.dump()
