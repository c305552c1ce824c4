"""The kinds of Keycloak objects the realm files manage, as one table.

``plan`` and ``drift`` read the desired and the live state of every kind in :data:`KINDS`;
``apply`` creates and updates them in this order (a kind may rely on the ones above it: clients
before their roles, realm roles before the roles a client may see). A new kind of object is one
:class:`~idp_config.resources.kind.ResourceKind` and one line here.
"""

from typing import Any

from idp_config.resources.clients import (
    CLIENT_OPTIONAL_SCOPES,
    CLIENT_ROLES,
    CLIENT_SCOPES,
    CLIENT_VISIBLE_ROLES,
    CLIENTS,
    GRANTS,
)
from idp_config.resources.kind import (
    ApplyReport,
    Desired,
    Fields,
    LiveRead,
    ResourceKind,
    Secrets,
    Session,
    State,
    group_tree,
)
from idp_config.resources.providers import IDENTITY_PROVIDERS, PROVIDER_MAPPERS
from idp_config.resources.realm import (
    BUILTIN_CLIENTS,
    GROUPS,
    OFFLINE_ACCESS_WITHDRAWN,
    REALM,
    ROLES,
    USER_PROFILE,
    USERS,
)

KINDS: tuple[ResourceKind[Any], ...] = (
    REALM,  # and its authentication flows
    ROLES,  # and their composites
    GROUPS,  # the organisation tree, parents first
    USER_PROFILE,
    CLIENT_SCOPES,
    CLIENTS,
    CLIENT_ROLES,
    CLIENT_VISIBLE_ROLES,
    CLIENT_OPTIONAL_SCOPES,
    BUILTIN_CLIENTS,
    OFFLINE_ACCESS_WITHDRAWN,  # after every client exists and has its optional scopes
    GRANTS,  # client roles for service accounts: after every client and its roles
    USERS,
    IDENTITY_PROVIDERS,
    PROVIDER_MAPPERS,
)

__all__ = [
    "KINDS",
    "ApplyReport",
    "Desired",
    "Fields",
    "LiveRead",
    "ResourceKind",
    "Secrets",
    "Session",
    "State",
    "group_tree",
]
