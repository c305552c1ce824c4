"""How ``gateway-scan`` reaches Keycloak, the audit trail and the gateway's own services.

The same settings object as ``idp-config``'s (:class:`~idp_config.connection.KeycloakConnection`:
the environment and/or a settings file, ``--stack FOLDER`` for the local gateway's
``connection.json``), with the scanner's own part: the ``SCAN_*`` names. The scan of the gateway
itself runs when its services and seal certificate are given (``SCAN_SIGNING_URL``,
``SCAN_AUDIT_URL``, ``SCAN_SEAL_CERTIFICATE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from idp_config.connection import KeycloakConnection, Secret, trail_settings
from scanners.sso_login import ScanAccount

if TYPE_CHECKING:
    from audit.trail import TrailSettings


class ScanConnection(KeycloakConnection):
    foreign_prefixes = (
        "idp_client_",
        "idp_user_",
        "idp_provider_",
        "idp_audit_",
        "idp_smtp_",
        "population_",
    )

    #: The audit trail findings are recorded in (the ``scanners`` producer; it may only append).
    scan_redis_url: str | None = None
    scan_redis_username: str | None = None
    scan_redis_password: Secret | None = None
    scan_mac_key: Secret | None = None
    #: Whether registered systems may be on the scanner's own host (``SCAN_LOOPBACK_TARGETS``): only
    #: where they really run there (the development stack, the tests); never in production.
    scan_loopback_targets: bool = False
    #: The gateway's own services, for their headers and TLS (comma-separated in the environment).
    scan_own_services: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The scan of the gateway itself: its two services and the organisation seal's certificate.
    scan_signing_url: str | None = None
    scan_audit_url: str | None = None
    scan_seal_certificate: Path | None = None
    #: What the last scan found (to tell new findings from known ones).
    scan_state_file: Path = Path(".work/scans/last.json")
    #: The audit store, read (read-only) for personal data (Law 91/2025/QH15).
    scan_audit_store: Path | None = None
    #: The account the dynamic scan logs in with to the dashboard, through the SSO with its second
    #: factor (:mod:`scanners.sso_login`); without it the dashboard is scanned logged out.
    scan_dashboard_username: str | None = None
    scan_dashboard_password: Secret | None = None
    #: Where that account's second factor is kept (0600; enrolled at its first login).
    scan_dashboard_totp_file: Path = Path(".work/scans/dashboard-totp.json")

    @field_validator("scan_own_services", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    def dashboard_account(self) -> ScanAccount | None:
        if not self.scan_dashboard_username or self.scan_dashboard_password is None:
            return None
        return ScanAccount(
            self.scan_dashboard_username,
            self.scan_dashboard_password.get_secret_value(),
            self.scan_dashboard_totp_file,
            identity_provider=self.keycloak_url,
        )

    def audit_trail(self) -> TrailSettings:
        """Findings must be audited: without a trail the scan does not run."""
        return trail_settings(
            "SCAN_",
            redis_url=self.scan_redis_url,
            redis_username=self.scan_redis_username,
            redis_password=self.scan_redis_password,
            mac_key=self.scan_mac_key,
        )
