"""What each service of the dev stack is told at start: its environment (the settings of
``audit/settings.py`` and ``signing_service/settings.py``), from the stack's secrets and addresses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from audit.producers import Producer
from devstack import softhsm
from devstack.pki import ISSUING
from devstack.token_keys import (
    CHECKPOINT_KEY,
    CHECKPOINT_ORIGIN,
    SEAL_KEY,
    SIGNING_AUDIT_MAC_KEY,
    TOKEN_LABEL,
)

if TYPE_CHECKING:
    from devstack.stack import Stack


def audit_environment(
    stack: Stack,
    *,
    issuer: str,
    redis_url: str,
    softhsm_conf: Path,
    user_pin: str,
    witnesses: list[dict[str, str]],
) -> dict[str, str]:
    """The audit service's settings (where its store is depends on the topology)."""
    return {
        "AUDIT_KEYCLOAK_ISSUER": issuer,
        "AUDIT_REDIS_URL": redis_url,
        "AUDIT_REDIS_USERNAME": "audit",
        "AUDIT_REDIS_PASSWORD": stack.redis_password("audit"),
        "AUDIT_PRODUCER_KEYS": json.dumps({p.value: stack.producer_key(p) for p in Producer}),
        **stack.audit_store_environment(),
        "AUDIT_ARCHIVE_DIR": str(stack.archive_dir),
        "AUDIT_RETENTION_INTERVAL_SECONDS": str(stack.retention_interval),
        "AUDIT_JSON_LOGS": "true",
        "SOFTHSM2_CONF": str(softhsm_conf),
        "AUDIT_PKCS11_MODULE": str(softhsm.module_path()),
        "AUDIT_TOKEN_LABEL": TOKEN_LABEL,
        "AUDIT_USER_PIN": user_pin,
        "AUDIT_CHECKPOINT_KEY_LABEL": CHECKPOINT_KEY,
        "AUDIT_CHECKPOINT_ORIGIN": CHECKPOINT_ORIGIN,
        "AUDIT_WITNESSES": json.dumps(witnesses),
        "AUDIT_WITNESS_QUORUM": "1",
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS": str(stack.checkpoint_interval),
        "AUDIT_COLLECTOR_CLIENT_SECRET": stack.client_secret("audit-collector"),
        "AUDIT_PSEUDONYM_KEY": stack.secrets.get("audit:pseudonym-key", length=32),
        "AUDIT_DASHBOARD_CLIENT_SECRET": stack.client_secret("audit-dashboard"),
        "AUDIT_SESSION_SECRET": stack.secrets.get("audit:session-key", length=32),
        "AUDIT_PUBLIC_URL": f"http://localhost:{stack.ports.audit}",
        "AUDIT_SECURE_COOKIES": "false",  # dev serves http://localhost
        "AUDIT_SIGNING_URL": f"http://127.0.0.1:{stack.ports.signing}",
        "AUDIT_REPORT_SIGNER_CLIENT_SECRET": stack.client_secret("audit-report-signer"),
        "AUDIT_KEYCLOAK_EVENTS_INTERVAL_SECONDS": str(min(stack.checkpoint_interval, 5.0)),
        **({"AUDIT_ALERT_WEBHOOK_URL": stack.alert_webhook_url} if stack.alert_webhook_url else {}),
    }


def signing_environment(
    stack: Stack,
    *,
    issuer: str,
    redis_url: str,
    softhsm_conf: Path,
    user_pin: str,
    seal_certificate: Path,
) -> dict[str, str]:
    """The signing service's settings: the token, the seal, the test PKI and its audit trail."""
    return {
        "SOFTHSM2_CONF": str(softhsm_conf),
        "SIGNING_KEYCLOAK_ISSUER": issuer,
        "SIGNING_PKCS11_MODULE": str(softhsm.module_path()),
        "SIGNING_TOKEN_LABEL": TOKEN_LABEL,
        "SIGNING_USER_PIN": user_pin,
        "SIGNING_KEY_LABEL": SEAL_KEY,
        "SIGNING_CERTIFICATE_PATH": str(seal_certificate),
        "SIGNING_CHAIN_PATHS": json.dumps([str(stack.pki.cert_path(ISSUING))]),
        "SIGNING_TRUST_STORE": str(stack.pki.trust_store),
        "SIGNING_TSA_URL": stack.pki.urls.tsa,
        # "localhost", not an address: the approval page's passkeys are bound to a name.
        "SIGNING_PUBLIC_URL": f"http://localhost:{stack.ports.signing}",
        "SIGNING_CA_ENROL_URL": f"{stack.pki.urls.base}/enrol",
        "SIGNING_CA_ENROL_TOKEN": stack.secrets.get("pki:ra-token", length=24),
        **(
            {"SIGNING_APPROVAL_WEBHOOK_URL": stack.approval_webhook_url}
            if stack.approval_webhook_url
            else {}
        ),
        "SIGNING_BATCH_DIR": str(stack.folder / "signing" / "batches"),
        "SIGNING_AUDIT_SPOOL_DIR": str(stack.folder / "signing" / "audit-spool"),
        "SIGNING_RECORD_SPOOL_PATH": str(stack.folder / "signing" / "document-records.pending"),
        "SIGNING_REVOCATION_CACHE_SECONDS": str(stack.revocation_cache_seconds),
        "SIGNING_REDIS_URL": redis_url,
        "SIGNING_REDIS_USERNAME": "signing",
        "SIGNING_REDIS_PASSWORD": stack.redis_password("signing"),
        "SIGNING_AUDIT_MAC_KEY_LABEL": SIGNING_AUDIT_MAC_KEY,
        "SIGNING_JSON_LOGS": "true",
    }
