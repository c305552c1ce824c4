"""Scanners of live systems against the policies in ``policies/``.

Today: the Keycloak configuration scanner (:func:`scan_realm`). TLS (sslyze), HTTP headers, OWASP ZAP
and account hygiene come with the compliance issue.
"""

from scanners.errors import ScannerError, ScanTargetUnreachable
from scanners.keycloak_config import scan_realm

__all__ = ["ScanTargetUnreachable", "ScannerError", "scan_realm"]
