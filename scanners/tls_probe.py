"""Probe one TLS endpoint with sslyze and print what it found as JSON (stdout).

Runs in sslyze's own virtual environment (``.work/tools/sslyze``, made by ``scripts/bootstrap.sh``),
not the project's: sslyze pins older releases of cryptography than pyHanko needs, so the two cannot
share an environment. It therefore imports nothing from the project. ``scanners/tls.py`` runs it and
turns its answer into findings against the policies.

Usage: ``python tls_probe.py HOST PORT ADDRESS|- [CA_FILE]`` (``ADDRESS``: the one the scanner
checked, connected to instead of resolving ``HOST`` again; ``-``: resolve it)
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.errors import ServerHostnameCouldNotBeResolved
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

_PROTOCOLS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}


def _reason(error: type[BaseException] | None) -> str:
    """The scanner's word for why the connection failed (``scanners.errors.Unreachable``)."""
    names = {cls.__name__ for cls in (error.__mro__ if error is not None else ())}
    if "ServerHostnameCouldNotBeResolved" in names:
        return "name-not-resolved"
    if names & {"ConnectionToServerTimedOut", "TlsHandshakeTimedOut"}:
        return "timed-out"
    if "ServerRejectedConnection" in names:
        return "connection-refused"
    if "TlsHandshakeFailed" in names:
        return "tls-handshake-failed"
    return "other"


def probe(host: str, port: int, ca_file: Path | None, address: str | None = None) -> dict[str, Any]:
    extra = ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_file) if ca_file else None
    )
    try:
        # At the address the scanner checked (no second resolution: DNS rebinding), else resolved.
        location = ServerNetworkLocation(hostname=host, port=port, ip_address=address)
    except ServerHostnameCouldNotBeResolved as exc:
        return {"reachable": False, "reason": _reason(type(exc)), "error": type(exc).__name__}
    request = ServerScanRequest(
        server_location=location,
        scan_commands=set(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER),
        scan_commands_extra_arguments=extra,
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    result = next(iter(scanner.get_results()))
    if result.scan_status != ServerScanStatusEnum.COMPLETED:
        trace = result.connectivity_error_trace
        return {
            "reachable": False,
            "reason": _reason(trace.exc_type if trace is not None else None),
            "error": str(trace or "")[-2000:],
        }
    protocols = []
    attempts = result.scan_result
    for attribute, name in _PROTOCOLS.items():
        attempt = getattr(attempts, attribute)
        if attempt.result is not None and attempt.result.accepted_cipher_suites:
            protocols.append(name)
    certificate: dict[str, Any] = {}
    cert_attempt = attempts.certificate_info
    if cert_attempt.result is not None and cert_attempt.result.certificate_deployments:
        deployment = cert_attempt.result.certificate_deployments[0]
        leaf = deployment.received_certificate_chain[0]
        certificate = {
            "subject": leaf.subject.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "days_left": (leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)).days,
            "trusted": any(v.was_validation_successful for v in deployment.path_validation_results),
        }
    issues: dict[str, str] = {}
    try:
        check_server_against_tls_configuration(
            result,
            MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE),
        )
    except ServerNotCompliantWithTlsConfiguration as exc:
        issues = {str(k): str(v) for k, v in exc.issues.items()}
    return {
        "reachable": True,
        "protocols": protocols,
        "certificate": certificate,
        "mozilla_intermediate_issues": issues,
    }


if __name__ == "__main__":
    # host port address|- [ca_file]
    ca = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    at = sys.argv[3] if sys.argv[3] != "-" else None
    print(json.dumps(probe(sys.argv[1], int(sys.argv[2]), ca, at)))
