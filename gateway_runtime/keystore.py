"""The PKCS#11 token that holds the gateway's keys (SoftHSM2 in dev and tests, an HSM in production).

Contract: private keys are generated inside the token and never leave it. This module hands out only
public keys, signatures made inside the token, and certificate signing requests signed there. A PIN is
taken as a secret and never logged. The signing service signs documents with it; the audit service
signs its checkpoints with it. Secret (HMAC) keys are imported once as sensitive and non-extractable,
and used inside the token (``CKM_SHA256_HMAC``): the signing service seals its audit events so.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pkcs11
import structlog
from asn1crypto import algos as asn1_algos
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserNotLoggedIn,
)
from pkcs11.util.ec import encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from gateway_runtime.errors import GatewayError

_log = structlog.get_logger(__name__)

T = TypeVar("T")

#: What the token answers when the session itself is gone, not the operation refused: the library
#: was re-initialised, the HSM restarted or failed over, the token was reconnected. A new session
#: (logged in again) is the cure; every operation is tried once more on one.
SESSION_LOST: tuple[type[PKCS11Error], ...] = (
    SessionHandleInvalid,
    SessionClosed,
    UserNotLoggedIn,
    DeviceRemoved,
    TokenNotPresent,
)

#: RFC 8410's object identifier of Ed25519, the curve parameter of a CKK_EC_EDWARDS key.
_ED25519_OID = "1.3.101.112"


class TokenUnavailable(GatewayError):
    code: ClassVar[str] = "key-store-unavailable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = (
        "Không truy cập được thiết bị lưu khoá (HSM); vui lòng báo quản trị."
    )
    message_en: ClassVar[str] = "The key store (HSM) cannot be reached; tell the administrator."


class TokenKeystore:
    """One logged-in session with one token, shared by the service's signers under a lock."""

    def __init__(self, *, module: Path, token_label: str, user_pin: str) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = user_pin
        self._session: Any = None
        self.lock = threading.RLock()

    def session(self, attempts: int = 5) -> Any:
        """The logged-in session, opened on first use.

        Opening is retried a few times: SoftHSM2 reads its token folder when a process initialises
        the library, and a read that races another process writing the token's files (two
        service workers starting together) finds no token. Re-initialising reads it again.
        """
        with self.lock:
            for attempt in range(1, attempts + 1):
                if self._session is not None:
                    break
                try:
                    lib = pkcs11.lib(str(self._module))
                    if attempt > 1:
                        lib.reinitialize()
                    token = lib.get_token(token_label=self._token_label)
                    self._session = token.open(rw=True, user_pin=self._pin)
                except (PKCS11Error, RuntimeError, OSError) as exc:
                    _log.warning(
                        "keystore.open_failed",
                        token=self._token_label,
                        error=type(exc).__name__,
                        attempt=attempt,
                    )
                    if attempt == attempts:
                        raise TokenUnavailable(f"token {self._token_label!r}") from exc
                    time.sleep(0.2 * attempt)
            return self._session

    def renew(self, stale: Any) -> Any:
        """A new logged-in session in place of ``stale``, which the token ended (or the current
        session, if another user of the keystore renewed it already)."""
        with self.lock:
            if self._session is stale:
                self._session = None
                with contextlib.suppress(PKCS11Error):
                    stale.close()
            return self.session()

    def _run(self, operation: Callable[[Any], T], *, again: bool = True) -> T:
        """``operation`` on the logged-in session. If the token ended that session
        (:data:`SESSION_LOST`), a new one is opened, and the operation made once more on it —
        unless ``again`` is false (creating an object: the first attempt may have created it), when
        the error stands and only later operations use the new session."""
        with self.lock:
            session = self.session()
            try:
                return operation(session)
            except SESSION_LOST as exc:
                _log.warning(
                    "keystore.session_lost", token=self._token_label, error=type(exc).__name__
                )
                renewed = self.renew(session)
                if not again:
                    raise
                return operation(renewed)

    def close(self) -> None:
        """Log out and close the session. A session the library already ended (re-initialised by
        another user of the module in this process) counts as closed."""
        with self.lock:
            session, self._session = self._session, None
            if session is not None:
                try:
                    session.close()
                except (SessionHandleInvalid, SessionClosed):
                    _log.info("keystore.session_already_ended", token=self._token_label)

    def has_key(self, label: str) -> bool:
        return self._has_object(ObjectClass.PRIVATE_KEY, label)

    def _has_object(self, object_class: ObjectClass, label: str) -> bool:
        # Read to the end: the search ends (C_FindObjectsFinal) only when its iterator is spent.
        return self._run(
            lambda session: bool(
                list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
            )
        )

    def generate_rsa_key(self, label: str, bits: int = 2048) -> asn1_keys.PublicKeyInfo:
        """Generate a non-extractable RSA key pair in the token; return its public key."""
        public, _private = self._run(
            lambda session: session.generate_keypair(
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
            ),
            again=False,
        )
        return self._public_key_info(public)

    def generate_ed25519_key(self, label: str) -> bytes:
        """Generate a non-extractable Ed25519 key pair in the token (CKM_EC_EDWARDS_KEY_PAIR_GEN);
        return its 32-byte public key (RFC 8032 encoding)."""
        public, _private = self._run(
            lambda session: session.generate_keypair(
                KeyType.EC_EDWARDS,
                None,
                label=label,
                id=label.encode(),
                store=True,
                mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                public_template={Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            ),
            again=False,
        )
        return self._ed25519_point(public)

    def key_type(self, label: str) -> KeyType | None:
        """The type of the private key ``label`` (``KeyType.RSA``, ``KeyType.EC_EDWARDS``...)."""

        def operation(session: Any) -> KeyType | None:
            found = list(
                session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
                )
            )
            return KeyType(found[0][Attribute.KEY_TYPE]) if found else None

        return self._run(operation)

    def ed25519_public_key(self, label: str) -> bytes:
        public = self._run(
            lambda session: session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC_EDWARDS, label=label
            )
        )
        return self._ed25519_point(public)

    @staticmethod
    def _ed25519_point(public: Any) -> bytes:
        # SoftHSM2 and most HSMs give CKA_EC_POINT as a DER OCTET STRING (04 20 || key).
        point = bytes(public[Attribute.EC_POINT])
        if len(point) == 34 and point[:2] == b"\x04\x20":
            point = point[2:]
        if len(point) != 32:
            raise TokenUnavailable("the token returned an Ed25519 public key of unexpected size")
        return point

    def sign_ed25519(self, label: str, data: bytes) -> bytes:
        """Pure Ed25519 (CKM_EDDSA, RFC 8032) over ``data`` with the token key ``label``."""
        try:
            return self._run(
                lambda session: bytes(
                    session.get_key(
                        object_class=ObjectClass.PRIVATE_KEY,
                        key_type=KeyType.EC_EDWARDS,
                        label=label,
                    ).sign(data, mechanism=Mechanism.EDDSA)
                )
            )
        except PKCS11Error as exc:
            _log.error("keystore.sign_failed", key=label, error=type(exc).__name__)
            raise TokenUnavailable(f"key {label!r}") from exc

    def has_secret_key(self, label: str) -> bool:
        return self._has_object(ObjectClass.SECRET_KEY, label)

    def import_hmac_key(self, label: str, value: bytes) -> None:
        """Store ``value`` in the token as an HMAC key that can only sign (sensitive,
        non-extractable: its value never comes out again)."""
        self._run(
            lambda session: session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                    Attribute.VALUE: value,
                    Attribute.LABEL: label,
                    Attribute.ID: label.encode(),
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: False,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.DERIVE: False,
                }
            ),
            again=False,
        )

    def hmac_sha256(self, label: str, messages: list[bytes]) -> list[bytes]:
        """HMAC-SHA256 of each message with the token's secret key ``label`` (inside the token)."""

        def operation(session: Any) -> list[bytes]:
            key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            return [bytes(key.sign(m, mechanism=Mechanism.SHA256_HMAC)) for m in messages]

        try:
            return self._run(operation)
        except PKCS11Error as exc:
            _log.error("keystore.hmac_failed", key=label, error=type(exc).__name__)
            raise TokenUnavailable(f"key {label!r}") from exc

    def public_key(self, label: str) -> asn1_keys.PublicKeyInfo:
        public = self._run(
            lambda session: session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.RSA, label=label
            )
        )
        return self._public_key_info(public)

    @staticmethod
    def _public_key_info(public: Any) -> asn1_keys.PublicKeyInfo:
        rsa = asn1_keys.RSAPublicKey.load(encode_rsa_public_key(public))
        return asn1_keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": rsa})

    def sign(
        self, label: str, data: bytes, mechanism: Mechanism = Mechanism.SHA256_RSA_PKCS
    ) -> bytes:
        """Sign ``data`` with the token key ``label`` (inside the token)."""
        try:
            return self._run(
                lambda session: bytes(
                    session.get_key(
                        object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=label
                    ).sign(data, mechanism=mechanism)
                )
            )
        except PKCS11Error as exc:
            _log.error("keystore.sign_failed", key=label, error=type(exc).__name__)
            raise TokenUnavailable(f"key {label!r}") from exc

    def sign_digest(self, label: str, digest: bytes, digest_algorithm: str) -> bytes:
        """RSA PKCS#1 v1.5 signature over a digest computed elsewhere (CSC ``signHash``).

        The token pads a DigestInfo naming ``digest_algorithm`` (``sha256``, ``sha384``,
        ``sha512``), exactly what a signature with ``SHA256_RSA_PKCS`` over the data would hold.
        """
        info = asn1_algos.DigestInfo(
            {"digest_algorithm": {"algorithm": digest_algorithm}, "digest": digest}
        )
        return self.sign(label, info.dump(), mechanism=Mechanism.RSA_PKCS)

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
        signature = self.sign(label, info.dump())
        request = asn1_csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": "sha256_rsa"},
                "signature": signature,
            }
        )
        return bytes(request.dump())
