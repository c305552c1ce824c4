"""The signing service in the test process, on the test stack's real token, Redis, Keycloak and PKI.

For tests that need what only an in-process service shows (its sandbox's worker processes, limits set
low, a rate limit set high) and for signing with the stack's keys under a request the HTTP API does
not offer (a signature that locks nothing, a document type whose policy allows active content).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

from devstack import Stack, StackInfo, softhsm
from devstack.demo import transcript_pdf
from devstack.pki import ISSUING, ROOT
from devstack.stack import SEAL_KEY, TOKEN_LABEL
from gateway_runtime.keystore import TokenKeystore
from signing_service import SigningSettings
from signing_service.documents import UntrustedDocument
from signing_service.keystore import TokenGate, token_pdf_signer
from signing_service.sandbox import DocumentSandbox
from signing_service.signing import DocumentSigner, SignatureRequest


def app_settings(stack: Stack, info: StackInfo, **overrides: Any) -> SigningSettings:
    """The settings the stack gives its signing service, with ``overrides``."""
    return SigningSettings.model_validate(
        {
            "keycloak_issuer": info.issuer,
            "pkcs11_module": softhsm.module_path(),
            "token_label": TOKEN_LABEL,
            "user_pin": stack.secrets.get("hsm:user-pin"),
            "key_label": SEAL_KEY,
            "certificate_path": Path(info.seal_certificate),
            "chain_paths": [stack.pki.cert_path(ISSUING)],
            "trust_store": Path(info.trust_store),
            "tsa_url": stack.pki.urls.tsa,
            "redis_url": info.redis_url,
            "redis_username": "signing",
            "redis_password": stack.redis_password("signing"),
            "json_logs": True,
            **overrides,
        }
    )


def der_certificate(path: Path) -> asn1_x509.Certificate:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@contextmanager
def seal_signer(stack: Stack, info: StackInfo) -> Iterator[DocumentSigner]:
    """The organisation seal's key in the stack's token, behind a sandbox of this process."""
    keystore = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    sandbox = DocumentSandbox(workers=1, memory_budget_bytes=256 * 1024 * 1024, timeout_seconds=30)
    try:
        signer = token_pdf_signer(
            TokenGate(keystore),
            SEAL_KEY,
            der_certificate(Path(info.seal_certificate)),
            [der_certificate(stack.pki.cert_path(ISSUING))],
        )
        yield DocumentSigner(
            signer,
            key_label=SEAL_KEY,
            trust_roots=[der_certificate(stack.pki.cert_path(ROOT))],
            sandbox=sandbox,
            tsa_url=stack.pki.urls.tsa,
        )
    finally:
        sandbox.close()
        keystore.close()


def sign_with(signer: DocumentSigner, pdf: bytes, request: SignatureRequest) -> bytes:
    async def run() -> bytes:
        try:
            return (await signer.sign(UntrustedDocument(pdf), request)).content
        finally:
            await signer.aclose()

    return asyncio.run(run())


def software_signed(signer: signers.Signer) -> bytes:
    """A transcript signed PAdES B-B by ``signer`` (a key outside the token), as pyHanko signs by
    default: the attacker's or a third party's signing software."""
    writer = IncrementalPdfFileWriter(BytesIO(transcript_pdf(["HOC BA", "Diem Toan: 7"])))
    output = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES
        ),
        signer=signer,
    )
    return bytes(output.getvalue())
