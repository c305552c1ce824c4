"""Scanner: a live Keycloak realm, and every client in it, against the identity policies.

It reads what Keycloak actually runs (admin REST API), so it also catches what someone changed by hand
in the admin console, and Keycloak's own built-in clients, which no configuration file declares.
"""

from __future__ import annotations

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from policies import Violation, evaluate_realm
from scanners.errors import ScanTargetUnreachable


def scan_realm(admin: KeycloakAdmin, realm: str) -> list[Violation]:
    """Every policy violation of the live realm ``realm`` and its clients."""
    try:
        admin.change_current_realm(realm)
        representation = admin.get_realm(realm)
        clients = admin.get_clients()
        for client in clients:
            # What a client may put in its tokens: its scope mappings, when not every role.
            if not client.get("fullScopeAllowed", True):
                client["scopeRealmRoles"] = [
                    role["name"] for role in admin.get_realm_roles_of_client_scope(client["id"])
                ]
    except KeycloakError as exc:
        raise ScanTargetUnreachable(f"realm {realm!r}: HTTP {exc.response_code}") from exc
    return evaluate_realm(representation, clients)
