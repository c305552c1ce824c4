"""Scanners of live systems against the policies in ``policies/``.

The Keycloak configuration (:func:`scan_realm`, with the realm file's :func:`acceptances`), account hygiene (:func:`scan_accounts`), HTTP
security headers and cookies (:func:`scan_headers`) and TLS with sslyze (:func:`scan_tls`), the last
two restricted to the :class:`TargetRegistry`. OWASP ZAP comes with the compliance issue.
"""

from scanners.account_hygiene import scan_accounts
from scanners.errors import ScannerError, ScanTargetUnreachable
from scanners.gateway import scan_gateway
from scanners.http_headers import scan_headers
from scanners.keycloak_config import acceptances, scan_realm
from scanners.targets import TargetNotRegistered, TargetRegistry
from scanners.tls import scan_tls

__all__ = [
    "ScanTargetUnreachable",
    "ScannerError",
    "TargetNotRegistered",
    "TargetRegistry",
    "acceptances",
    "scan_accounts",
    "scan_gateway",
    "scan_headers",
    "scan_realm",
    "scan_tls",
]
