"""pyHanko signers backed by the gateway's PKCS#11 token (the key never leaves it)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from pkcs11.exceptions import PKCS11Error
from pyhanko.sign.attributes import (
    CMSAttributeProvider,
    SignedAttributeProviderSpec,
    SigningCertificateV2Provider,
)
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.pkcs11 import PKCS11Signer

from audit.errors import AuditUnavailable
from audit.producers import Producer, mac_message
from gateway_runtime.keystore import SESSION_LOST, TokenKeystore, TokenUnavailable

T = TypeVar("T")
_log = structlog.get_logger(__name__)


class TokenGate:
    """Makes every token operation of one service process take its turn on the shared session.

    A PKCS#11 session runs one operation at a time (a second C_SignInit fails with
    CKR_OPERATION_ACTIVE). Document signatures, CSC hash signatures and key generation all pass
    through here. The lock is an asyncio lock per event loop: waiting must not occupy an executor
    thread, or the operation that holds the lock could wait for a free thread forever.
    """

    def __init__(self, keystore: TokenKeystore) -> None:
        self.keystore = keystore
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            yield

    async def run(self, operation: Callable[..., T], *args: Any) -> T:
        """Run a blocking keystore operation in a thread, in turn with every other."""
        async with self.turn():
            return await asyncio.to_thread(operation, *args)


class TokenEventSealer:
    """Seals the signing service's audit events with its HMAC key in the token.

    The key was imported non-extractable: this process (which parses untrusted PDFs in its
    workers) can ask the token for seals while it runs, but never holds the key, so nothing it
    leaks lets anyone seal events later. Each batch of events takes its turn at the gate.
    """

    producer = Producer.SIGNING.value

    def __init__(self, gate: TokenGate, label: str) -> None:
        self._gate = gate
        self._label = label

    async def seal(self, payloads: Sequence[bytes]) -> list[bytes]:
        messages = [mac_message(self.producer, p) for p in payloads]
        try:
            return await self._gate.run(self._gate.keystore.hmac_sha256, self._label, messages)
        except TokenUnavailable as exc:
            raise AuditUnavailable("the token cannot seal audit events") from exc


def token_pdf_signer(
    gate: TokenGate,
    label: str,
    certificate: asn1_x509.Certificate,
    chain: list[asn1_x509.Certificate],
) -> PKCS11Signer:
    """A pyHanko signer that signs with the token key ``label`` (the key never leaves)."""
    return _SessionSerialisedSigner(
        gate,
        gate.keystore.session(),
        key_label=label,
        signing_cert=certificate,
        ca_chain=chain,
        embed_roots=False,
    )


def token_key_signer(
    gate: TokenGate,
    label: str,
    certificate: asn1_x509.Certificate,
    chain: list[asn1_x509.Certificate],
) -> PKCS11Signer:
    """:func:`token_pdf_signer` with the key looked up now (a person's key, made by whichever
    service process enrolled them). A key the token does not show is looked up once more on a new
    session, then refused as the token's failure (503), never an internal error (500): one signing
    process was seen not to find a key another had just made (SoftHSM2, tests, twice)."""
    for attempt in (1, 2):
        signer = token_pdf_signer(gate, label, certificate, chain)
        try:
            signer.signing_cert  # noqa: B018 - pyHanko loads the key's handle here
        except PKCS11Error as exc:
            _log.warning(
                "keystore.key_not_found", key_label=label, attempt=attempt, error=type(exc).__name__
            )
            gate.keystore.renew(signer.pkcs11_session)
            continue
        return signer
    raise TokenUnavailable(f"the token shows no key {label!r}")


class _CachedSigningCertificate(CMSAttributeProvider):
    """The signing-certificate-v2 attribute, encoded once per key instead of once per signature."""

    attribute_type: str = "signing_certificate_v2"

    def __init__(self, der: bytes) -> None:
        self._der = der

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)


class _CachedCertificateSpec(SignedAttributeProviderSpec):
    def __init__(self, inner: SignedAttributeProviderSpec, der: bytes) -> None:
        self._inner = inner
        self._der = der

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        for provider in self._inner.signed_attr_providers(data_digest, digest_algorithm):
            if isinstance(provider, SigningCertificateV2Provider):
                yield _CachedSigningCertificate(self._der)
            else:
                yield provider


class _SessionSerialisedSigner(PKCS11Signer):
    """A PKCS11Signer whose raw signature takes its turn at the :class:`TokenGate`.

    Only the raw signature is serialised, so that everything else pyHanko does for a document
    (hashing, building the CMS, fetching a timestamp) runs concurrently.

    It also encodes the signing-certificate-v2 attribute once: pyHanko rebuilds it for every
    signature from the parsed certificate, and asn1crypto's re-encoding of it (walking the whole
    parsed certificate for changes) was half the CPU time of a B-B signature (profiled: 5.2 of
    9.5 ms on this machine).
    """

    def __init__(self, gate: TokenGate, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = gate
        certificate: asn1_x509.Certificate = kwargs["signing_cert"]
        self._signing_certificate_der = as_signing_certificate_v2(certificate).dump()

    def _signed_attr_provider_spec(self, *args: Any, **kwargs: Any) -> SignedAttributeProviderSpec:
        # pyHanko's hook for the signed attributes (an internal method; pinned by the tests that
        # verify every signature this signer makes, including the attribute's certificate hash).
        spec = super()._signed_attr_provider_spec(*args, **kwargs)
        return _CachedCertificateSpec(spec, self._signing_certificate_der)

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        async with self._gate.turn():
            try:
                try:
                    return await super().async_sign_raw(data, digest_algorithm)
                except SESSION_LOST:
                    # The token ended the session (an HSM restarted or failed over): sign once
                    # more on a new one, the key looked up again (its handle was the old session's).
                    session = await asyncio.to_thread(
                        self._gate.keystore.renew, self.pkcs11_session
                    )
                    self._use_session(session)
                    return await super().async_sign_raw(data, digest_algorithm)
            except PKCS11Error as exc:
                # The token refused, or is still gone: 503, never an internal error.
                raise TokenUnavailable("the token did not sign") from exc

    def _use_session(self, session: Any) -> None:
        # pyHanko keeps the session and, once loaded, the key's handle in it (``_load_objects``);
        # pinned by the test that signs across a lost session.
        self.pkcs11_session = session
        self._key_handle = None
        self._loaded = False
        self._PKCS11Signer__loading_event = None
