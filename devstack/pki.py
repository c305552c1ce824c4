"""The test PKI of dev and tests: a root CA, an issuing CA, an OCSP responder, a CRL and a TSA.

Generated once per stack folder with ``cryptography`` and kept there (keys ``0600``); production replaces
all of it by configuration with the national root CA and real CAs. Certificates carry AIA (OCSP, CA
issuers) and CRL distribution point URLs on the PKI service's loopback address, so that revocation is
checked over HTTP as it is in production.

The CA keys are files here because this is a *test* PKI; the gateway's own signing keys are generated in
the PKCS#11 token and only their CSRs come here.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from devstack.errors import StackError

ROOT = "root-ca"
ISSUING = "issuing-ca"
OCSP = "ocsp-responder"
TSA = "tsa"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sở GD&ĐT (test PKI)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _key_usage(**granted: bool) -> x509.KeyUsage:
    """A key usage extension granting only the named uses."""
    uses = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    if set(granted) - set(uses):
        raise ValueError(f"not a key usage: {sorted(set(granted) - set(uses))}")
    return x509.KeyUsage(**{use: granted.get(use, False) for use in uses})


@dataclass(frozen=True)
class PkiUrls:
    base: str

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    @property
    def crl(self) -> str:
        return self.crl_of(ISSUING)

    def crl_of(self, issuer: str) -> str:
        return f"{self.base}/crl/{issuer}.crl"

    @property
    def tsa(self) -> str:
        return f"{self.base}/tsa"

    def ca_issuers(self, name: str) -> str:
        return f"{self.base}/certs/{name}.crt"


class TestPki:
    """A test PKI rooted in one folder. :meth:`ensure` creates it once; later calls reuse it."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = folder
        self.urls = PkiUrls(base_url.rstrip("/"))

    # -- files -------------------------------------------------------------------------------
    def cert_path(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def _key_path(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    @property
    def trust_store(self) -> Path:
        return self.folder / "trust"

    @property
    def _index_path(self) -> Path:
        return self.folder / "index.json"

    def certificate(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_path(name).read_bytes())

    def private_key(self, name: str) -> CertificateIssuerPrivateKeyTypes:
        key = serialization.load_pem_private_key(self._key_path(name).read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101 - this PKI only makes RSA keys
        return key

    def _write(self, name: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
        self.cert_path(name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path = self._key_path(name)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)

    # -- index of issued certificates --------------------------------------------------------
    def _index(self) -> dict[str, dict[str, str | None]]:
        if not self._index_path.exists():
            return {}
        data: dict[str, dict[str, str | None]] = json.loads(self._index_path.read_text())
        return data

    def _save_index(self, index: dict[str, dict[str, str | None]]) -> None:
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=2))
        tmp.replace(self._index_path)

    def revocation_status(self, serial: int) -> tuple[bool, dt.datetime | None] | None:
        """``None`` if this CA never issued ``serial``; else ``(revoked, when)``."""
        entry = self._index().get(str(serial))
        if entry is None:
            return None
        revoked_at = entry.get("revoked_at")
        return (
            revoked_at is not None,
            dt.datetime.fromisoformat(revoked_at) if revoked_at else None,
        )

    def revoke(self, serial: int) -> None:
        index = self._index()
        entry = index[str(serial)]
        entry["revoked_at"] = _now().isoformat()
        self._save_index(index)

    def revoked(self) -> list[tuple[int, dt.datetime]]:
        return [
            (int(serial), dt.datetime.fromisoformat(revoked_at))
            for serial, entry in self._index().items()
            if (revoked_at := entry.get("revoked_at"))
        ]

    # -- creation ----------------------------------------------------------------------------
    def exists(self) -> bool:
        return all(self.cert_path(n).exists() for n in (ROOT, ISSUING, OCSP, TSA))

    def ensure(self) -> None:
        """Create the hierarchy if it does not exist yet (idempotent).

        The certificates name the PKI service's address (OCSP, CRL, CA issuers), so a PKI made for
        one address cannot serve at another: that is refused with a clear error.
        """
        marker = self.folder / "base-url"
        if self.exists():
            made_for = marker.read_text().strip() if marker.exists() else self.urls.base
            if made_for != self.urls.base:
                raise StackError(
                    f"the test PKI in {self.folder} was made for {made_for}, not {self.urls.base}; "
                    "start the stack with the same ports or remove its folder"
                )
            self._register_service_certificates()
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        now = _now()
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        root = (
            self._builder(
                _name("Edu Gateway Test Root CA"),
                _name("Edu Gateway Test Root CA"),
                root_key.public_key(),
                now,
                days=3650,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        self._write(ROOT, root, root_key)

        issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuing = (
            self._builder(
                _name("Edu Gateway Test Issuing CA"),
                root.subject,
                issuing_key.public_key(),
                now,
                days=1825,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            # The root publishes a CRL too, so that B-LT can prove the intermediate unrevoked.
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(self.urls.crl_of(ROOT))],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        self._write(ISSUING, issuing, issuing_key)

        for name, cn, eku in (
            (OCSP, "Edu Gateway Test OCSP Responder", ExtendedKeyUsageOID.OCSP_SIGNING),
            (TSA, "Edu Gateway Test Time Stamping Authority", ExtendedKeyUsageOID.TIME_STAMPING),
        ):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            builder = (
                self._builder(_name(cn), issuing.subject, key.public_key(), now, days=1825)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
                .add_extension(
                    _key_usage(digital_signature=True),
                    critical=True,
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()),
                    critical=False,
                )
            )
            if name == OCSP:
                builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
            else:
                builder = self._with_revocation_pointers(builder)
            self._write(name, builder.sign(issuing_key, hashes.SHA256()), key)

        marker.write_text(self.urls.base)
        self.trust_store.mkdir(exist_ok=True)
        (self.trust_store / f"{ROOT}.pem").write_bytes(self.cert_path(ROOT).read_bytes())
        self._save_index({})
        self._register_service_certificates()

    def _register_service_certificates(self) -> None:
        """The TSA's and the OCSP responder's certificates are issued by this CA too: the OCSP
        responder answers for them (the TSA's AIA points to it) instead of UNAUTHORIZED."""
        index = self._index()
        for name in (TSA, OCSP):
            cert = self.certificate(name)
            index.setdefault(
                str(cert.serial_number),
                {
                    "subject": cert.subject.rfc4514_string(),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "revoked_at": None,
                },
            )
        self._save_index(index)

    @staticmethod
    def _builder(
        subject: x509.Name,
        issuer: x509.Name,
        public_key: rsa.RSAPublicKey,
        now: dt.datetime,
        *,
        days: int,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
        )

    def _with_revocation_pointers(
        self, builder: x509.CertificateBuilder
    ) -> x509.CertificateBuilder:
        return builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(self.urls.ocsp),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(self.urls.ca_issuers(ISSUING)),
                    ),
                ]
            ),
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(self.urls.crl)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )

    # -- issuance ----------------------------------------------------------------------------
    def issue_from_csr(self, csr_der: bytes, *, days: int = 365) -> x509.Certificate:
        """Issue a document-signing certificate for a CSR whose key lives elsewhere (the token)."""
        request = x509.load_der_x509_csr(csr_der)
        if not request.is_signature_valid:
            raise ValueError("the certificate request's signature does not verify")
        public_key = request.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < 2048:
            raise ValueError("only RSA keys of 2048 bits or more are certified")
        issuing = self.certificate(ISSUING)
        issuing_key = self.private_key(ISSUING)
        builder = (
            self._builder(request.subject, issuing.subject, public_key, _now(), days=days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, content_commitment=True),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()),
                critical=False,
            )
        )
        cert = self._with_revocation_pointers(builder).sign(issuing_key, hashes.SHA256())
        index = self._index()
        index[str(cert.serial_number)] = {
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "revoked_at": None,
        }
        self._save_index(index)
        return cert

    def issue_server_certificate(
        self, address: str, *, days: int = 90
    ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A TLS server certificate (and its software key) for an IP address or host name, for
        test servers that the TLS scanner probes."""
        import ipaddress

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(address))
        except ValueError:
            name = x509.DNSName(address)
        issuing = self.certificate(ISSUING)
        issuing_key = self.private_key(ISSUING)
        builder = (
            self._builder(_name(address), issuing.subject, key.public_key(), _now(), days=days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([name]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()),
                critical=False,
            )
        )
        return self._with_revocation_pointers(builder).sign(issuing_key, hashes.SHA256()), key
