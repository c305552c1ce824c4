"""Personal signing credentials: a key in the token, certified by the CA, bound to one Keycloak user.

Enrolment generates the key pair inside the token (non-extractable), has the token sign a PKCS#10
request, sends it to the CA's registration endpoint and keeps the certificate only if it certifies
that very key. The credential is bound to the Keycloak user by the token's ``sub`` (never by name
or e-mail), and its certificate names that user id in the ``UID`` attribute.

The CA is an adapter (:class:`CertificateAuthority`): the test PKI in dev, the registration API of
the public CA in production.
"""

from __future__ import annotations

import base64
import json
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from typing import Protocol

import httpx
import redis.asyncio as redis_async
from asn1crypto import x509 as asn1_x509

from gateway_runtime.tokens import Principal
from signing_service.errors import (
    CertificateAuthorityUnavailable,
    CredentialLimitReached,
    CredentialNotFound,
)
from signing_service.keystore import TokenGate

#: A person holds at most this many active credentials (a new phone, a renewed certificate).
MAX_CREDENTIALS_PER_PERSON = 3
ORGANISATION = "Sở Giáo dục và Đào tạo"


class CertificateAuthority(Protocol):
    async def certify(self, csr_der: bytes) -> bytes:
        """Return the DER certificate the CA issued for ``csr_der``."""
        ...


class HttpEnrolmentCa:
    """A CA registration endpoint: ``POST`` a DER PKCS#10 request, receive a DER certificate."""

    def __init__(self, url: str, token: str, *, timeout: float = 15.0) -> None:
        self._url = url
        self._token = token
        self._timeout = timeout

    async def certify(self, csr_der: bytes) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._url,
                    content=csr_der,
                    headers={
                        "content-type": "application/pkcs10",
                        "authorization": f"Bearer {self._token}",
                    },
                )
        except httpx.HTTPError as exc:
            raise CertificateAuthorityUnavailable(type(exc).__name__) from exc
        if response.status_code != 200:
            raise CertificateAuthorityUnavailable(f"the CA answered HTTP {response.status_code}")
        return response.content


@dataclass(frozen=True)
class Credential:
    credential_id: str
    owner: str  # the Keycloak user id (``sub``)
    owner_name: str
    key_label: str
    certificate_der: bytes
    created_at: float
    status: str = "enabled"

    @property
    def certificate(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.certificate_der)

    def to_json(self) -> str:
        record = asdict(self)
        record["certificate_der"] = base64.b64encode(self.certificate_der).decode()
        return json.dumps(record)

    @classmethod
    def from_json(cls, text: str | bytes) -> Credential:
        record = json.loads(text)
        record["certificate_der"] = base64.b64decode(record["certificate_der"])
        return cls(**record)


class CredentialStore:
    """Credentials in Redis: ``credential:<id>`` and the set ``credentials-of:<sub>``."""

    def __init__(self, client: redis_async.Redis) -> None:
        self._redis = client

    async def get(self, credential_id: str) -> Credential | None:
        raw = await self._redis.get(f"credential:{credential_id}")
        return Credential.from_json(raw) if raw else None

    async def owned(
        self, principal: Principal, credential_id: str, *, usable: bool = True
    ) -> Credential:
        """The credential ``credential_id`` if it belongs to ``principal`` (and, if ``usable``, is
        enabled: a disabled key approves and signs nothing); 404 otherwise. ``usable=False``: to
        describe it (CSC ``credentials/info`` reports it disabled)."""
        credential = await self.get(credential_id) if _looks_like_id(credential_id) else None
        if credential is None or credential.owner != principal.subject:
            raise CredentialNotFound()
        if usable and credential.status != "enabled":
            raise CredentialNotFound()
        return credential

    async def usable(self, credential_id: str) -> Credential:
        """The credential if it is enabled (a batch's, signed after it was approved); 404 if it
        is gone or disabled since."""
        credential = await self.get(credential_id) if _looks_like_id(credential_id) else None
        if credential is None or credential.status != "enabled":
            raise CredentialNotFound()
        return credential

    async def of(self, owner: str) -> list[Credential]:
        members = await self._redis.smembers(f"credentials-of:{owner}")
        ids = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        found = [await self.get(i) for i in ids]
        return [c for c in found if c is not None and c.status == "enabled"]

    async def save(self, credential: Credential) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"credential:{credential.credential_id}", credential.to_json())
            pipe.sadd(f"credentials-of:{credential.owner}", credential.credential_id)
            await pipe.execute()


def _looks_like_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def certificate_subject(principal: Principal) -> dict[str, str]:
    """The subject of a person's certificate: their name (NFC), the organisation, their user id."""
    return {
        "country_name": "VN",
        "organization_name": ORGANISATION,
        "common_name": unicodedata.normalize("NFC", principal.display_name)[:64],
        "user_id": principal.subject,
    }


async def enrol(
    principal: Principal, gate: TokenGate, ca: CertificateAuthority, store: CredentialStore
) -> Credential:
    """Generate a key for ``principal`` in the token, have it certified, and bind it to them."""
    if len(await store.of(principal.subject)) >= MAX_CREDENTIALS_PER_PERSON:
        raise CredentialLimitReached(f"at most {MAX_CREDENTIALS_PER_PERSON}")
    credential_id = uuid.uuid4().hex
    label = f"person-{credential_id}"
    keystore = gate.keystore
    public_key = await gate.run(keystore.generate_rsa_key, label)
    csr = await gate.run(keystore.certificate_request, label, certificate_subject(principal))
    der = await ca.certify(csr)
    try:
        certificate = asn1_x509.Certificate.load(der)
        certified_key = certificate.public_key.dump()
    except ValueError as exc:
        raise CertificateAuthorityUnavailable(
            "the CA sent something that is not a certificate"
        ) from exc
    if certified_key != public_key.dump():
        raise CertificateAuthorityUnavailable("the CA certified a different key")
    credential = Credential(
        credential_id=credential_id,
        owner=principal.subject,
        owner_name=principal.display_name,
        key_label=label,
        certificate_der=der,
        created_at=time.time(),
    )
    await store.save(credential)
    return credential
