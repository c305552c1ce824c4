"""Remote signing over the Cloud Signature Consortium API (v2), under ``/csc/v2/``.

Endpoints: ``info``, ``credentials/list``, ``credentials/info``, ``credentials/authorize`` and
``signatures/signHash``. Tokens come from Keycloak; the OAuth scope ``service`` lets an app list and
inspect the signer's credentials, ``credential`` lets it ask for and use an authorization.
Authorization is SCAL2: every ``credentials/authorize`` waits for the signer's approval on their
registered device, bound to the exact hashes (see :mod:`signing_service.approvals`).

Clients differ in the field names they send: pyHanko's CSC client speaks v1.0.4 names at a v2
address (``hash``, ``hashAlgo``, ``signAlgo`` as a full signature-algorithm OID), v2 clients send
``hashes``, ``hashAlgorithmOID``, ``signAlgo`` = ``rsaEncryption`` and ``operationMode``.
:class:`CscDialect` is the one place that maps a client's wire format to the service's requests and
back. A Vietnamese CSC-like service (VNPT SmartCA, Viettel MySign) is a subclass, not a fork.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509 as asn1_x509

from signing_service.credentials import Credential
from signing_service.errors import InvalidCscRequest

SPEC_VERSION = "2.0.0.2"

#: Digest OIDs the service signs, with their names and digest sizes.
HASH_ALGORITHMS: dict[str, tuple[str, int]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
_HASH_BY_SIZE = {size: oid for oid, (_, size) in HASH_ALGORITHMS.items()}
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
#: Full RSA PKCS#1 v1.5 signature-algorithm OIDs and the digest each one implies.
RSA_WITH_HASH: dict[str, str] = {
    "1.2.840.113549.1.1.11": "2.16.840.1.101.3.4.2.1",
    "1.2.840.113549.1.1.12": "2.16.840.1.101.3.4.2.2",
    "1.2.840.113549.1.1.13": "2.16.840.1.101.3.4.2.3",
}
#: What ``key.algo`` lists: the full OIDs (pyHanko needs them) and ``rsaEncryption`` (v2 clients).
KEY_ALGORITHMS = [*RSA_WITH_HASH, RSA_ENCRYPTION]


@dataclass(frozen=True)
class ListRequest:
    with_info: bool
    certificates: str
    only_valid: bool


@dataclass(frozen=True)
class InfoRequest:
    credential_id: str
    certificates: str
    cert_info: bool


@dataclass(frozen=True)
class AuthorizeRequest:
    credential_id: str
    hashes: list[str]
    hash_algorithm: str
    description: str


@dataclass(frozen=True)
class SignHashRequest:
    credential_id: str
    sad: str
    hashes: list[str]
    hash_algorithm: str
    digests: list[bytes]


def _text(body: dict[str, Any], *names: str, required: bool = True, limit: int = 512) -> str | None:
    for name in names:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, str) or not value or len(value) > limit:
                raise InvalidCscRequest(f"parameter {name} must be a non-empty string")
            return value
    if required:
        raise InvalidCscRequest(f"missing parameter {names[0]}")
    return None


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidCscRequest(f"parameter {name} must be true or false")
    return value


def _asn1_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


class CscDialect:
    """CSC v2, accepting v1.0.4 field names too (pyHanko's client sends them)."""

    def __init__(self, *, max_hashes: int = 2000) -> None:
        #: Largest number of hashes one request (and one approval) may carry.
        self.max_hashes = max_hashes

    # -- requests ------------------------------------------------------------------------------
    def list_request(self, body: dict[str, Any], owner: str) -> ListRequest:
        user_id = _text(body, "userID", required=False)
        if user_id is not None and user_id != owner:
            raise InvalidCscRequest("userID must be absent or the token's own user")
        return ListRequest(
            with_info=_flag(body, "credentialInfo", False),
            certificates=self._certificates(body),
            only_valid=_flag(body, "onlyValid", False),
        )

    def info_request(self, body: dict[str, Any]) -> InfoRequest:
        return InfoRequest(
            credential_id=str(_text(body, "credentialID")),
            certificates=self._certificates(body),
            cert_info=_flag(body, "certInfo", False),
        )

    def authorize_request(self, body: dict[str, Any]) -> AuthorizeRequest:
        credential_id = str(_text(body, "credentialID"))
        hashes = self._hashes(body)
        num = body.get("numSignatures", len(hashes))
        if not isinstance(num, int) or isinstance(num, bool) or num != len(hashes):
            raise InvalidCscRequest("numSignatures must equal the number of hashes (SCAL2)")
        oid = _text(body, "hashAlgorithmOID", "hashAlgo", required=False)
        digests = [self._decode(h) for h in hashes]
        if oid is None:
            # v1 clients send no hash algorithm with authorize: the digest size names it.
            sizes = {len(d) for d in digests}
            if len(sizes) != 1 or (size := sizes.pop()) not in _HASH_BY_SIZE:
                raise InvalidCscRequest("hashAlgorithmOID is required for these hashes")
            oid = _HASH_BY_SIZE[size]
        self._check_digests(oid, digests)
        description = _text(body, "description", required=False, limit=500) or ""
        return AuthorizeRequest(credential_id, hashes, oid, description)

    def sign_hash_request(self, body: dict[str, Any]) -> SignHashRequest:
        credential_id = str(_text(body, "credentialID"))
        sad = str(_text(body, "SAD"))
        hashes = self._hashes(body)
        mode = _text(body, "operationMode", required=False)
        if mode not in (None, "S"):
            raise InvalidCscRequest("only the synchronous operationMode S is offered")
        sign_algo = str(_text(body, "signAlgo"))
        hash_oid = _text(body, "hashAlgorithmOID", "hashAlgo", required=False)
        if sign_algo in RSA_WITH_HASH:
            implied = RSA_WITH_HASH[sign_algo]
            if hash_oid is not None and hash_oid != implied:
                raise InvalidCscRequest("signAlgo and hashAlgorithmOID name different digests")
            hash_oid = implied
        elif sign_algo == RSA_ENCRYPTION:
            if hash_oid is None:
                raise InvalidCscRequest("hashAlgorithmOID is required with signAlgo rsaEncryption")
        else:
            raise InvalidCscRequest(f"signAlgo {sign_algo[:64]} is not offered")
        if body.get("signAlgoParams") not in (None, ""):
            raise InvalidCscRequest("signAlgoParams are not used by the offered algorithms")
        digests = [self._decode(h) for h in hashes]
        self._check_digests(hash_oid, digests)
        return SignHashRequest(credential_id, sad, hashes, hash_oid, digests)

    def _certificates(self, body: dict[str, Any]) -> str:
        value = body.get("certificates", "single")
        if value not in {"none", "single", "chain"}:
            raise InvalidCscRequest("certificates must be none, single or chain")
        return str(value)

    def _hashes(self, body: dict[str, Any]) -> list[str]:
        hashes = body.get("hashes", body.get("hash"))
        if not isinstance(hashes, list) or not hashes:
            raise InvalidCscRequest("missing parameter hashes")
        if len(hashes) > self.max_hashes:
            raise InvalidCscRequest(f"at most {self.max_hashes} hashes per request")
        if not all(isinstance(h, str) and 0 < len(h) <= 128 for h in hashes):
            raise InvalidCscRequest("hashes must be base64 strings")
        if len(set(hashes)) != len(hashes):
            raise InvalidCscRequest("the same hash appears twice")
        return list(hashes)

    @staticmethod
    def _decode(value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCscRequest("a hash is not valid base64") from exc

    @staticmethod
    def _check_digests(oid: str, digests: list[bytes]) -> None:
        if oid not in HASH_ALGORITHMS:
            raise InvalidCscRequest(f"hash algorithm {oid[:64]} is not offered")
        size = HASH_ALGORITHMS[oid][1]
        if any(len(d) != size for d in digests):
            raise InvalidCscRequest(f"every hash must be {size} bytes for this algorithm")

    # -- responses -----------------------------------------------------------------------------
    def info_response(self, *, issuer: str, public_url: str) -> dict[str, Any]:
        return {
            "specs": SPEC_VERSION,
            "name": "Dịch vụ ký số ngành Giáo dục",
            "logo": f"{public_url.rstrip('/')}/favicon.ico",
            "region": "VN",
            "lang": "vi-VN",
            "description": "Ký số từ xa cho cán bộ, giáo viên (CSC API v2); phê duyệt trên điện thoại.",
            "authType": ["oauth2code"],
            "oauth2": issuer,
            "oauth2Issuer": issuer,
            "asynchronousOperationMode": False,
            "methods": [
                "credentials/list",
                "credentials/info",
                "credentials/authorize",
                "signatures/signHash",
            ],
            "validationInfo": False,
            "signAlgorithms": {"algos": KEY_ALGORITHMS},
        }

    def list_response(
        self,
        credentials: list[Credential],
        request: ListRequest,
        chain: list[asn1_x509.Certificate],
    ) -> dict[str, Any]:
        if request.only_valid:
            credentials = [c for c in credentials if self._valid(c)]
        body: dict[str, Any] = {
            "credentialIDs": [c.credential_id for c in credentials],
            "onlyValid": request.only_valid,
        }
        if request.with_info:
            body["credentialInfos"] = [
                {
                    "credentialID": c.credential_id,
                    **self.credential_info(c, request.certificates, False, chain),
                }
                for c in credentials
            ]
        return body

    def credential_info(
        self,
        credential: Credential,
        certificates: str,
        cert_info: bool,
        chain: list[asn1_x509.Certificate],
    ) -> dict[str, Any]:
        cert = credential.certificate
        listed = {"none": [], "single": [cert], "chain": [cert, *chain]}[certificates]
        cert_part: dict[str, Any] = {
            "status": "valid" if self._valid(credential) else "expired",
            "certificates": [base64.b64encode(c.dump()).decode() for c in listed],
        }
        if cert_info:
            cert_part.update(
                {
                    "issuerDN": cert.issuer.human_friendly,
                    "serialNumber": format(cert.serial_number, "x"),
                    "subjectDN": cert.subject.human_friendly,
                    "validFrom": _asn1_time(cert.not_valid_before),
                    "validTo": _asn1_time(cert.not_valid_after),
                }
            )
        return {
            "description": f"Khoá ký cá nhân của {credential.owner_name}",
            "key": {
                "status": "enabled" if credential.status == "enabled" else "disabled",
                "algo": KEY_ALGORITHMS,
                "len": cert.public_key.bit_size,
            },
            "cert": cert_part,
            # SCAL2, explicit authorization: the signer approves each request on their device.
            "authMode": "explicit",
            "auth": {
                "mode": "explicit",
                "description": "Phê duyệt trên thiết bị đã đăng ký (WebAuthn, xác thực người dùng)",
            },
            "SCAL": "2",
            "multisign": self.max_hashes,
            "lang": "vi-VN",
        }

    @staticmethod
    def _valid(credential: Credential) -> bool:
        cert = credential.certificate
        now = dt.datetime.now(dt.UTC)
        return (
            credential.status == "enabled" and cert.not_valid_before <= now <= cert.not_valid_after
        )

    @staticmethod
    def hashes_digest(hashes: list[str]) -> str:
        """One value for the audit log that names a set of signed hashes."""
        return hashlib.sha256("\n".join(hashes).encode()).hexdigest()
