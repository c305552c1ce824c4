"""pyHanko signers backed by the gateway's PKCS#11 token (the key never leaves it)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.pkcs11 import PKCS11Signer

from gateway_runtime.keystore import TokenKeystore


def token_pdf_signer(
    keystore: TokenKeystore,
    label: str,
    certificate: asn1_x509.Certificate,
    chain: list[asn1_x509.Certificate],
) -> PKCS11Signer:
    """A pyHanko signer that signs with the token key ``label`` (the key never leaves)."""
    return _SessionSerialisedSigner(
        keystore.session(),
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
