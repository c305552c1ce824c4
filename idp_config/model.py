"""The realm as code: validated models of the YAML files under ``idp_config/realm/``.

Unknown keys are refused with the key's name (pyHanko's config does the same) and every role a user or
service account is given must exist. Security rules (exact redirect URIs, brute-force detection, ...) are
not checked here but in ``policies/``, the one place they live: ``apply_realm`` refuses a realm that
breaks them. A client's secret never appears in a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idp_config.errors import IdpConfigError
from organisation import Unit, load_schools

_NAME = r"^[a-z0-9][a-z0-9._-]{1,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessType(StrEnum):
    #: An API that only receives tokens (no login flow of its own).
    RESOURCE_SERVER = "resource-server"
    #: A machine client using the client-credentials grant (a service account).
    SERVICE = "service"
    #: A web application where people log in (authorization code).
    WEB = "web"
    #: A mobile or browser app with no secret (authorization code + PKCE).
    PUBLIC = "public"


class WebAuthnPolicy(_Strict):
    """Keycloak's WebAuthn policy (security keys and passkeys) for one use: second factor or
    passwordless. User verification (PIN or biometric) is required by default."""

    rp_name: str = "Sở GD&ĐT"
    signature_algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"])
    attestation: str = Field(default="none", pattern="^(none|indirect|direct)$")
    attachment: str = Field(
        default="not specified", pattern="^(not specified|platform|cross-platform)$"
    )
    resident_key: str = Field(default="not specified", pattern="^(not specified|Yes|No)$")
    user_verification: str = Field(
        default="required", pattern="^(required|preferred|discouraged|not specified)$"
    )
    timeout_seconds: int = Field(default=120, ge=0, le=600)
    avoid_same_authenticator: bool = True


class SecurityBaseline(_Strict):
    ssl_required: str = Field(default="external", pattern="^(all|external)$")
    brute_force_protected: bool = True
    permanent_lockout: bool = False
    failure_factor: int = Field(default=5, ge=1, le=30)
    password_policy: str = "length(12) and notUsername"  # noqa: S105 - a policy, not a password
    events_enabled: bool = True
    admin_events_enabled: bool = True
    events_expiration_seconds: int = Field(default=7_776_000, gt=0)
    access_token_lifespan_seconds: int = Field(default=300, ge=60, le=3600)
    sso_session_idle_seconds: int = Field(default=1800, ge=300)
    sso_session_max_seconds: int = Field(default=36000, ge=600)
    #: Step-up authentication: the browser flow with levels (1 password, 2 OTP); clients that do
    #: privileged work set ``minimum_acr: "2"`` (see ``idp_config/flows.py``).
    step_up: bool = True
    #: The level the realm's own admin console (Keycloak's ``security-admin-console``) requires.
    admin_console_minimum_acr: str = Field(default="2", pattern="^[12]$")
    #: One-time codes (the level-2 factor): TOTP, 6 digits, 30 s.
    otp_digits: int = Field(default=6, ge=6, le=8)
    otp_period_seconds: int = Field(default=30, ge=15, le=60)
    otp_algorithm: str = Field(default="HmacSHA1", pattern="^Hmac(SHA1|SHA256|SHA512)$")
    #: Security keys as a second factor, and passkeys (passwordless, resident keys).
    webauthn: WebAuthnPolicy = Field(default_factory=WebAuthnPolicy)
    webauthn_passwordless: WebAuthnPolicy = Field(
        default_factory=lambda: WebAuthnPolicy(resident_key="Yes")
    )


class RoleSpec(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    #: Realm roles this role includes (a homeroom teacher is also a teacher).
    composites: list[str] = Field(default_factory=list)


class ClientScopeSpec(_Strict):
    """An OAuth scope a client may ask for (for example the CSC API's ``service`` and ``credential``)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    #: A client id added to ``aud`` of tokens granted this scope (an audience mapper).
    audience: str | None = None
    #: User-profile attributes put in the access token as claims of the same name (multivalued).
    attribute_claims: list[str] = Field(default_factory=list)


class ClientSpec(_Strict):
    client_id: str = Field(pattern=_NAME)
    name: str = ""
    access_type: AccessType
    roles: list[str] = Field(default_factory=list)
    redirect_uris: list[str] = Field(default_factory=list)
    web_origins: list[str] = Field(default_factory=list)
    #: Client roles granted to this client's service account, by the client that defines them.
    service_account_roles: dict[str, list[str]] = Field(default_factory=dict)
    #: Scopes of ``client_scopes`` the client may request (Keycloak "optional client scopes").
    optional_scopes: list[str] = Field(default_factory=list)
    #: The lowest authentication level the client accepts ("2": a second factor, for privileged work).
    minimum_acr: str | None = Field(default=None, pattern="^[12]$")
    #: Lifetime of this client's access tokens, if shorter or longer than the realm's.
    access_token_lifespan_seconds: int | None = Field(default=None, ge=60, le=3600)
    #: The realm roles this client may see in its tokens (least privilege); unset: all of them.
    visible_roles: list[str] | None = None


class IdentityProviderSpec(_Strict):
    """An external OpenID Connect provider people may log in with (the national e-ID, VNeID-style).

    Its first login links the external identity to the existing account whose verified citizen ID
    (``link_attribute``, a declared user-profile attribute) equals the citizen ID the provider
    asserts (``citizen_id_claim``): never by e-mail or name, and never a new account (the
    ``citizen-id-link`` authenticator, ``idp_config/extensions/citizen-id-link``).
    """

    alias: str = Field(pattern=_NAME)
    display_name: str = ""
    issuer: str = Field(pattern=r"^https?://")
    authorization_url: str = Field(pattern=r"^https?://")
    token_url: str = Field(pattern=r"^https?://")
    jwks_url: str = Field(pattern=r"^https?://")
    logout_url: str | None = Field(default=None, pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    scopes: str = "openid"
    citizen_id_claim: str = Field(default="citizen_id", min_length=1)
    link_attribute: str = Field(default="citizen_id", pattern=_NAME)
    enabled: bool = True


class ProfileAttribute(_Strict):
    """A declared user attribute (Keycloak's user profile), validated by Keycloak on every write."""

    name: str = Field(pattern=r"^[a-z][a-zA-Z_]{1,40}$")
    display_name: str
    #: A regular expression the value must match, with the message shown when it does not.
    pattern: str | None = None
    pattern_message: str = ""
    #: The only values allowed (shown as a choice).
    options: list[str] | None = None
    #: An ISO 8601 date (YYYY-MM-DD).
    date: bool = False
    #: An e-mail address.
    email: bool = False
    max_length: int = Field(default=255, ge=1, le=2048)
    #: Several values (a parent's children).
    multivalued: bool = False
    #: Who may see and change it: ``admin`` (administrators and services), ``user`` (the person).
    view: list[str] = Field(default_factory=lambda: ["admin", "user"])
    edit: list[str] = Field(default_factory=lambda: ["admin"])


class UserSpec(_Strict):
    username: str = Field(pattern=_NAME)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    realm_roles: list[str] = Field(default_factory=list)
    #: The unit the person belongs to (``so-gddt``, a district office ``phong-760``, a school code):
    #: the ``unit_code`` attribute, which scopes what a district's security officer sees.
    unit: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{2,31}$")


class AcceptedFinding(_Strict):
    """A finding the department has looked at and accepts, with its reason: the scanner and the
    reports show it as accepted, not as open, and it costs the score nothing."""

    #: The rule (``IDP-001``) and the subject it is accepted for (``client account-console``).
    rule: str = Field(pattern=r"^[A-Z]{2,8}-\d{3}$")
    subject: str = Field(min_length=1)
    #: Why it is acceptable, for the security officer who reads the report (both languages).
    reason: str = Field(min_length=20)


class SmtpSpec(_Strict):
    """Where the realm sends mail (password reset, e-mail verification): the department's relay.

    Always over TLS (STARTTLS on a submission port, or TLS from the first byte); the password is
    never in the file: ``apply`` is given it (``IDP_SMTP_PASSWORD``, or the stack's secret store),
    or the value ``${vault.NAME}`` for Keycloak to read from its own vault."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_display_name: str = ""
    reply_to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    #: ``starttls`` (a submission port, 587) or ``ssl`` (TLS from the first byte, 465).
    tls: str = Field(default="starttls", pattern="^(starttls|ssl)$")
    #: The account Keycloak logs in to the relay with (its password given to ``apply``).
    user: str | None = None


class RealmSpec(_Strict):
    realm: str = Field(pattern=_NAME)
    display_name: str = ""
    #: The header of the login pages (Keycloak keeps only the HTML its sanitiser allows).
    display_name_html: str = ""
    #: The theme of the login pages, the account console and the mail (an extension's theme).
    theme: str | None = None
    smtp: SmtpSpec | None = None
    default_locale: str = "vi"
    supported_locales: list[str] = Field(default_factory=lambda: ["vi", "en"])
    security: SecurityBaseline = Field(default_factory=SecurityBaseline)
    roles: list[RoleSpec] = Field(default_factory=list)
    #: The schools list (CSV, relative to the realm file) the organisation tree is generated from.
    organisation_file: str | None = None
    #: Declared user attributes (citizen ID, date of birth, unit codes...), validated by Keycloak.
    user_profile: list[ProfileAttribute] = Field(default_factory=list)
    client_scopes: list[ClientScopeSpec] = Field(default_factory=list)
    clients: list[ClientSpec] = Field(default_factory=list)
    #: External providers people may log in with, linked to their accounts by citizen ID.
    identity_providers: list[IdentityProviderSpec] = Field(default_factory=list)
    #: The organisation tree, read from ``organisation_file`` by :func:`load_realm`.
    units: list[Unit] = Field(default_factory=list, exclude=True)
    users: list[UserSpec] = Field(default_factory=list)
    #: Findings of the realm's own scan accepted with a reason (never a whole rule: one subject).
    accepted_findings: list[AcceptedFinding] = Field(default_factory=list)

    def check_references(self) -> None:
        """Every role a user or service account is given must be defined in this realm."""
        realm_roles = {r.name for r in self.roles}
        client_roles = {c.client_id: set(c.roles) for c in self.clients}
        # Keycloak's own realm-management client: the read-only roles a collector may hold.
        client_roles.setdefault("realm-management", {"view-events", "view-users", "view-realm"})
        for declared in self.roles:
            for included in declared.composites:
                if included not in realm_roles or included == declared.name:
                    raise IdpConfigError(
                        f"roles[{declared.name}].composites: unknown or self role {included!r}"
                    )
        for user in self.users:
            for role in user.realm_roles:
                if role not in realm_roles:
                    raise IdpConfigError(
                        f"users[{user.username}].realm_roles: unknown role {role!r}"
                    )
        declared_attributes = {a.name for a in self.user_profile}
        for provider in self.identity_providers:
            if provider.link_attribute not in declared_attributes:
                raise IdpConfigError(
                    f"identity_providers[{provider.alias}].link_attribute: "
                    f"{provider.link_attribute!r} is not a declared user_profile attribute"
                )
        scopes = {s.name for s in self.client_scopes}
        client_ids = {c.client_id for c in self.clients}
        for scope in self.client_scopes:
            if scope.audience is not None and scope.audience not in client_ids:
                raise IdpConfigError(
                    f"client_scopes[{scope.name}].audience: unknown client {scope.audience!r}"
                )
        for client in self.clients:
            for role in client.visible_roles or []:
                if role not in realm_roles:
                    raise IdpConfigError(
                        f"clients[{client.client_id}].visible_roles: unknown role {role!r}"
                    )
            for scope_name in client.optional_scopes:
                if scope_name not in scopes:
                    raise IdpConfigError(
                        f"clients[{client.client_id}].optional_scopes: unknown scope {scope_name!r}"
                    )
            for owner, roles in client.service_account_roles.items():
                if client.access_type is not AccessType.SERVICE:
                    raise IdpConfigError(
                        f"clients[{client.client_id}].service_account_roles: "
                        "only access_type 'service' has a service account"
                    )
                for role in roles:
                    if role not in client_roles.get(owner, set()):
                        raise IdpConfigError(
                            f"clients[{client.client_id}].service_account_roles: "
                            f"unknown role {owner}:{role}"
                        )


_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, variables: Mapping[str, str], where: str) -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of the file (addresses that
    differ per deployment, such as a service's public URL); an unset variable without a default
    is an error naming it."""
    if isinstance(value, dict):
        return {k: _substitute(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables:
                return variables[name]
            if default is not None:
                return default
            raise IdpConfigError(f"{where.lstrip('.')}: variable {name} is not set")

        return _VARIABLE.sub(replace, value)
    return value


def load_realm(path: Path, variables: Mapping[str, str] | None = None) -> RealmSpec:
    """Read and validate a realm file; errors name the file and the field.

    ``${NAME:-default}`` in a value takes ``variables[NAME]``, else the environment, else the default.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IdpConfigError(f"{path}: cannot read YAML ({type(exc).__name__})") from exc
    if not isinstance(raw, dict):
        raise IdpConfigError(f"{path}: the top level must be a mapping")
    try:
        raw = _substitute(raw, {**os.environ, **(variables or {})}, "")
    except IdpConfigError as exc:
        raise IdpConfigError(f"{path}: {exc.detail}") from exc
    try:
        spec = RealmSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise IdpConfigError(f"{path}: {problems}") from exc
    try:
        spec.check_references()
    except IdpConfigError as exc:
        raise IdpConfigError(f"{path}: {exc.detail}") from exc
    if spec.organisation_file is not None:
        spec = spec.model_copy(update={"units": load_schools(path.parent / spec.organisation_file)})
    return spec


DEFAULT_REALM_FILE = Path(__file__).parent / "realm" / "education.yaml"
