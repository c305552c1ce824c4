"""The verification worker's memo of validated certification paths (:mod:`signing_service.path_memo`)
never changes a verdict: attacked with look-alike chains made in this run, and with a certificate
revoked after its path was remembered, each document gets the verdict a worker without the memo
gives (a fresh revocation cache per document), and the memo is really used for the honest ones.

Attack classes: look-alike chain (a forged intermediate and leaf with the genuine names and serial),
forged leaf under the genuine intermediate, revocation after the path was remembered.
"""

from __future__ import annotations

import asyncio

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from devstack import Stack
from devstack.pki import ISSUING, ROOT
from signing_service.documents import UntrustedDocument
from signing_service.reports import VerificationReport
from signing_service.revocation import RevocationCache
from signing_service.verification import async_verify_document
from tests.signing_app import der_certificate, software_signed


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _sign(key: rsa.RSAPrivateKey, cert: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
    return software_signed(
        signers.SimpleSigner(
            signing_cert=_asn1(cert),
            signing_key=asn1_keys.PrivateKeyInfo.load(
                key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
            cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain]),
        )
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _genuine(stack: Stack, name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return key, stack.pki.issue_from_csr(csr.public_bytes(serialization.Encoding.DER))


def _look_alike(
    template: x509.Certificate, issuer_key: rsa.RSAPrivateKey, public_key: rsa.RSAPublicKey
) -> x509.Certificate:
    """``template`` again (names, serial, validity, extensions) over another key, signed by
    ``issuer_key``: what a forger makes to pass for it."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(template.issuer)
        .serial_number(template.serial_number)
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
        .public_key(public_key)
    )
    for extension in template.extensions:
        if isinstance(extension.value, x509.SubjectKeyIdentifier):
            value: x509.ExtensionType = x509.SubjectKeyIdentifier.from_public_key(public_key)
        else:
            value = extension.value
        builder = builder.add_extension(value, critical=extension.critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _verify(stack: Stack, pdf: bytes, cache: RevocationCache, seconds: float) -> VerificationReport:
    roots = [der_certificate(stack.pki.cert_path(ROOT))]
    return asyncio.run(
        async_verify_document(UntrustedDocument(pdf), roots, cache=cache, cache_seconds=seconds)
    )


def _fresh_verdict(stack: Stack, pdf: bytes) -> tuple[str, str | None]:
    async def run() -> VerificationReport:
        cache = RevocationCache()
        try:
            roots = [der_certificate(stack.pki.cert_path(ROOT))]
            return await async_verify_document(UntrustedDocument(pdf), roots, cache=cache)
        finally:
            await cache.close()

    report = asyncio.run(run())
    return report.indication.value, report.subindication


def _remembering(stack: Stack, documents: list[bytes]) -> list[tuple[str, str | None]]:
    """Verdicts of ``documents`` in order, by one worker's cache kept 300 s (memo included)."""

    async def run() -> list[tuple[str, str | None]]:
        cache = RevocationCache()
        roots = [der_certificate(stack.pki.cert_path(ROOT))]
        verdicts = []
        try:
            for pdf in documents:
                report = await async_verify_document(
                    UntrustedDocument(pdf), roots, cache=cache, cache_seconds=300
                )
                verdicts.append((report.indication.value, report.subindication))
            assert cache.path_memo.hits > 0, "the memo was not used"
        finally:
            await cache.close()
        return verdicts

    return asyncio.run(run())


def test_look_alike_chains_get_the_verdict_they_get_without_the_memo(stack: Stack) -> None:
    key, cert = _genuine(stack, "Giáo viên (path memo)")
    issuing = x509.load_pem_x509_certificate(stack.pki.cert_path(ISSUING).read_bytes())
    honest = _sign(key, cert, [issuing])
    # A forged intermediate with the genuine one's names, and a leaf under it like the genuine leaf.
    forger = _key()
    forged_issuing = _look_alike(issuing, forger, forger.public_key())
    forged_key = _key()
    forged_leaf = _look_alike(cert, forger, forged_key.public_key())
    look_alike_chain = _sign(forged_key, forged_leaf, [forged_issuing])
    # A leaf like the genuine one under the genuine intermediate, signed by a key that is not the CA's.
    forged_under_genuine = _sign(
        forged_key, _look_alike(cert, forger, forged_key.public_key()), [issuing]
    )

    documents = [honest, look_alike_chain, honest, forged_under_genuine, honest]
    remembered = _remembering(stack, documents)
    assert remembered[0] == ("TOTAL_PASSED", None)
    assert remembered == [_fresh_verdict(stack, pdf) for pdf in documents]
    assert remembered[1][0] != "TOTAL_PASSED" and remembered[3][0] != "TOTAL_PASSED"


def test_a_revoked_certificate_is_seen_when_the_revocation_data_is_renewed(stack: Stack) -> None:
    """The memo is as stale as the revocation cache and no more: renewing the cache (here, a
    verification with a 0 s cache) drops the remembered paths with the fetched OCSP responses."""
    key, cert = _genuine(stack, "Giáo viên bị thu hồi (path memo)")
    issuing = x509.load_pem_x509_certificate(stack.pki.cert_path(ISSUING).read_bytes())
    signed = _sign(key, cert, [issuing])

    async def run() -> list[tuple[str, str | None]]:
        cache = RevocationCache()
        roots = [der_certificate(stack.pki.cert_path(ROOT))]
        verdicts = []
        try:
            for seconds, revoke in ((300, False), (300, True), (0, False)):
                if revoke:
                    await asyncio.sleep(1.1)  # revocation times have one-second precision
                    stack.pki.revoke(cert.serial_number)
                report = await async_verify_document(
                    UntrustedDocument(signed), roots, cache=cache, cache_seconds=seconds
                )
                verdicts.append((report.indication.value, report.subindication))
        finally:
            await cache.close()
        return verdicts

    first, cached, renewed = asyncio.run(run())
    assert first == ("TOTAL_PASSED", None)
    # Within the cache's time the OCSP answer "good" is reused with or without the memo ...
    assert cached == first
    # ... and at renewal the revocation is seen, as a worker without the memo sees it.
    assert renewed == ("INDETERMINATE", "REVOKED_NO_POE")
    assert renewed == _fresh_verdict(stack, signed)
