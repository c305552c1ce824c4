"""How the command-line tools reach Keycloak and the audit trail: one typed settings object.

The settings come from the environment and/or a settings file:

- the **environment**: ``KEYCLOAK_URL``, ``KEYCLOAK_ADMIN_USER``, ``KEYCLOAK_ADMIN_PASSWORD``,
  ``IDP_PROVIDER_SECRET_<ALIAS>``, the audit trail's ``IDP_AUDIT_REDIS_URL`` ... (every field
  below, in capitals);
- a **settings file** (``--settings FILE``): JSON whose keys are the same names in lower case,
  mode 0600 since it holds the admin password. ``--stack FOLDER`` reads ``FOLDER/connection.json``,
  which ``gateway run`` writes for the local gateway (and removes when it stops).

What the file gives wins over the environment, which fills in what the file leaves out (a file
without the admin password, the password from the environment). Secrets have no default and a
placeholder (``changeme``, ``<password>``, ``${...}``) is refused; errors name the variable and
the file, never a value. This module reads settings only: the dev stack writes the file, the
tools never import the dev stack.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from keycloak import KeycloakAdmin
from pydantic import AfterValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from idp_config.errors import ConnectionSettingsError

if TYPE_CHECKING:
    from audit.trail import TrailSettings

#: The settings file ``gateway run`` writes in its folder (``--stack FOLDER``).
CONNECTION_FILE = "connection.json"

_PLACEHOLDERS = frozenset(
    {"admin", "password", "passwd", "changeme", "change-me", "change_me", "secret", "todo", "xxx"}
)


def _not_placeholder(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    if not text:
        raise ValueError("empty")
    if (
        text.lower() in _PLACEHOLDERS
        or (text.startswith("<") and text.endswith(">"))
        or text.startswith("${")
        or set(text) <= {".", "*", "x", "X"}
    ):
        raise ValueError("a placeholder, not a secret: set the real value")
    return value


#: A secret: no default, never shown, never a placeholder.
Secret = Annotated[SecretStr, AfterValidator(_not_placeholder)]


class AuditTrailMissing(ConnectionSettingsError):
    code = "audit-trail-missing"
    message_vi = "Không có nhật ký kiểm toán; không thay đổi gì."
    message_en = "No audit trail is configured; nothing was changed."


def read_settings_file(path: Path) -> dict[str, Any]:
    """The values of a settings file: a JSON object, readable by its owner only."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConnectionSettingsError(
                f"{path}: readable by others (mode {stat.S_IMODE(mode):04o}); it holds the "
                f"Keycloak admin password: chmod 600 {path}"
            )
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConnectionSettingsError(
            f"{path}: no such settings file (with --stack: is the gateway running? "
            "`make run` writes it)"
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConnectionSettingsError(f"{path}: cannot read ({type(exc).__name__})") from exc
    if not isinstance(values, dict):
        raise ConnectionSettingsError(f"{path}: a JSON object is expected")
    return values


class _ProviderSecretVariables(PydanticBaseSettingsSource):
    """``IDP_PROVIDER_SECRET_<ALIAS>``: one variable per external identity provider."""

    PREFIX = "IDP_PROVIDER_SECRET_"

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {
            name[len(self.PREFIX) :].lower(): value
            for name, value in os.environ.items()
            if name.upper().startswith(self.PREFIX)
        }
        return {"idp_provider_secrets": found} if found else {}


class KeycloakConnection(BaseSettings):
    """How a tool reaches Keycloak's admin API, and the realm file's values for this deployment."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)
    #: Keys of the shared settings file that belong to another tool (ignored, not refused).
    foreign_prefixes: ClassVar[tuple[str, ...]] = ()

    keycloak_url: str = Field(pattern=r"^https?://[^\s/]+")
    keycloak_admin_user: str = Field(min_length=1)
    keycloak_admin_password: Secret
    #: The realm file's ``${NAME}`` values (its public addresses); the environment's count too.
    idp_realm_variables: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The settings file (given as init values) first, then the environment; no .env file
        # read from wherever the tool happens to run.
        return init_settings, env_settings

    @classmethod
    def load(cls, settings_file: Path | None = None) -> Self:
        """From ``settings_file`` (if given) and the environment; refused with the names of what
        is missing or wrong."""
        values = read_settings_file(settings_file) if settings_file is not None else {}
        unknown = sorted(
            key
            for key in values
            if key not in cls.model_fields and not key.startswith(cls.foreign_prefixes)
        )
        if unknown:
            raise ConnectionSettingsError(f"{settings_file}: unknown key {', '.join(unknown)}")
        try:
            return cls(**{k: v for k, v in values.items() if k in cls.model_fields})
        except ValidationError as exc:
            where = (
                f" ({settings_file} or the environment)"
                if settings_file
                else " (in the environment, or pass --stack FOLDER or --settings FILE)"
            )
            problems = "; ".join(
                f"{str(e['loc'][0]).upper()} is not set"
                if e["type"] == "missing"
                else f"{str(e['loc'][0]).upper()}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConnectionSettingsError(f"{problems}{where}") from exc

    def admin(self) -> KeycloakAdmin:
        """The admin API, logged in now (a refused login is ``KeycloakRefused``)."""
        from idp_config.apply import admin_client

        return admin_client(
            self.keycloak_url,
            self.keycloak_admin_user,
            self.keycloak_admin_password.get_secret_value(),
        )


def trail_settings(
    prefix: str,
    *,
    redis_url: str | None,
    redis_username: str | None,
    redis_password: SecretStr | None,
    mac_key: SecretStr | None,
) -> TrailSettings:
    """How a tool records audit events, from its ``<prefix>REDIS_URL``... settings; without them,
    :class:`AuditTrailMissing` naming what to set."""
    from audit.trail import TrailSettings

    missing = [
        f"{prefix}{name}"
        for name, value in (("REDIS_URL", redis_url), ("MAC_KEY", mac_key))
        if value is None
    ]
    if redis_url is None or mac_key is None:
        raise AuditTrailMissing(f"set {', '.join(missing)} (or pass --stack)")
    return TrailSettings(
        redis_url=redis_url,
        redis_username=redis_username,
        redis_password=redis_password,
        mac_key=mac_key,
    )


class IdpConnection(KeycloakConnection):
    """``idp-config``'s settings: Keycloak, the secrets ``apply`` sets, the population database
    and the audit trail of account issuing (the ``accounts`` producer)."""

    foreign_prefixes = ("scan_",)

    #: Client secrets by client id, first passwords by user name (the demo's; production sets
    #: client secrets in Keycloak and leaves passwords to their owners).
    idp_client_secrets: dict[str, Secret] = Field(default_factory=dict)
    idp_user_passwords: dict[str, Secret] = Field(default_factory=dict)
    #: The realm's client secret at each external identity provider, by alias (also
    #: ``IDP_PROVIDER_SECRET_<ALIAS>``, the alias in capitals with ``_`` for ``-``).
    idp_provider_secrets: dict[str, Secret] = Field(default_factory=dict)
    #: The realm's password at its mail relay (the realm file's ``smtp.user``).
    idp_smtp_password: Secret | None = None
    idp_audit_redis_url: str | None = None
    idp_audit_redis_username: str | None = None
    idp_audit_redis_password: Secret | None = None
    idp_audit_mac_key: Secret | None = None
    #: The population database's verification service (``issue-accounts`` without --population).
    population_url: str | None = Field(default=None, pattern=r"^https?://")
    population_api_key: Secret | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            *super().settings_customise_sources(
                settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
            ),
            _ProviderSecretVariables(settings_cls),
        )

    def client_secrets(self) -> dict[str, str]:
        return _revealed(self.idp_client_secrets)

    def user_passwords(self) -> dict[str, str]:
        return _revealed(self.idp_user_passwords)

    def provider_secrets(self, aliases: list[str]) -> dict[str, str]:
        """The secrets of the providers ``aliases`` that are set."""

        def key(alias: str) -> str:
            return alias.replace("-", "_").lower()

        known = {key(alias): value for alias, value in self.idp_provider_secrets.items()}
        return {
            alias: known[key(alias)].get_secret_value() for alias in aliases if key(alias) in known
        }

    def audit_trail(self) -> TrailSettings:
        return trail_settings(
            "IDP_AUDIT_",
            redis_url=self.idp_audit_redis_url,
            redis_username=self.idp_audit_redis_username,
            redis_password=self.idp_audit_redis_password,
            mac_key=self.idp_audit_mac_key,
        )


def _revealed(secrets: Mapping[str, SecretStr]) -> dict[str, str]:
    return {name: value.get_secret_value() for name, value in secrets.items()}
