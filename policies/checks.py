"""The tests behind the rules, over Keycloak's own representation of a realm and its clients.

They take the JSON that Keycloak's admin API returns (or that ``idp_config`` is about to send), so the
same rule judges a configuration before it is applied and a live realm afterwards. Each returns the
evidence of every violation it finds: ``(subject, evidence)`` pairs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Finding = tuple[str, str]
Check = Callable[[dict[str, Any], list[dict[str, Any]], dict[str, Any]], Iterator[Finding]]

CHECKS: dict[str, Check] = {}


def check(function: Check) -> Check:
    CHECKS[function.__name__] = function
    return function


@check
def client_uris_exact(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    for client in clients:
        for field in ("redirectUris", "webOrigins"):
            for uri in client.get(field) or []:
                if "*" in uri or uri == "+":
                    yield f"client {client.get('clientId')}", f"{field} contains {uri!r}"


@check
def brute_force_protected(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    if not realm.get("bruteForceProtected"):
        yield "realm", "bruteForceProtected is off"
    elif int(realm.get("failureFactor", 30)) > int(params.get("max_failures", 10)):
        yield "realm", f"failureFactor {realm.get('failureFactor')} > {params.get('max_failures')}"


@check
def password_min_length(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    policy = str(realm.get("passwordPolicy") or "")
    match = re.search(r"length\((\d+)\)", policy)
    required = int(params.get("min_length", 12))
    if match is None or int(match.group(1)) < required:
        yield "realm", f"password policy {policy or '(none)'!r} is shorter than length({required})"


@check
def ssl_required(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    if realm.get("sslRequired") not in {"external", "all"}:
        yield "realm", f"sslRequired is {realm.get('sslRequired')!r}"


@check
def events_recorded(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    if not realm.get("eventsEnabled"):
        yield "realm", "login events are off"
    if not realm.get("adminEventsEnabled"):
        yield "realm", "admin events are off"
    expiration = realm.get("eventsExpiration")
    minimum = int(params.get("min_retention_days", 30)) * 86400
    if realm.get("eventsEnabled") and expiration is not None and int(expiration) < minimum:
        yield "realm", f"events kept {int(expiration) // 86400} days"


@check
def access_token_lifespan(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    lifespan = int(realm.get("accessTokenLifespan") or 300)
    if lifespan > int(params.get("max_seconds", 600)):
        yield "realm", f"accessTokenLifespan is {lifespan} s"


@check
def privileged_roles_need_second_factor(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    # A client people log in to (standard flow) that puts an administration role in its tokens
    # must ask for level 2; what a client sees is all realm roles with full scope, else its
    # scope mappings (``scopeRealmRoles``, added by whoever knows them; unknown: not judged).
    privileged = set(params.get("roles", ["it-admin", "security-officer"]))
    exempt = set(params.get("self_service_clients", ["account", "account-console"]))
    for client in clients:
        client_id = str(client.get("clientId"))
        if client_id in exempt or not client.get("standardFlowEnabled"):
            continue
        if client.get("fullScopeAllowed", True):
            sees = privileged
        elif "scopeRealmRoles" in client:
            sees = privileged & set(client["scopeRealmRoles"] or [])
        else:
            continue
        acr = str((client.get("attributes") or {}).get("minimum.acr.value") or "1")
        if sees and (not acr.isdigit() or int(acr) < int(params.get("minimum_level", 2))):
            roles = ", ".join(sorted(sees))
            yield f"client {client_id}", f"lets {roles} in with level {acr} (password alone)"


_UV_STRENGTH = {"not specified": 0, "discouraged": 0, "preferred": 1, "required": 2}


@check
def passkeys_verify_the_user(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    # A passkey replaces the password and the second factor at once: only its PIN or biometric
    # (user verification) makes it two factors.
    for prefix, label in (
        ("webAuthnPolicyPasswordless", "passwordless"),
        ("webAuthnPolicy", "second-factor"),
    ):
        required = params.get(f"{label.replace('-', '_')}_user_verification", "required")
        value = realm.get(f"{prefix}UserVerificationRequirement") or "not specified"
        if _UV_STRENGTH.get(value, 0) < _UV_STRENGTH.get(required, 2):
            yield "realm", f"{label} WebAuthn user verification is {value!r}, not {required!r}"
        allowed = set(params.get("algorithms", ["ES256", "ES384", "ES512", "RS256", "EdDSA"]))
        for algorithm in realm.get(f"{prefix}SignatureAlgorithms") or []:
            if algorithm not in allowed:
                yield "realm", f"{label} WebAuthn allows {algorithm}"


@check
def session_limits(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    # Keycloak's defaults are 30 minutes idle and 10 hours in all; 0 would mean "no limit".
    for field, limit in (
        ("ssoSessionIdleTimeout", int(params.get("max_idle_seconds", 1800))),
        ("ssoSessionMaxLifespan", int(params.get("max_lifespan_seconds", 36000))),
    ):
        value = int(realm.get(field) or 0)
        if value <= 0 or value > limit:
            yield "realm", f"{field} is {value} s (at most {limit} s)"


@check
def no_direct_access_grants(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    for client in clients:
        if client.get("directAccessGrantsEnabled"):
            yield f"client {client.get('clientId')}", "directAccessGrantsEnabled is on"


def _logs_people_in(client: dict[str, Any]) -> bool:
    """A client people log in through (not one that only holds roles or receives tokens)."""
    return not client.get("bearerOnly") and bool(
        client.get("standardFlowEnabled") or client.get("directAccessGrantsEnabled")
    )


@check
def pkce_enforced(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    public = bool(params.get("public", True))
    for client in clients:
        if not client.get("standardFlowEnabled") or client.get("bearerOnly"):
            continue
        if bool(client.get("publicClient")) is not public:
            continue
        method = (client.get("attributes") or {}).get("pkce.code.challenge.method")
        if method != "S256":
            yield (
                f"client {client.get('clientId')}",
                f"pkce.code.challenge.method is {method or '(not required)'!r}, not 'S256'",
            )


@check
def no_offline_tokens(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    for client in clients:
        if not _logs_people_in(client):
            continue
        for field in ("defaultClientScopes", "optionalClientScopes"):
            if "offline_access" in (client.get(field) or []):
                yield f"client {client.get('clientId')}", f"{field} contains 'offline_access'"


@check
def refresh_tokens_rotated(
    realm: dict[str, Any], clients: list[dict[str, Any]], params: dict[str, Any]
) -> Iterator[Finding]:
    if not realm.get("revokeRefreshToken"):
        yield "realm", "revokeRefreshToken is off: a refresh token can be used again"
    elif int(realm.get("refreshTokenMaxReuse") or 0) > 0:
        yield "realm", f"refreshTokenMaxReuse is {realm.get('refreshTokenMaxReuse')} (must be 0)"
