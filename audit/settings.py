"""Settings of the audit service, from the environment (prefix ``AUDIT_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audit.producers import HmacSealer, Producer, ProducerKeyError, ProducerKeyring, decode_key


class WitnessSettings(BaseModel):
    """One witness the checkpoints are sent to: its address and its verifier key (type 0x04)."""

    model_config = ConfigDict(extra="forbid")
    url: str
    vkey: str


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="forbid")

    #: The realm that issues tokens, e.g. ``http://localhost:8080/realms/education``.
    keycloak_issuer: str
    #: This service's client id in the realm: tokens must name it in ``aud``.
    client_id: str = "audit-service"
    redis_url: str = "redis://127.0.0.1:6380/0"
    #: The audit service's own Redis user (reads and acknowledges the stream; nobody has +@all).
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    #: Every producer's key (base64, ≥ 32 bytes; several separated by commas while one rotates),
    #: by producer (``signing``, ``audit``, ``accounts``, ``scanners``): JSON in
    #: ``AUDIT_PRODUCER_KEYS``. An event is stored only under its producer's valid seal; ``audit``
    #: seals the service's own events (and the Keycloak events it collects).
    producer_keys: dict[str, SecretStr] = Field(default_factory=dict)
    store_path: Path = Path(".work/run/audit/events.sqlite3")
    #: PostgreSQL for production (``postgresql://user:password@host/db``); when set, it is the store
    #: and ``store_path`` is not used. Its user is the runtime role: it may read, append and prune,
    #: never change the schema.
    database_url: SecretStr | None = None
    #: The migration role's URL (the owner of the store's tables), for ``gateway-audit migrate``
    #: only; the service itself never has it.
    migration_database_url: SecretStr | None = None

    #: Signed checkpoints: the token holding the checkpoint key. Without a PIN, none are made.
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    token_label: str = "edu-gateway"  # noqa: S105 - a PKCS#11 token label, not a password
    user_pin: SecretStr | None = None
    #: An Ed25519 key in the token (checkpoints are C2SP signed notes). An RSA key under this label
    #: (from before) is refused with a message; ``gateway run`` enrols the Ed25519 one.
    checkpoint_key_label: str = "audit-checkpoint-ed25519"
    checkpoint_interval_seconds: float = Field(default=60.0, gt=0)
    #: The first line of every checkpoint and the log key's name: unique for this log, no spaces or
    #: '+', conventionally ``<host>/edu-gateway/audit``.
    checkpoint_origin: str = "localhost/edu-gateway/audit"
    #: Witnesses (``[{"url": ..., "vkey": ...}]``) and how many must cosign for "witnessed".
    witnesses: list[WitnessSettings] = Field(default_factory=list)
    witness_quorum: int = Field(default=1, ge=1)
    witness_timeout_seconds: float = Field(default=3.0, gt=0)
    #: Keycloak's login and admin events, pulled by the ``audit-collector`` service account.
    collector_client_id: str = "audit-collector"
    collector_client_secret: SecretStr | None = None
    keycloak_events_interval_seconds: float = Field(default=5.0, gt=0)
    #: Key of the HMAC that stands in for citizen ID numbers (Law 91/2025/QH15, Article 3: minimisation).
    pseudonym_key: SecretStr | None = None

    #: Retention: days per event class (authentication, api_activity, account_change, finding)
    #: overriding the personal-data policy's defaults (``policies/privacy.yaml``); at least a year.
    retention_days: dict[
        Literal["authentication", "api_activity", "account_change", "finding"],
        Annotated[int, Field(ge=365, le=36500)],
    ] = Field(default_factory=dict)
    #: Where expired events go (archives that still verify), and how often retention runs.
    archive_dir: Path = Path(".work/run/audit/archives")
    retention_interval_seconds: float = Field(default=86400.0, gt=0)

    #: The sector's schools list (the realm's organisation): which schools a district officer sees.
    organisation_file: Path = (
        Path(__file__).resolve().parent.parent / "idp_config" / "realm" / "schools.csv"
    )

    #: Detection rules' thresholds, and where alerts are POSTed (besides the audit log itself).
    detection_config: Path = Path(__file__).resolve().parent.parent / "policies" / "detection.yaml"
    alert_webhook_url: str | None = None

    #: The dashboard (``/dashboard``): its client in the realm, the key signing its session cookie,
    #: and the address officers reach it at (the OIDC redirect goes there). Without the secrets,
    #: there is no dashboard.
    dashboard_client_id: str = "audit-dashboard"
    dashboard_client_secret: SecretStr | None = None
    session_secret: SecretStr | None = None
    public_url: str = "http://localhost:8702"
    #: Session cookies only over HTTPS; turn off only for http://localhost in dev.
    secure_cookies: bool = True

    #: Signed PDF reports: the signing service, and the service account that seals the reports.
    signing_url: str | None = None
    report_signer_client_id: str = "audit-report-signer"
    report_signer_client_secret: SecretStr | None = None

    json_logs: bool | None = None

    @field_validator("checkpoint_origin")
    @classmethod
    def _origin_is_a_key_name(cls, value: str) -> str:
        if not value or any(c.isspace() or c == "+" for c in value):
            raise ValueError("the checkpoint origin has no spaces and no '+'")
        return value

    @model_validator(mode="after")
    def _quorum_fits(self) -> AuditSettings:
        if self.witnesses and self.witness_quorum > len(self.witnesses):
            raise ValueError(
                f"witness_quorum {self.witness_quorum} is more than the "
                f"{len(self.witnesses)} witnesses configured"
            )
        return self

    def keyring(self) -> ProducerKeyring:
        """The keys that authenticate producers' events (refused if a name or key is wrong)."""
        return ProducerKeyring(
            {
                name: [decode_key(part) for part in value.get_secret_value().split(",")]
                for name, value in self.producer_keys.items()
            }
        )

    def sealer(self) -> HmacSealer:
        """The audit service's own seal, for the events it records."""
        own = self.producer_keys.get(Producer.AUDIT.value)
        if own is None:
            raise ProducerKeyError(
                "AUDIT_PRODUCER_KEYS has no key for 'audit': the service could not record its own "
                "events (queries, alerts, Keycloak's events)"
            )
        return HmacSealer(Producer.AUDIT, decode_key(own.get_secret_value().split(",")[0]))

    def store_location(self) -> str | Path:
        """Where the events are kept: the PostgreSQL URL if one is set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.store_path

    def retention(self) -> dict[str, int]:
        """Days per event class: the policy's defaults, with this deployment's overrides."""
        from policies.privacy import default_privacy_policy

        days: dict[str, int] = {
            str(k): v for k, v in default_privacy_policy().audit_retention_days.items()
        }
        days.update({str(k): v for k, v in self.retention_days.items()})
        return days
