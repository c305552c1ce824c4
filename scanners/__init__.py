"""Scanners of live systems against the policies in ``policies/``.

Today: the Keycloak configuration scanner (:func:`scan_realm`) and the HTTP headers scanner
(:func:`scan_headers`), both restricted to the :class:`TargetRegistry`. TLS (sslyze), OWASP ZAP and
account hygiene come with the compliance issue.
"""

from scanners.account_hygiene import scan_accounts
from scanners.errors import ScannerError, ScanTargetUnreachable
from scanners.http_headers import scan_headers
from scanners.keycloak_config import scan_realm
from scanners.targets import TargetNotRegistered, TargetRegistry

__all__ = [
    "ScanTargetUnreachable",
    "ScannerError",
    "TargetNotRegistered",
    "TargetRegistry",
    "scan_accounts",
    "scan_headers",
    "scan_realm",
]
