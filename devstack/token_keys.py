"""The stack's keys in its SoftHSM2 token, each generated or imported once and kept after.

The organisation seal (RSA, certified by the test CA), the audit log's checkpoint key (Ed25519; its
verifier key published for ``gateway-audit verify``), and the signing service's audit-event key
(HMAC, imported non-extractable; the audit service checks its seals with the same key from the
secrets). No key leaves the token.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from audit.checkpoints import TokenCheckpointSigner
from devstack import softhsm
from devstack.pki import TestPki
from gateway_runtime.keystore import TokenKeystore

TOKEN_LABEL = "edu-gateway"  # noqa: S105 - a PKCS#11 token label, not a password
SEAL_KEY = "org-seal"
#: The log's Ed25519 checkpoint key; ``audit-checkpoint`` is the RSA key of folders from before
#: signed-note checkpoints, kept only to publish its public key for their old checkpoints.
CHECKPOINT_KEY = "audit-checkpoint-ed25519"
LEGACY_CHECKPOINT_KEY = "audit-checkpoint"
CHECKPOINT_ORIGIN = "localhost/edu-gateway/audit"
#: The signing service's audit-event key in the token (its other producers' keys are secrets).
SIGNING_AUDIT_MAC_KEY = "audit-mac-signing"


def enrol_seal(folder: Path, pki: TestPki, user_pin: str) -> Path:
    """Generate the organisation seal key in the token (once) and certify it with the test CA;
    its certificate goes in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path = folder / f"{SEAL_KEY}.pem"
    keystore = TokenKeystore(
        module=softhsm.module_path(), token_label=TOKEN_LABEL, user_pin=user_pin
    )
    try:
        if not keystore.has_key(SEAL_KEY):
            keystore.generate_rsa_key(SEAL_KEY)
            cert_path.unlink(missing_ok=True)
        if not cert_path.exists():
            csr = keystore.certificate_request(
                SEAL_KEY,
                {
                    "country_name": "VN",
                    "organization_name": "Sở Giáo dục và Đào tạo",
                    "organizational_unit_name": "Cổng an ninh giáo dục",
                    "common_name": "Sở GD&ĐT — Dấu cơ quan (thử nghiệm)",
                },
            )
            cert = pki.issue_from_csr(csr)
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    finally:
        keystore.close()
    return cert_path


def enrol_checkpoint_key(public_key: Path, user_pin: str) -> Path:
    """Generate the log's Ed25519 checkpoint key in the token (once); publish its verifier key
    at ``public_key``.

    A folder from before signed notes has an RSA key under the old label: it stays in the
    token and its public key stays published (``checkpoint-key.pem``) for the old checkpoints."""
    keystore = TokenKeystore(
        module=softhsm.module_path(), token_label=TOKEN_LABEL, user_pin=user_pin
    )
    try:
        if not keystore.has_key(CHECKPOINT_KEY):
            keystore.generate_ed25519_key(CHECKPOINT_KEY)
        vkey = TokenCheckpointSigner(keystore, CHECKPOINT_KEY, CHECKPOINT_ORIGIN).verifier.vkey()
    finally:
        keystore.close()
    public_key.parent.mkdir(parents=True, exist_ok=True)
    public_key.write_text(vkey + "\n")
    return public_key


def enrol_signing_audit_key(user_pin: str, key: bytes) -> None:
    """Import the signing service's audit-event key into the token (once), non-extractable;
    the audit service gets the same key from the secrets (``AUDIT_PRODUCER_KEYS``)."""
    keystore = TokenKeystore(
        module=softhsm.module_path(), token_label=TOKEN_LABEL, user_pin=user_pin
    )
    try:
        if not keystore.has_secret_key(SIGNING_AUDIT_MAC_KEY):
            keystore.import_hmac_key(SIGNING_AUDIT_MAC_KEY, key)
    finally:
        keystore.close()
