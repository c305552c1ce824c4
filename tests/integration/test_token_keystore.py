"""The SoftHSM2 token: keys are generated inside, cannot be extracted, and sign CSRs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509
from pkcs11 import Attribute, KeyType, ObjectClass

from devstack import Stack, softhsm
from devstack.stack import SEAL_KEY, TOKEN_LABEL
from gateway_runtime.keystore import TokenKeystore, TokenUnavailable

pytestmark = pytest.mark.softhsm


@pytest.fixture
def keystore(stack: Stack) -> Iterator[TokenKeystore]:
    store = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    yield store
    store.close()


def test_seal_key_is_sensitive_and_not_extractable(keystore: TokenKeystore) -> None:
    key = keystore.session().get_key(
        object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=SEAL_KEY
    )
    assert key[Attribute.SENSITIVE] is True
    assert key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.NEVER_EXTRACTABLE] is True


def test_certificate_request_is_signed_in_the_token(keystore: TokenKeystore) -> None:
    der = keystore.certificate_request(SEAL_KEY, {"common_name": "Trường THPT Chu Văn An"})
    request = x509.load_der_x509_csr(der)
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=Trường THPT Chu Văn An"


def test_wrong_pin_is_a_clear_error(stack: Stack) -> None:
    store = TokenKeystore(module=softhsm.module_path(), token_label=TOKEN_LABEL, user_pin="0000")
    with pytest.raises(TokenUnavailable) as info:
        store.session()
    assert "0000" not in str(info.value.envelope())


def test_signing_with_a_missing_key_is_a_clear_error(keystore: TokenKeystore) -> None:
    with pytest.raises(TokenUnavailable) as info:
        keystore.sign("no-such-key", b"data")
    assert info.value.code == "key-store-unavailable"
    assert keystore.has_key(SEAL_KEY)  # the keystore still works afterwards
