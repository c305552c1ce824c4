"""The TLS scanner (sslyze, Mozilla intermediate) against a deliberately weak and a sound test server.

Both servers are real TLS servers on loopback started by the test: the weak one accepts TLS 1.0 and 1.1,
every cipher OpenSSL still has, and a self-signed certificate that expires in ten days; the sound one
accepts TLS 1.2 and 1.3 only, with the Mozilla intermediate cipher list and a certificate from the test
PKI. sslyze probes them from its own environment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import Stack
from devstack.pki import ISSUING, ROOT
from scanners import TargetNotRegistered, TargetRegistry, scan_tls

pytestmark = [pytest.mark.pki]

INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the scanner's probes end many handshakes on purpose


def _serve(context: ssl.SSLContext) -> tuple[ThreadingHTTPServer, str]:
    server = _QuietServer(("127.0.0.1", 0), _Ok)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}/"


def _write(
    folder: Path,
    name: str,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    *chain: x509.Certificate,
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain))
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def servers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("tls")
    # Weak: self-signed, ten days left, TLS 1.0 and every cipher.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "weak.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    weak = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    weak.load_cert_chain(*_write(folder, "weak", cert, key))
    weak.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    weak.set_ciphers("ALL:@SECLEVEL=0")
    # Sound: a certificate from the test PKI, TLS 1.2+ and the intermediate cipher list.
    sound_cert, sound_key = stack.pki.issue_server_certificate("127.0.0.1", days=90)
    sound = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sound.load_cert_chain(
        *_write(folder, "sound", sound_cert, sound_key, stack.pki.certificate(ISSUING))
    )
    sound.minimum_version = ssl.TLSVersion.TLSv1_2
    sound.set_ciphers(INTERMEDIATE_CIPHERS)
    weak_server, weak_url = _serve(weak)
    sound_server, sound_url = _serve(sound)
    yield {"weak": weak_url, "sound": sound_url, "ca": str(stack.pki.cert_path(ROOT))}
    for server in (weak_server, sound_server):
        server.shutdown()
        server.server_close()


def test_weak_tls_is_caught_rule_by_rule(servers: dict[str, str]) -> None:
    registry = TargetRegistry([servers["weak"]], loopback_allowed=True)
    findings = asyncio.run(scan_tls(servers["weak"], registry, ca_file=Path(servers["ca"])))
    evidence: dict[str, str] = {}
    for finding in findings:
        evidence[finding.rule_id] = evidence.get(finding.rule_id, "") + finding.evidence + "\n"
    assert "TLSv1.0" in evidence["TLS-001"] and "TLSv1.1" in evidence["TLS-001"]
    assert "ciphers:" in evidence["TLS-002"] and "tls_curves:" in evidence["TLS-002"]
    assert "does not chain to a trusted root" in evidence["TLS-003"]
    assert "expires in" in evidence["TLS-004"]
    assert next(f for f in findings if f.rule_id == "TLS-001").remediation.vi.startswith(
        "Tắt SSLv2"
    )


def test_sound_tls_has_no_high_or_medium_protocol_or_certificate_finding(
    servers: dict[str, str],
) -> None:
    registry = TargetRegistry([servers["sound"]], loopback_allowed=True)
    findings = asyncio.run(scan_tls(servers["sound"], registry, ca_file=Path(servers["ca"])))
    rules = {f.rule_id for f in findings}
    assert not rules & {"TLS-001", "TLS-003", "TLS-004", "TLS-005"}, findings


def test_tls_scan_of_an_unregistered_host_is_refused_before_any_connection(
    servers: dict[str, str],
) -> None:
    with pytest.raises(TargetNotRegistered):
        asyncio.run(
            scan_tls(
                "https://127.0.0.1:9/", TargetRegistry([servers["weak"]], loopback_allowed=True)
            )
        )
