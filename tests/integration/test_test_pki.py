"""The test PKI served on loopback: OCSP, CRL and RFC 3161 timestamps answer like real ones."""

from __future__ import annotations

import hashlib
import secrets

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from devstack import Stack, StackInfo
from devstack.pki import ISSUING, ROOT, TSA

pytestmark = pytest.mark.pki


def _ocsp_status(info: StackInfo, cert: x509.Certificate, issuer: x509.Certificate) -> object:
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    response = httpx.post(
        f"{info.pki_url}/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=10,
    )
    parsed = ocsp.load_der_ocsp_response(response.content)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return parsed.certificate_status


def test_ocsp_and_crl_follow_revocation(stack: Stack, stack_info: StackInfo) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Giáo viên A")]))
        .sign(key, hashes.SHA256())
    )
    cert = stack.pki.issue_from_csr(csr.public_bytes(serialization.Encoding.DER))
    issuer = stack.pki.certificate(ISSUING)
    assert _ocsp_status(stack_info, cert, issuer) == ocsp.OCSPCertStatus.GOOD

    stack.pki.revoke(cert.serial_number)
    assert _ocsp_status(stack_info, cert, issuer) == ocsp.OCSPCertStatus.REVOKED
    crl = x509.load_der_x509_crl(
        httpx.get(f"{stack_info.pki_url}/crl/{ISSUING}.crl", timeout=10).content
    )
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_ocsp_answers_for_the_tsa_certificate_its_aia_points_to(
    stack: Stack, stack_info: StackInfo
) -> None:
    """The TSA's certificate names this responder in its AIA: the responder knows it (GOOD), rather
    than answering UNAUTHORIZED, so B-LT validation data covers the timestamp's chain too."""
    tsa = stack.pki.certificate(TSA)
    aia = tsa.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert any(d.access_location.value == f"{stack_info.pki_url}/ocsp" for d in aia)
    assert _ocsp_status(stack_info, tsa, stack.pki.certificate(ISSUING)) == ocsp.OCSPCertStatus.GOOD


def test_csr_with_a_bad_signature_is_not_certified(stack: Stack) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = bytearray(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    der[-5] ^= 0xFF
    with pytest.raises(ValueError, match="signature"):
        stack.pki.issue_from_csr(bytes(der))


def test_timestamp_authority_grants_a_token_for_the_imprint(stack_info: StackInfo) -> None:
    digest = hashlib.sha256(b"so diem lop 10A1").digest()
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": digest,
            },
            "nonce": secrets.randbits(63),
            "cert_req": True,
        }
    )
    response = httpx.post(
        f"{stack_info.pki_url}/tsa",
        content=request.dump(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=10,
    )
    reply = tsp.TimeStampResp.load(response.content)
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == request["nonce"].native


def test_malformed_timestamp_request_is_a_400(stack_info: StackInfo) -> None:
    response = httpx.post(f"{stack_info.pki_url}/tsa", content=b"\x30\x03junk", timeout=10)
    assert response.status_code == 400


def test_trust_store_holds_only_the_root(stack: Stack) -> None:
    files = sorted(p.name for p in stack.pki.trust_store.iterdir())
    assert files == [f"{ROOT}.pem"]
