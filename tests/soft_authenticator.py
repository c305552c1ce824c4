"""A software WebAuthn authenticator (P-256, attestation "none") for tests without a browser.

It produces exactly what a phone's passkey sends: attestation objects, authenticator data, client data
and ECDSA signatures, so the service's real verification (py_webauthn) judges them. The browser test
uses Chromium's own virtual authenticator instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_UP, _UV, _AT = 0x01, 0x04, 0x40


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, origin: str, *, user_verified: bool = True) -> None:
        self.origin = origin
        self.user_verified = user_verified
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0

    def _auth_data(self, rp_id: str, attested: bool) -> bytes:
        flags = _UP | (_UV if self.user_verified else 0) | (_AT if attested else 0)
        self.counter += 1
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
        data += self.counter.to_bytes(4, "big")
        if attested:
            numbers = self.key.public_key().public_numbers()
            cose = cbor2.dumps(
                {
                    1: 2,
                    3: -7,
                    -1: 1,
                    -2: numbers.x.to_bytes(32, "big"),
                    -3: numbers.y.to_bytes(32, "big"),
                }
            )
            data += bytes(16) + len(self.credential_id).to_bytes(2, "big")
            data += self.credential_id + cose
        return data

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """Answer ``navigator.credentials.create`` options (JSON form)."""
        auth_data = self._auth_data(options["rp"]["id"], attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {
            "id": _b64url(self.credential_id),
            "rawId": _b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "attestationObject": _b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(self, options: dict[str, Any], *, challenge: str | None = None) -> dict[str, Any]:
        """Answer ``navigator.credentials.get`` options; ``challenge`` overrides (to forge)."""
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        assert _b64url(self.credential_id) in allowed, "this authenticator is not allowed"
        auth_data = self._auth_data(options["rpId"], attested=False)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"])
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": _b64url(self.credential_id),
            "rawId": _b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": _b64url(client_data),
                "authenticatorData": _b64url(auth_data),
                "signature": _b64url(signature),
                "userHandle": None,
            },
        }


def other_challenge() -> str:
    return _b64url(secrets.token_bytes(32))


__all__ = ["SoftAuthenticator", "_unb64url", "other_challenge"]
