"""Trust anchors and revocation data for verification, kept per worker process.

Trust anchors are every certificate in the configured folder; a worker parses them once (by their DER)
and keeps its fetched OCSP responses and CRLs for a bounded time (:class:`RevocationCache`).
"""

from __future__ import annotations

import time
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import Fetchers

from signing_service.path_memo import PathMemo


def load_trust_store(folder: Path) -> list[asn1_x509.Certificate]:
    """Every certificate (PEM or DER) in ``folder``: the trust anchors of verification."""
    roots: list[asn1_x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".pem", ".crt", ".cer"}:
            continue
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            from asn1crypto import pem

            for _, _, der in pem.unarmor(data, multiple=True):
                roots.append(asn1_x509.Certificate.load(der))
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return roots


class RevocationCache:
    """OCSP responses, CRLs and issuer certificates fetched by one worker process, kept ``ttl`` s.

    pyHanko's fetchers remember what they fetched for as long as they live; renewing them after
    ``ttl`` bounds how stale a cached "good" answer can be. ``ttl`` 0 fetches afresh every time.
    The paths validated with those answers (:attr:`path_memo`) are renewed with them.
    """

    def __init__(self) -> None:
        self._backend: AIOHttpFetcherBackend | None = None
        self._fetchers: Fetchers | None = None
        self._created = 0.0
        self.path_memo = PathMemo()

    @property
    def backend(self) -> AIOHttpFetcherBackend | None:
        return self._backend

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()
        self._backend = self._fetchers = None

    async def fetchers(self, ttl: float, request_timeout: float) -> Fetchers:
        if self._fetchers is None or time.monotonic() - self._created >= ttl:
            await self.close()
            self._backend = AIOHttpFetcherBackend(per_request_timeout=request_timeout)
            self._fetchers = self._backend.get_fetchers()
            self._created = time.monotonic()
            self.path_memo = PathMemo()
        return self._fetchers


#: The trust anchors as parsed in this worker, by their DER: parsed once, not once per document.
_WORKER_ROOTS: dict[tuple[bytes, ...], list[asn1_x509.Certificate]] = {}


def worker_roots(trust_roots_der: list[bytes]) -> list[asn1_x509.Certificate]:
    key = tuple(trust_roots_der)
    roots = _WORKER_ROOTS.get(key)
    if roots is None:
        _WORKER_ROOTS.clear()
        roots = _WORKER_ROOTS[key] = [asn1_x509.Certificate.load(der) for der in key]
    return roots
