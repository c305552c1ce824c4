"""The PKCS#11 token that holds the gateway's signing keys.

Contract: private keys are generated inside the token and never leave it. This module hands out only
public keys, certificate signing requests signed inside the token, and pyHanko signers that call the
token for each signature. A PIN is taken as a secret and never logged.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from pathlib import Path
from typing import Any

import pkcs11
import structlog
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.util.rsa import encode_rsa_public_key
from pyhanko.sign.pkcs11 import PKCS11Signer

from signing_service.errors import TokenUnavailable

_log = structlog.get_logger(__name__)


class TokenKeystore:
    """One logged-in session with one token, shared by the service's signers under a lock."""

    def __init__(self, *, module: Path, token_label: str, user_pin: str) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = user_pin
        self._session: Any = None
        self.lock = threading.RLock()

    def session(self) -> Any:
        with self.lock:
            if self._session is None:
                try:
                    lib = pkcs11.lib(str(self._module))
                    token = lib.get_token(token_label=self._token_label)
                    self._session = token.open(rw=True, user_pin=self._pin)
                except (PKCS11Error, RuntimeError, OSError) as exc:
                    _log.error(
                        "keystore.open_failed", token=self._token_label, error=type(exc).__name__
                    )
                    raise TokenUnavailable(f"token {self._token_label!r}") from exc
            return self._session

    def close(self) -> None:
        with self.lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def has_key(self, label: str) -> bool:
        with self.lock:
            found = list(
                self.session().get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
                )
            )
        return bool(found)

    def generate_rsa_key(self, label: str, bits: int = 2048) -> asn1_keys.PublicKeyInfo:
        """Generate a non-extractable RSA key pair in the token; return its public key."""
        with self.lock:
            public, _private = self.session().generate_keypair(
                KeyType.RSA,
                bits,
                label=label,
                id=label.encode(),
                store=True,
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            )
            return self._public_key_info(public)

    def public_key(self, label: str) -> asn1_keys.PublicKeyInfo:
        with self.lock:
            public = self.session().get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.RSA, label=label
            )
            return self._public_key_info(public)

    @staticmethod
    def _public_key_info(public: Any) -> asn1_keys.PublicKeyInfo:
        rsa = asn1_keys.RSAPublicKey.load(encode_rsa_public_key(public))
        return asn1_keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": rsa})

    def certificate_request(self, label: str, subject: dict[str, str]) -> bytes:
        """A PKCS#10 request for the key ``label``, signed by the token (SHA-256 with RSA).

        ``subject`` uses asn1crypto's attribute names (``common_name``, ``organization_name``,
        ``organizational_unit_name``, ``locality_name``, ``country_name``).
        """
        info = asn1_csr.CertificationRequestInfo(
            {
                "version": "v1",
                "subject": asn1_x509.Name.build(subject, use_printable=False),
                "subject_pk_info": self.public_key(label),
                "attributes": [],
            }
        )
        with self.lock:
            private = self.session().get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=label
            )
            signature = private.sign(info.dump(), mechanism=Mechanism.SHA256_RSA_PKCS)
        request = asn1_csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": "sha256_rsa"},
                "signature": signature,
            }
        )
        return bytes(request.dump())

    def signer(
        self,
        label: str,
        certificate: asn1_x509.Certificate,
        chain: list[asn1_x509.Certificate],
    ) -> PKCS11Signer:
        """A pyHanko signer that signs with the token key ``label`` (the key never leaves)."""
        return _SessionSerialisedSigner(
            self.session(),
            key_label=label,
            signing_cert=certificate,
            ca_chain=chain,
            embed_roots=False,
        )


class _SessionSerialisedSigner(PKCS11Signer):
    """A PKCS11Signer whose token operations take turns on the shared session.

    A PKCS#11 session runs one operation at a time (a second C_SignInit fails with
    CKR_OPERATION_ACTIVE). Only the raw signature is serialised, so that everything else pyHanko does
    for a document (hashing, building the CMS, fetching a timestamp) runs concurrently. The lock is an
    asyncio lock per event loop: waiting must not occupy an executor thread, or the signature that
    holds the lock could wait for a free thread forever. (One service process runs one loop.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            return await super().async_sign_raw(data, digest_algorithm)
