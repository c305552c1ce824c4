"""The settings file of the local gateway, for the command-line tools (``--stack FOLDER``).

``idp-config`` and ``gateway-scan`` read how to reach Keycloak and the audit trail from their
settings object (``idp_config.connection``, ``scanners.connection``): the environment, or a settings
file. For the gateway ``gateway run`` starts, this module writes that file, ``connection.json`` in
the stack's folder (mode 0600: it holds the Keycloak admin password, the demo's client secrets and
passwords, the tools' Redis passwords and producer keys), and removes it when the gateway stops.
The tools never import the dev stack: they only read the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.producers import Producer
from idp_config.connection import CONNECTION_FILE

#: The demo realm's account for the dashboard's logged-in dynamic scan (``education.yaml``).
SCAN_ACCOUNT = "quet.dast"

if TYPE_CHECKING:
    from devstack.stack import Stack, StackInfo


def connection_settings(stack: Stack, info: StackInfo) -> dict[str, Any]:
    """The values of the settings file, by the names the tools' settings objects read."""
    spec = stack.realm_spec
    accounts, scanners = Producer.ACCOUNTS, Producer.SCANNERS
    return {
        "keycloak_url": info.keycloak_url,
        "keycloak_admin_user": "admin",
        "keycloak_admin_password": stack.secrets.get("keycloak:admin"),
        "idp_realm_variables": stack.realm_variables,
        "idp_client_secrets": {c.client_id: stack.client_secret(c.client_id) for c in spec.clients},
        "idp_user_passwords": {u.username: stack.user_password(u.username) for u in spec.users},
        "idp_provider_secrets": {
            p.alias: stack.provider_secret(p.alias) for p in spec.identity_providers
        },
        "idp_smtp_password": stack.mail_password,
        "idp_audit_redis_url": info.redis_url,
        "idp_audit_redis_username": accounts.value,
        "idp_audit_redis_password": stack.redis_password(accounts.value),
        "idp_audit_mac_key": stack.producer_key(accounts),
        "scan_redis_url": info.redis_url,
        "scan_redis_username": scanners.value,
        "scan_redis_password": stack.redis_password(scanners.value),
        "scan_mac_key": stack.producer_key(scanners),
        # The development stack's systems all run on this host.
        "scan_loopback_targets": True,
        "scan_own_services": [info.signing_url, info.audit_url],
        "scan_signing_url": info.signing_url,
        "scan_audit_url": info.audit_url,
        "scan_seal_certificate": info.seal_certificate,
        "scan_state_file": str(stack.folder / "scans" / "last.json"),
        "scan_audit_store": str(stack.folder / "audit" / "events.sqlite3"),
        "scan_dashboard_username": SCAN_ACCOUNT,
        "scan_dashboard_password": stack.user_password(SCAN_ACCOUNT),
        "scan_dashboard_totp_file": str(stack.folder / "scans" / "dashboard-totp.json"),
    }


def connection_path(stack: Stack) -> Path:
    return stack.folder / CONNECTION_FILE


def write_connection_file(stack: Stack, info: StackInfo) -> Path:
    """Write the file (0600, replaced atomically)."""
    values = connection_settings(stack, info)
    path = connection_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # created anew, so with this mode whatever was there before
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2)
    tmp.replace(path)
    return path
