"""pyHanko signers backed by the gateway's PKCS#11 token (the key never leaves it)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.pkcs11 import PKCS11Signer

from gateway_runtime.keystore import TokenKeystore

T = TypeVar("T")


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


class _SessionSerialisedSigner(PKCS11Signer):
    """A PKCS11Signer whose raw signature takes its turn at the :class:`TokenGate`.

    Only the raw signature is serialised, so that everything else pyHanko does for a document
    (hashing, building the CMS, fetching a timestamp) runs concurrently.
    """

    def __init__(self, gate: TokenGate, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = gate

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        async with self._gate.turn():
            return await super().async_sign_raw(data, digest_algorithm)
