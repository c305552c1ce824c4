"""What the realm files mean in Keycloak's own terms (its admin API representations).

``apply`` sends these, ``plan`` and ``drift`` compare them with what Keycloak returns, and the policies
judge them: one translation, used everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from idp_config.flows import ACR_LOA, BROKER_LINK_FLOW, FLOW_ALIAS
from idp_config.model import (
    AccessType,
    ClientScopeSpec,
    ClientSpec,
    IdentityProviderSpec,
    ProfileAttribute,
    RealmSpec,
    SmtpSpec,
    UserSpec,
    WebAuthnPolicy,
)

#: Clients and roles Keycloak creates in every realm: never reported as unmanaged.
BUILTIN_CLIENTS = frozenset(
    {
        "account",
        "account-console",
        "admin-cli",
        "broker",
        "realm-management",
        "security-admin-console",
    }
)
BUILTIN_REALM_ROLES = frozenset({"offline_access", "uma_authorization"})


def _webauthn_representation(prefix: str, policy: WebAuthnPolicy) -> dict[str, Any]:
    return {
        f"{prefix}RpEntityName": policy.rp_name,
        f"{prefix}SignatureAlgorithms": list(policy.signature_algorithms),
        f"{prefix}AttestationConveyancePreference": policy.attestation,
        f"{prefix}AuthenticatorAttachment": policy.attachment,
        f"{prefix}RequireResidentKey": policy.resident_key,
        f"{prefix}UserVerificationRequirement": policy.user_verification,
        f"{prefix}CreateTimeout": policy.timeout_seconds,
        f"{prefix}AvoidSameAuthenticatorRegister": policy.avoid_same_authenticator,
    }


def smtp_representation(smtp: SmtpSpec) -> dict[str, str]:
    """Keycloak's ``smtpServer`` (every value a string), without the password: ``apply`` adds it."""
    server = {
        "host": smtp.host,
        "port": str(smtp.port),
        "from": smtp.from_address,
        "fromDisplayName": smtp.from_display_name,
        "starttls": str(smtp.tls == "starttls").lower(),
        "ssl": str(smtp.tls == "ssl").lower(),
        "auth": str(smtp.user is not None).lower(),
    }
    if smtp.reply_to:
        server["replyTo"] = smtp.reply_to
    if smtp.user is not None:
        server["user"] = smtp.user
        server["authType"] = "basic"
    return server


def realm_representation(spec: RealmSpec) -> dict[str, Any]:
    sec = spec.security
    return {
        "realm": spec.realm,
        "enabled": True,
        "displayName": spec.display_name,
        "displayNameHtml": spec.display_name_html,
        "sslRequired": sec.ssl_required,
        "bruteForceProtected": sec.brute_force_protected,
        "permanentLockout": sec.permanent_lockout,
        "failureFactor": sec.failure_factor,
        "passwordPolicy": sec.password_policy,
        "eventsEnabled": sec.events_enabled,
        "eventsExpiration": sec.events_expiration_seconds,
        "adminEventsEnabled": sec.admin_events_enabled,
        "adminEventsDetailsEnabled": sec.admin_events_enabled,
        "accessTokenLifespan": sec.access_token_lifespan_seconds,
        "ssoSessionIdleTimeout": sec.sso_session_idle_seconds,
        "ssoSessionMaxLifespan": sec.sso_session_max_seconds,
        # A refresh token is good once (RFC 9700 §2.2.2): a stolen one that is used shows.
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        # No client may ask for offline tokens; should one be allowed, its sessions still end.
        "offlineSessionMaxLifespanEnabled": True,
        "offlineSessionMaxLifespan": 30 * 24 * 3600,
        "internationalizationEnabled": True,
        "supportedLocales": spec.supported_locales,
        "defaultLocale": spec.default_locale,
        **(
            {"loginTheme": spec.theme, "accountTheme": spec.theme, "emailTheme": spec.theme}
            if spec.theme
            else {}
        ),
        **({"smtpServer": smtp_representation(spec.smtp)} if spec.smtp else {}),
        "registrationAllowed": False,
        "resetPasswordAllowed": True,
        "loginWithEmailAllowed": True,
        "duplicateEmailsAllowed": False,
        "otpPolicyType": "totp",
        "otpPolicyDigits": sec.otp_digits,
        "otpPolicyPeriod": sec.otp_period_seconds,
        "otpPolicyAlgorithm": sec.otp_algorithm,
        **_webauthn_representation("webAuthnPolicy", sec.webauthn),
        **_webauthn_representation("webAuthnPolicyPasswordless", sec.webauthn_passwordless),
        **(
            {"browserFlow": FLOW_ALIAS, "attributes": {"acr.loa.map": json.dumps(ACR_LOA)}}
            if sec.step_up
            else {}
        ),
    }


