"""Scanner: a live Keycloak realm, and every client in it, against the identity policies.

It reads what Keycloak actually runs (admin REST API), so it also catches what someone changed by hand
in the admin console, and Keycloak's own built-in clients, which no configuration file declares.
"""

from __future__ import annotations

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from idp_config import RealmSpec
from policies import Violation, evaluate_realm
from policies.models import Acceptances
from scanners.errors import ScanTargetUnreachable


def acceptances(spec: RealmSpec) -> Acceptances:
    """The findings the realm's files accept, with their reasons."""
    return {(a.rule, a.subject): a.reason for a in spec.accepted_findings}


def scan_realm(
    admin: KeycloakAdmin, realm: str, *, accepted: Acceptances | None = None
) -> list[Violation]:
    """Every policy violation of the live realm ``realm`` and its clients; those the realm's
    files accept (``accepted``) marked with their reason."""
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
    return evaluate_realm(representation, clients, accepted=accepted)
