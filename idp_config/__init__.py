"""The ``education`` realm as code: YAML files validated here and applied to Keycloak's admin API.

Public surface: :func:`load_realm`, :func:`apply_realm`, :func:`admin_client`, :class:`RealmSpec`,
and the errors (:class:`KeycloakRefused` for Keycloak's refusals, :class:`KeycloakUnreachable` when
it cannot be reached or fails).
"""

from idp_config.apply import ApplyReport, admin_client, apply_realm, check_realm
from idp_config.errors import (
    ConnectionSettingsError,
    IdpConfigError,
    KeycloakRefused,
    KeycloakUnreachable,
    RecordsFileError,
)
from idp_config.model import DEFAULT_REALM_FILE, AccessType, RealmSpec, load_realm

__all__ = [
    "DEFAULT_REALM_FILE",
    "AccessType",
    "ApplyReport",
    "ConnectionSettingsError",
    "IdpConfigError",
    "KeycloakRefused",
    "KeycloakUnreachable",
    "RealmSpec",
    "RecordsFileError",
    "admin_client",
    "apply_realm",
    "check_realm",
    "load_realm",
]