def client_representation(client: ClientSpec, secret: str | None) -> dict[str, Any]:
    kind = client.access_type
    payload: dict[str, Any] = {
        "clientId": client.client_id,
        "name": client.name,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": kind is AccessType.PUBLIC,
        "standardFlowEnabled": kind in {AccessType.WEB, AccessType.PUBLIC},
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": kind is AccessType.SERVICE,
        "redirectUris": client.redirect_uris,
        "webOrigins": client.web_origins,
        "fullScopeAllowed": kind is not AccessType.PUBLIC and client.visible_roles is None,
        "attributes": {
            # Every client that logs people in requires PKCE (S256), confidential ones too
            # (RFC 9700 §2.1.1: it also stops authorization code injection).
            **(
                {"pkce.code.challenge.method": "S256"}
                if kind in {AccessType.WEB, AccessType.PUBLIC}
                else {}
            ),
            **({"minimum.acr.value": client.minimum_acr} if client.minimum_acr else {}),
            **(
                {"access.token.lifespan": str(client.access_token_lifespan_seconds)}
                if client.access_token_lifespan_seconds
                else {}
            ),
        },
    }
    if kind is not AccessType.PUBLIC:
        payload["clientAuthenticatorType"] = "client-secret"
        if secret is not None:
            payload["secret"] = secret
    return payload


def user_representation(user: UserSpec) -> dict[str, Any]:
    return {
        "username": user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "emailVerified": True,
        "enabled": True,
        **({"attributes": {"unit_code": [user.unit]}} if user.unit else {}),
    }


def client_scope_representation(scope: ClientScopeSpec) -> dict[str, Any]:
    mappers = []
    if scope.audience is not None:
        mappers.append(
            {
                "name": f"audience-{scope.audience}",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-audience-mapper",
                "config": {
                    "included.client.audience": scope.audience,
                    "access.token.claim": "true",
                    "id.token.claim": "false",
                },
            }
        )
    for attribute in scope.attribute_claims:
        mappers.append(
            {
                "name": f"attribute-{attribute}",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-usermodel-attribute-mapper",
                "config": {
                    "user.attribute": attribute,
                    "claim.name": attribute,
                    "jsonType.label": "String",
                    "multivalued": "true",
                    "access.token.claim": "true",
                    "id.token.claim": "false",
                    "userinfo.token.claim": "false",
                },
            }
        )
    return {
        "name": scope.name,
        "description": scope.description,
        "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "true"},
        "protocolMappers": mappers,
    }


def profile_attribute_representation(attribute: ProfileAttribute) -> dict[str, Any]:
    """One attribute of Keycloak's user-profile configuration (UPConfig)."""
    validations: dict[str, Any] = {"length": {"max": attribute.max_length}}
    if attribute.pattern:
        validations["pattern"] = {
            "pattern": attribute.pattern,
            "error-message": attribute.pattern_message or f"{attribute.display_name}: invalid",
        }
    if attribute.options:
        validations["options"] = {"options": list(attribute.options)}
    if attribute.date:
        validations["iso-date"] = {}
    if attribute.email:
        validations["email"] = {}
    return {
        "name": attribute.name,
        "displayName": attribute.display_name,
        "validations": validations,
        "permissions": {"view": list(attribute.view), "edit": list(attribute.edit)},
        "multivalued": attribute.multivalued,
    }


