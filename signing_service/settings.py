"""Settings of the signing service, from the environment (prefix ``SIGNING_``).

Secrets (the token's user PIN) have no default: the service refuses to start without them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SigningSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNING_", extra="forbid")

    #: The realm that issues tokens, e.g. ``http://localhost:8080/realms/education``.
    keycloak_issuer: str
    #: This service's client id in the realm: tokens must name it in ``aud``.
    client_id: str = "signing-service"

    #: The PKCS#11 module (SoftHSM2 in dev and tests, the HSM vendor's library in production).
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    token_label: str = "edu-gateway"  # noqa: S105 - a PKCS#11 token label, not a password
    user_pin: SecretStr
    #: The label of the organisation seal key in the token and its certificate chain on disk.
    key_label: str = "org-seal"
    certificate_path: Path
    chain_paths: list[Path] = Field(default_factory=list)
    #: Trust anchors for verification: every ``*.pem``/``*.crt``/``*.cer`` in this folder.
    trust_store: Path
    #: RFC 3161 timestamp authority for PAdES B-T and above.
    tsa_url: str | None = None

    #: The address people reach this service at: QR codes on signed documents point here.
    public_url: str = "http://127.0.0.1:8701"
    #: The sector's schools list (the realm's organisation): the unit a stamp and the verification
    #: page show is the signer's own (their account's ``unit_code``), named from here.
    organisation_file: Path = (
        Path(__file__).resolve().parent.parent / "idp_config" / "realm" / "schools.csv"
    )

    #: Where audit events wait when Redis cannot take them (replayed when it can).
    audit_spool_dir: Path = Path(".work/run/signing/audit-spool")

    #: Personal signing credentials: the registration endpoint of the CA that certifies keys the
    #: service generates in its token (a PKCS#10 request in, a DER certificate out), and the
    #: token that proves the service is a registration authority of that CA. Issued certificates
    #: chain through ``chain_paths``. Without them, enrolment answers 503.
    ca_enrol_url: str | None = None
    ca_enrol_token: SecretStr | None = None
    #: Remote signing (CSC): how long a signer has to approve on their device, how long the
    #: activation data (SAD) of an approval lives, and the most hashes one approval may cover.
    approval_seconds: int = Field(default=120, ge=10, le=900)
    sad_seconds: int = Field(default=300, ge=10, le=3600)
    max_hashes_per_approval: int = Field(default=2000, ge=1)
    #: Where approval requests are announced to the signer's device (push gateway, the citizens'
    #: app, an SMS gateway); unset: they are only logged (by id, never with the hashes).
    approval_webhook_url: str | None = None

    redis_url: str = "redis://127.0.0.1:6380/0"
    #: The service's own Redis user: its keys (batches, approvals, credentials) and XADD to the
    #: audit stream, nothing else (it cannot read, trim or delete the stream).
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    #: The HMAC key in the token that seals this service's audit events (imported once,
    #: non-extractable; the audit service holds the same key to check them).
    audit_mac_key_label: str = "audit-mac-signing"

    #: Uploads larger than this are refused with 413 before they are read whole.
    max_document_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    #: Untrusted PDFs are parsed in worker processes with these limits (see ``sandbox.py``).
    document_workers: int = Field(default=2, ge=1, le=64)
    document_memory_budget_bytes: int = Field(default=512 * 1024 * 1024, ge=32 * 1024 * 1024)
    document_timeout_seconds: float = Field(default=30.0, gt=0)
    max_pdf_objects: int = Field(default=200_000, gt=0)
    #: How long a verification worker reuses OCSP responses and CRLs it fetched (0: never).
    revocation_cache_seconds: float = Field(default=300.0, ge=0)
    #: Checks per minute and address on the public verification page (no login there).
    public_verify_per_minute: int = Field(default=30, ge=1)
    #: Batches: where their documents are kept, and how big one may be.
    batch_dir: Path = Path(".work/run/signing/batches")
    #: Records of signed documents made while Redis was down, stored when it is back.
    record_spool_path: Path = Path(".work/run/signing/document-records.pending")
    max_batch_documents: int = Field(default=2000, ge=1)
    #: How long a completed batch (its state, its signed documents) can still be fetched; then its
    #: state expires in Redis and its folder is removed. Each document's verification record
    #: (the QR code's reference) is kept apart and does not expire with it.
    batch_retention_days: float = Field(default=30.0, gt=0)
    max_batch_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    json_logs: bool | None = None
