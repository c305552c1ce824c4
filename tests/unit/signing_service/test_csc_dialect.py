"""The CSC wire format, v2 and pyHanko's v1 names, mapped in one place."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from signing_service.csc import KEY_ALGORITHMS, RSA_ENCRYPTION, CscDialect
from signing_service.errors import InvalidCscRequest

SHA256 = "2.16.840.1.101.3.4.2.1"
SHA384 = "2.16.840.1.101.3.4.2.2"
SHA256_RSA = "1.2.840.113549.1.1.11"
DIALECT = CscDialect(max_hashes=3)


def _h(text: str, algorithm: str = "sha256") -> str:
    return base64.b64encode(hashlib.new(algorithm, text.encode()).digest()).decode()


def test_v1_and_v2_sign_hash_requests_mean_the_same() -> None:
    v1 = DIALECT.sign_hash_request(
        {
            "credentialID": "c",
            "SAD": "s",
            "hash": [_h("a")],
            "hashAlgo": SHA256,
            "signAlgo": SHA256_RSA,
        }
    )
    v2 = DIALECT.sign_hash_request(
        {
            "credentialID": "c",
            "SAD": "s",
            "hashes": [_h("a")],
            "hashAlgorithmOID": SHA256,
            "signAlgo": RSA_ENCRYPTION,
            "operationMode": "S",
        }
    )
    assert v1 == v2
    assert v1.digests == [hashlib.sha256(b"a").digest()]


def test_a_full_signature_oid_implies_the_digest() -> None:
    request = DIALECT.sign_hash_request(
        {"credentialID": "c", "SAD": "s", "hash": [_h("a")], "signAlgo": SHA256_RSA}
    )
    assert request.hash_algorithm == SHA256


def test_authorize_infers_the_digest_from_its_size_for_v1_clients() -> None:
    request = DIALECT.authorize_request(
        {"credentialID": "c", "numSignatures": 1, "hash": [_h("a", "sha384")]}
    )
    assert request.hash_algorithm == SHA384


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"credentialID": "c", "SAD": "s", "hash": [_h("a")], "signAlgo": RSA_ENCRYPTION},
            "hashAlgorithmOID is required",
        ),
        (
            {
                "credentialID": "c",
                "SAD": "s",
                "hash": [_h("a")],
                "signAlgo": SHA256_RSA,
                "hashAlgo": SHA384,
            },
            "different digests",
        ),
        (
            {"credentialID": "c", "SAD": "s", "hash": [_h("a")], "signAlgo": "1.2.840.10045.4.3.2"},
            "not offered",
        ),
        (
            {
                "credentialID": "c",
                "SAD": "s",
                "hash": [_h("a")],
                "signAlgo": SHA256_RSA,
                "operationMode": "A",
            },
            "operationMode",
        ),
        (
            {"credentialID": "c", "SAD": "s", "hash": [_h("a", "sha384")], "signAlgo": SHA256_RSA},
            "32 bytes",
        ),
        (
            {
                "credentialID": "c",
                "SAD": "s",
                "hash": [_h(str(i)) for i in range(4)],
                "signAlgo": SHA256_RSA,
            },
            "at most 3",
        ),
        ({"credentialID": "c", "SAD": 7, "hash": [_h("a")], "signAlgo": SHA256_RSA}, "SAD"),
        ({"credentialID": "c", "SAD": "s", "hash": "abc", "signAlgo": SHA256_RSA}, "hashes"),
        (
            {
                "credentialID": "c",
                "SAD": "s",
                "hash": [_h("a")],
                "signAlgo": SHA256_RSA,
                "signAlgoParams": "AA==",
            },
            "signAlgoParams",
        ),
    ],
)
def test_bad_sign_hash_requests_name_the_problem(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidCscRequest) as error:
        DIALECT.sign_hash_request(body)
    assert reason in str(error.value.detail)
    assert error.value.oauth_error == "invalid_request"


def test_list_refuses_another_users_id() -> None:
    with pytest.raises(InvalidCscRequest):
        DIALECT.list_request({"userID": "someone-else"}, owner="me")
    assert DIALECT.list_request({"userID": "me"}, owner="me").certificates == "single"


def test_info_lists_full_signature_oids_for_pyhanko() -> None:
    from asn1crypto import algos

    names = {algos.SignedDigestAlgorithmId(oid).native for oid in KEY_ALGORITHMS}
    assert {"sha256_rsa", "sha384_rsa", "sha512_rsa", "rsassa_pkcs1v15"} == names
