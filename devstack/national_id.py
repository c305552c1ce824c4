"""A stand-in for the national e-ID provider (VNeID-style OpenID Connect) in dev and tests.

The real provider is reached through the government's data-exchange gateway, which this project cannot
call from here. A second realm of the same Keycloak plays it: its people carry a ``citizen_id``
attribute, and the ID tokens it issues to the department's client assert it as the claim
``citizen_id``, which is what the ``education`` realm links accounts by. One demo citizen matches the
demo teacher, so that "log in with VNeID" can be tried in the demo stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keycloak import KeycloakAdmin

REALM = "vneid"
CLIENT_ID = "so-gddt-education"
#: The demo teacher's (synthetic) citizen ID: born in Hà Nội (001), female born 1985 (1, 85).
DEMO_CITIZEN_ID = "001185012345"
#: The stand-in's account of that citizen (its password is the stack's ``user:`` secret).
DEMO_CITIZEN_USERNAME = "vneid.giaovien"


@dataclass(frozen=True)
class Citizen:
    username: str
    password: str
    first_name: str
    last_name: str
    citizen_id: str


def issuer(keycloak_url: str) -> str:
    return f"{keycloak_url}/realms/{REALM}"


def ensure_realm(
    admin: KeycloakAdmin, *, keycloak_url: str, client_secret: str, broker_realm: str, alias: str
) -> None:
    """Create the stand-in realm and the department's client at it (once; idempotent)."""
    admin.change_current_realm("master")
    if REALM not in {r["realm"] for r in admin.get_realms()}:
        admin.create_realm(
            {
                "realm": REALM,
                "enabled": True,
                "displayName": "VNeID (mô phỏng / stand-in)",
                "sslRequired": "external",
                "bruteForceProtected": True,
                "registrationAllowed": False,
                "internationalizationEnabled": True,
                "supportedLocales": ["vi", "en"],
                "defaultLocale": "vi",
            },
            skip_exists=True,
        )
    admin.change_current_realm(REALM)
    profile = admin.get_realm_users_profile()
    if not any(a["name"] == "citizen_id" for a in profile.get("attributes", [])):
        profile["attributes"].append(
            {
                "name": "citizen_id",
                "displayName": "Số định danh cá nhân",
                "validations": {"pattern": {"pattern": "^[0-9]{12}$"}},
                "permissions": {"view": ["admin", "user"], "edit": ["admin"]},
                "multivalued": False,
            }
        )
        admin.update_realm_users_profile(profile)
    if admin.get_client_id(CLIENT_ID) is None:
        admin.create_client(
            {
                "clientId": CLIENT_ID,
                "name": "Sở GD&ĐT — đăng nhập ngành giáo dục",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "secret": client_secret,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [f"{keycloak_url}/realms/{broker_realm}/broker/{alias}/endpoint"],
                "webOrigins": [],
                "attributes": {"pkce.code.challenge.method": "S256"},
                "protocolMappers": [
                    {
                        "name": "citizen-id",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-usermodel-attribute-mapper",
                        "config": {
                            "user.attribute": "citizen_id",
                            "claim.name": "citizen_id",
                            "jsonType.label": "String",
                            "id.token.claim": "true",
                            "access.token.claim": "false",
                            "userinfo.token.claim": "true",
                        },
                    }
                ],
            }
        )


def ensure_citizen(admin: KeycloakAdmin, citizen: Citizen) -> str:
    """The stand-in's account for ``citizen`` (created once), as the national provider knows them."""
    admin.change_current_realm(REALM)
    existing = admin.get_user_id(citizen.username)
    if existing:
        return str(existing)
    user_id = admin.create_user(
        {
            "username": citizen.username,
            "enabled": True,
            "firstName": citizen.first_name,
            "lastName": citizen.last_name,
            "email": f"{citizen.username}@vneid.invalid",
            "emailVerified": True,
            "attributes": {"citizen_id": [citizen.citizen_id]},
            "credentials": [{"type": "password", "value": citizen.password, "temporary": False}],
        },
        exist_ok=True,
    )
    return str(user_id)


def stand_in(
    admin: KeycloakAdmin,
    *,
    keycloak_url: str,
    broker_realm: str,
    providers: Mapping[str, str],
    citizen_password: str,
) -> None:
    """The second realm playing the national e-ID (one per identity provider of the realm, with
    its client secret), and one citizen matching the demo teacher (whose account gets that citizen
    ID, as account issuing would give it)."""
    for alias, client_secret in providers.items():
        ensure_realm(
            admin,
            keycloak_url=keycloak_url,
            client_secret=client_secret,
            broker_realm=broker_realm,
            alias=alias,
        )
    ensure_citizen(
        admin,
        Citizen(
            username=DEMO_CITIZEN_USERNAME,
            password=citizen_password,
            first_name="Thị Lan",
            last_name="Nguyễn",
            citizen_id=DEMO_CITIZEN_ID,
        ),
    )
    admin.change_current_realm(broker_realm)
    teacher = admin.get_user_id("demo.giaovien")
    if teacher:
        user = admin.get_user(teacher)
        attributes = {**user.get("attributes", {}), "citizen_id": [DEMO_CITIZEN_ID]}
        if user.get("attributes", {}).get("citizen_id") != attributes["citizen_id"]:
            admin.update_user(teacher, {**user, "attributes": attributes})