def identity_provider_representation(
    provider: IdentityProviderSpec, secret: str | None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "issuer": provider.issuer,
        "authorizationUrl": provider.authorization_url,
        "tokenUrl": provider.token_url,
        "jwksUrl": provider.jwks_url,
        "useJwksUrl": "true",
        "validateSignature": "true",
        "clientId": provider.client_id,
        "clientAuthMethod": "client_secret_post",
        "defaultScope": provider.scopes,
        "pkceEnabled": "true",
        "pkceMethod": "S256",
        "syncMode": "IMPORT",
        "disableUserInfo": "true",
        **({"logoutUrl": provider.logout_url} if provider.logout_url else {}),
    }
    if secret is not None:
        config["clientSecret"] = secret
    return {
        "alias": provider.alias,
        "displayName": provider.display_name,
        "providerId": "oidc",
        "enabled": provider.enabled,
        # An e-mail from outside proves nothing here; accounts are matched by citizen ID only.
        "trustEmail": False,
        "storeToken": False,
        "linkOnly": False,
        "firstBrokerLoginFlowAlias": BROKER_LINK_FLOW,
        "config": config,
    }


def identity_provider_mapper_representation(provider: IdentityProviderSpec) -> dict[str, Any]:
    return {
        "name": "citizen-id",
        "identityProviderAlias": provider.alias,
        "identityProviderMapper": "oidc-user-attribute-idp-mapper",
        "config": {
            "claim": provider.citizen_id_claim,
            "user.attribute": provider.link_attribute,
            "syncMode": "INHERIT",
        },
    }


ADMIN_CONSOLE = "security-admin-console"
#: The client scope Keycloak offers every client by default, for tokens that outlive the session.
OFFLINE_ACCESS = "offline_access"


def builtin_client_representations(spec: RealmSpec) -> dict[str, dict[str, Any]]:
    """What the files manage of Keycloak's built-in clients, which every realm has.

    - ``account`` only names the account API's roles and the console's address: nobody logs in
      with it (the console uses ``account-console``), so it has no login flow and no redirect.
    - ``admin-cli`` of this realm has no use at all: no password grant (administrators log in to
      the master realm), no login flow.
    - both consoles require PKCE (S256) and never take passwords directly; the admin console asks
      for the realm's administration level. Their redirect addresses (a path under Keycloak's own
      address, which their pages' routes need) are Keycloak's: see the realm file's
      ``accepted_findings``.
    """
    no_password: dict[str, Any] = {"directAccessGrantsEnabled": False, "implicitFlowEnabled": False}
    pkce = {"pkce.code.challenge.method": "S256"}
    return {
        "account": {
            **no_password,
            "standardFlowEnabled": False,
            "redirectUris": [],
            "webOrigins": [],
            "attributes": pkce,
        },
        "account-console": {**no_password, "attributes": pkce},
        "admin-cli": {**no_password, "standardFlowEnabled": False},
        ADMIN_CONSOLE: {
            **no_password,
            "attributes": {**pkce, "minimum.acr.value": spec.security.admin_console_minimum_acr},
        },
    }


def admin_console_representation(spec: RealmSpec) -> dict[str, Any]:
    """The admin console as the policies judge it: what the files manage of it, and what it is."""
    return {
        "clientId": ADMIN_CONSOLE,
        "standardFlowEnabled": True,
        "fullScopeAllowed": True,
        **builtin_client_representations(spec)[ADMIN_CONSOLE],
    }


def evaluated_clients(spec: RealmSpec) -> list[dict[str, Any]]:
    """The clients as the policies judge them: what would be sent, plus the realm roles each may
    see (its scope mappings, sent separately) and the admin console's level."""
    return [
        *(
            {
                **client_representation(client, None),
                **(
                    {"scopeRealmRoles": list(client.visible_roles)}
                    if client.visible_roles is not None
                    else {}
                ),
                "optionalClientScopes": list(client.optional_scopes),
            }
            for client in spec.clients
        ),
        admin_console_representation(spec),
        *(
            {"clientId": client_id, **fields}
            for client_id, fields in builtin_client_representations(spec).items()
            if client_id != ADMIN_CONSOLE
        ),
    ]
