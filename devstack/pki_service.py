"""HTTP face of the test PKI: certificates, CRL, OCSP and an RFC 3161 timestamp authority.

Served on loopback only, for dev and tests. Run as
``uvicorn devstack.pki_service:create_app --factory`` with ``DEVSTACK_PKI_DIR`` and ``DEVSTACK_PKI_URL``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pyhanko.sign import general
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from devstack.pki import ISSUING, OCSP, ROOT, TSA, TestPki

_MAX_REQUEST = 64 * 1024
_PKCS10 = "application/pkcs10"


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


async def _body(request: Request) -> bytes:
    body = await request.body()
    if not body or len(body) > _MAX_REQUEST:
        raise HTTPException(400, "empty or oversized request")
    return body


class _TestTimeStamper(DummyTimeStamper):
    """pyHanko's dummy TSA with its key loaded once and its ESS certificate attribute encoded once.

    The dummy re-parses and re-checks the RSA private key for every timestamp (about 28 ms here),
    which made the test TSA, not the signing service, the bottleneck of B-T signing.
    """

    def __init__(self, *, private_key: rsa.RSAPrivateKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._private_key = private_key
        self._ess_der = general.as_signing_certificate(self.tsa_cert).dump()

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                simple_cms_attribute(
                    "signing_certificate", tsp.SigningCertificate.load(self._ess_der)
                ),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._private_key.sign(
            signed_attrs.dump(),
            padding.PKCS1v15(),
            get_pyca_cryptography_hash(md_algorithm.upper()),
        )
        return signature, signed_attrs


def create_app(pki: TestPki | None = None, ra_token: str | None = None) -> FastAPI:
    if pki is None:
        pki = TestPki(Path(os.environ["DEVSTACK_PKI_DIR"]), os.environ["DEVSTACK_PKI_URL"])
    if ra_token is None:
        ra_token = os.environ.get("DEVSTACK_PKI_RA_TOKEN")
    pki.ensure()
    issuing = pki.certificate(ISSUING)
    issuing_key = pki.private_key(ISSUING)
    responder = pki.certificate(OCSP)
    responder_key = pki.private_key(OCSP)
    tsa_cert = pki.certificate(TSA)
    tsa_key = asn1_keys.PrivateKeyInfo.load(
        pki.private_key(TSA).private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tsa_private_key = pki.private_key(TSA)
    assert isinstance(tsa_private_key, rsa.RSAPrivateKey)  # noqa: S101 - the test PKI makes RSA keys
    stamper = _TestTimeStamper(
        private_key=tsa_private_key,
        tsa_cert=_asn1_cert(tsa_cert),
        tsa_key=tsa_key,
        certs_to_embed=SimpleCertificateStore.from_certs([_asn1_cert(issuing)]),
    )

    app = FastAPI(title="Test PKI (CA, CRL, OCSP, TSA)", docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/certs/{name}.crt")
    async def certificate(name: str) -> Response:
        if name not in {ROOT, ISSUING, OCSP, TSA}:
            raise HTTPException(404, "unknown certificate")
        der = pki.certificate(name).public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-cert")

    root = pki.certificate(ROOT)
    root_key = pki.private_key(ROOT)

    @app.get("/crl/{name}.crl")
    async def crl(name: str) -> Response:
        if name not in {ROOT, ISSUING}:
            raise HTTPException(404, "unknown CRL issuer")
        now = dt.datetime.now(dt.UTC)
        revoked = pki.revoked() if name == ISSUING else []
        # Backdated a minute for clock skew, but never to before a revocation it lists.
        issued = max([now - dt.timedelta(minutes=1), *(when for _, when in revoked)])
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name((root if name == ROOT else issuing).subject)
            .last_update(issued)
            .next_update(now + dt.timedelta(hours=12))
        )
        # Only the issuing CA revokes end-entity certificates; the root's CRL is empty.
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        signed = builder.sign(root_key if name == ROOT else issuing_key, hashes.SHA256())
        return Response(
            signed.public_bytes(serialization.Encoding.DER), media_type="application/pkix-crl"
        )

    @app.post("/ocsp")
    async def ocsp_responder(request: Request) -> Response:
        try:
            req = ocsp.load_der_ocsp_request(await _body(request))
        except ValueError:
            resp = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            )
            return Response(
                resp.public_bytes(serialization.Encoding.DER),
                media_type="application/ocsp-response",
            )
        status = pki.revocation_status(req.serial_number)
        if status is None:
            resp = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
            return Response(
                resp.public_bytes(serialization.Encoding.DER),
                media_type="application/ocsp-response",
            )
        revoked, when = status
        now = dt.datetime.now(dt.UTC)
        # The response names the certificate by the same hashes the request used.
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=req.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            # Backdated for clock skew, but never to before the revocation it reports.
            this_update=max(now - dt.timedelta(minutes=1), when)
            if revoked and when
            else now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(hours=1),
            revocation_time=when if revoked else None,
            revocation_reason=None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder).certificates(
            [responder]
        )
        for extension in req.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, critical=False)
        signed = builder.sign(responder_key, hashes.SHA256())
        return Response(
            signed.public_bytes(serialization.Encoding.DER), media_type="application/ocsp-response"
        )

    @app.post("/enrol")
    async def enrol(request: Request) -> Response:
        """Certify a PKCS#10 request (DER) for a registration authority holding the RA token.

        The signing service is that RA: it generates the key in its token, proves possession with
        the CSR and asks here. Without a configured RA token nothing is issued (fail closed).
        """
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if (
            not ra_token
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(presented.encode(), ra_token.encode())
        ):
            raise HTTPException(401, "registration authority token required")
        if request.headers.get("content-type", "").split(";")[0].strip() != _PKCS10:
            raise HTTPException(415, f"send a DER certificate request as {_PKCS10}")
        try:
            cert = pki.issue_from_csr(await _body(request))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return Response(
            cert.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert"
        )

    @app.post("/tsa")
    async def timestamp(request: Request) -> Response:
        try:
            req = tsp.TimeStampReq.load(await _body(request))
            _ = req["message_imprint"]["hashed_message"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise HTTPException(400, "malformed timestamp request") from exc
        response = await stamper.async_request_tsa_response(req)
        return Response(response.dump(), media_type="application/timestamp-reply")

    return app
