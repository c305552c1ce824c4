"""``export``: the live realm written back as a realm file (the fields the files manage)."""

from __future__ import annotations

from typing import Any

import yaml

from idp_config.model import RealmSpec
from idp_config.plan import State


def _access_type(client: dict[str, Any]) -> str:
    if client.get("publicClient"):
        return "public"
    if client.get("serviceAccountsEnabled"):
        return "service"
    if client.get("standardFlowEnabled"):
        return "web"
    return "resource-server"


def _webauthn_policy(realm: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "rp_name": realm.get(f"{prefix}RpEntityName") or "keycloak",
        "signature_algorithms": list(realm.get(f"{prefix}SignatureAlgorithms") or ["ES256"]),
        "attestation": realm.get(f"{prefix}AttestationConveyancePreference") or "none",
        "attachment": realm.get(f"{prefix}AuthenticatorAttachment") or "not specified",
        "resident_key": realm.get(f"{prefix}RequireResidentKey") or "not specified",
        "user_verification": realm.get(f"{prefix}UserVerificationRequirement") or "not specified",
        "timeout_seconds": int(realm.get(f"{prefix}CreateTimeout") or 0),
        "avoid_same_authenticator": bool(realm.get(f"{prefix}AvoidSameAuthenticatorRegister")),
    }


def _profile_attribute(attribute: dict[str, Any]) -> dict[str, Any]:
    validations = attribute.get("validations") or {}
    permissions = attribute.get("permissions") or {}
    entry: dict[str, Any] = {
        "name": attribute["name"],
        "display_name": attribute.get("displayName") or attribute["name"],
    }
    if "pattern" in validations:
        entry["pattern"] = validations["pattern"].get("pattern")
        entry["pattern_message"] = validations["pattern"].get("error-message") or ""
    if "options" in validations:
        entry["options"] = list(validations["options"].get("options") or [])
    if "iso-date" in validations:
        entry["date"] = True
    if "email" in validations:
        entry["email"] = True
    if "max" in (validations.get("length") or {}):
        entry["max_length"] = int(validations["length"]["max"])
    entry["multivalued"] = bool(attribute.get("multivalued"))
    entry["view"] = list(permissions.get("view") or [])
    entry["edit"] = list(permissions.get("edit") or [])
    return entry


def _smtp(server: dict[str, Any]) -> dict[str, Any]:
    """The realm's mail relay as the file writes it (the password stays out of the file)."""
    entry: dict[str, Any] = {
        "host": server.get("host", ""),
        "port": int(server.get("port") or 587),
        "from_address": server.get("from", ""),
        "from_display_name": server.get("fromDisplayName", ""),
        "tls": "ssl" if str(server.get("ssl")) == "true" else "starttls",
    }
    if server.get("replyTo"):
        entry["reply_to"] = server["replyTo"]
    if str(server.get("auth")) == "true" and server.get("user"):
        entry["user"] = server["user"]
    return entry


def _identity_provider(alias: str, provider: dict[str, Any], live: State) -> dict[str, Any]:
    config = provider.get("config") or {}
    mapper = (live.get(f"identity-provider/{alias}:mapper/citizen-id") or {}).get("config") or {}
    entry: dict[str, Any] = {
        "alias": alias,
        "display_name": provider.get("displayName") or "",
        "issuer": config.get("issuer", ""),
        "authorization_url": config.get("authorizationUrl", ""),
        "token_url": config.get("tokenUrl", ""),
        "jwks_url": config.get("jwksUrl", ""),
        "client_id": config.get("clientId", ""),
        "scopes": config.get("defaultScope") or "openid",
        "citizen_id_claim": mapper.get("claim") or "citizen_id",
        "link_attribute": mapper.get("user.attribute") or "citizen_id",
        "enabled": bool(provider.get("enabled", True)),
    }
    if config.get("logoutUrl"):
        entry["logout_url"] = config["logoutUrl"]
    return entry


