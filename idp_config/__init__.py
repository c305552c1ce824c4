"""The ``education`` realm as code: YAML files validated here and applied to Keycloak's admin API.

Public surface: :func:`load_realm`, :func:`apply_realm`, :func:`admin_client`, :class:`RealmSpec`.
"""

from idp_config.apply import ApplyReport, admin_client, apply_realm, check_realm
from idp_config.errors import IdpConfigError, KeycloakUnreachable
from idp_config.model import DEFAULT_REALM_FILE, AccessType, RealmSpec, load_realm

__all__ = [
    "DEFAULT_REALM_FILE",
    "AccessType",
    "ApplyReport",
    "IdpConfigError",
    "KeycloakUnreachable",
    "RealmSpec",
    "admin_client",
    "apply_realm",
    "check_realm",
    "load_realm",
]