def export_realm(realm_name: str, live: State) -> str:
    """YAML for the live realm; it loads back with :func:`~idp_config.model.load_realm`."""
    realm = live[f"realm/{realm_name}"]
    clients: list[dict[str, Any]] = []
    for address, client in sorted(live.items()):
        if not address.startswith("client/"):
            continue
        client_id = address.removeprefix("client/")
        grants = {
            key.split("->", 1)[1]: value["roles"]
            for key, value in live.items()
            if key.startswith(f"grant/{client_id}->")
        }
        entry: dict[str, Any] = {
            "client_id": client_id,
            "name": client.get("name") or "",
            "access_type": _access_type(client),
            "roles": sorted(
                key.split(":", 1)[1] for key in live if key.startswith(f"client-role/{client_id}:")
            ),
            "redirect_uris": sorted(client.get("redirectUris") or []),
            "web_origins": sorted(client.get("webOrigins") or []),
        }
        if grants:
            entry["service_account_roles"] = grants
        visible = live.get(f"client-visible-roles/{client_id}")
        if visible:
            entry["visible_roles"] = sorted(visible["roles"])
        scopes = live.get(f"client-scopes/{client_id}")
        if scopes:
            entry["optional_scopes"] = sorted(scopes["optional"])
        clients.append(entry)
    document: dict[str, Any] = {
        "realm": realm_name,
        "display_name": realm.get("displayName") or "",
        "display_name_html": realm.get("displayNameHtml") or "",
        **({"theme": realm["loginTheme"]} if realm.get("loginTheme") else {}),
        **({"smtp": _smtp(realm["smtpServer"])} if realm.get("smtpServer") else {}),
        "default_locale": realm.get("defaultLocale") or "vi",
        "supported_locales": realm.get("supportedLocales") or ["vi", "en"],
        "security": {
            "ssl_required": realm.get("sslRequired", "external"),
            "brute_force_protected": bool(realm.get("bruteForceProtected")),
            "permanent_lockout": bool(realm.get("permanentLockout")),
            "failure_factor": int(realm.get("failureFactor", 5)),
            "password_policy": realm.get("passwordPolicy") or "",
            "events_enabled": bool(realm.get("eventsEnabled")),
            "admin_events_enabled": bool(realm.get("adminEventsEnabled")),
            "events_expiration_seconds": int(realm.get("eventsExpiration") or 7_776_000),
            "access_token_lifespan_seconds": int(realm.get("accessTokenLifespan") or 300),
            "sso_session_idle_seconds": int(realm.get("ssoSessionIdleTimeout") or 1800),
            "sso_session_max_seconds": int(realm.get("ssoSessionMaxLifespan") or 36000),
            "admin_console_minimum_acr": str(
                (live.get("builtin-client/security-admin-console") or {})
                .get("attributes", {})
                .get("minimum.acr.value")
                or "1"
            ),
            "otp_digits": int(realm.get("otpPolicyDigits") or 6),
            "otp_period_seconds": int(realm.get("otpPolicyPeriod") or 30),
            "otp_algorithm": realm.get("otpPolicyAlgorithm") or "HmacSHA1",
            "webauthn": _webauthn_policy(realm, "webAuthnPolicy"),
            "webauthn_passwordless": _webauthn_policy(realm, "webAuthnPolicyPasswordless"),
        },
        "roles": [
            {
                "name": key.removeprefix("role/"),
                "description": value.get("description") or "",
                **({"composites": sorted(value["composites"])} if value.get("composites") else {}),
            }
            for key, value in sorted(live.items())
            if key.startswith("role/")
        ],
        "client_scopes": [
            {
                "name": key.removeprefix("client-scope/"),
                "description": value.get("description") or "",
                **({"audience": value["audience"]} if value.get("audience") else {}),
            }
            for key, value in sorted(live.items())
            if key.startswith("client-scope/")
        ],
        "user_profile": [
            _profile_attribute(value)
            for key, value in sorted(live.items())
            if key.startswith("user-profile/")
        ],
        "clients": clients,
        "identity_providers": [
            _identity_provider(key.removeprefix("identity-provider/"), value, live)
            for key, value in sorted(live.items())
            if key.startswith("identity-provider/") and ":mapper/" not in key
        ],
        "users": [
            {
                "username": key.removeprefix("user/"),
                "first_name": value.get("firstName") or "-",
                "last_name": value.get("lastName") or "-",
                "email": value.get("email") or f"{key.removeprefix('user/')}@invalid.example",
                "realm_roles": sorted(value.get("roles") or []),
                **(
                    {"unit": units[0]}
                    if (units := (value.get("attributes") or {}).get("unit_code"))
                    else {}
                ),
            }
            for key, value in sorted(live.items())
            if key.startswith("user/")
        ],
    }
    RealmSpec.model_validate(document).check_references()  # what we write must load back
    # What Keycloak does not hold cannot be exported: the department's accepted scan findings.
    header = "# Exported from the live realm. Not in Keycloak, so not here: accepted_findings.\n"
    return header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
