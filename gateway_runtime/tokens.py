"""Local verification of Keycloak access tokens.

Every request to a gateway service carries a bearer token issued by the ``education`` realm. It is
checked here, locally, against the realm's published keys (JWKS, cached, refetched on an unknown key id
at most once per ``refresh_interval``): signature with an algorithm allow-list, issuer, audience,
expiry, not-before and issued-at. Data is named by how far it is trusted: the raw string is an
``unverified`` token until :meth:`AccessTokenVerifier.verify` returns a :class:`Principal`.

Every rejection is the same 401 to the client (``invalid-token``); the precise reason goes to the log,
never the token itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import structlog
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from gateway_runtime.errors import GatewayError

_log = structlog.get_logger(__name__)

#: Asymmetric algorithms only: an ``HS256`` or ``none`` token is refused before its signature is read.
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256")
_MAX_TOKEN_BYTES = 16 * 1024


class TokenRejected(GatewayError):
    """The bearer token is missing, malformed, expired, or not issued for this service."""

    code: ClassVar[str] = "invalid-token"
    oauth_error: ClassVar[str] = "invalid_token"
    status_code: ClassVar[int] = 401
    message_vi: ClassVar[str] = "Yêu cầu chưa được xác thực hoặc mã truy cập không hợp lệ."
    message_en: ClassVar[str] = "Authentication required, or the access token is not valid."

    def __init__(self, reason: str) -> None:
        # The reason is for the log only; the client always gets the same generic answer.
        super().__init__(None)
        self.reason = reason


class Forbidden(GatewayError):
    """The caller is authenticated but lacks the role the operation requires."""

    code: ClassVar[str] = "forbidden"
    oauth_error: ClassVar[str] = "access_denied"
    status_code: ClassVar[int] = 403
    message_vi: ClassVar[str] = "Tài khoản không có quyền thực hiện thao tác này."
    message_en: ClassVar[str] = "The account is not allowed to perform this operation."


class InsufficientUserAuthentication(GatewayError):
    """The token's login is too weak or too old for the operation (OAuth 2.0 step-up, RFC 9470).

    The answer is a 401 whose ``WWW-Authenticate`` challenge names the level of assurance
    (``acr_values``) and the greatest age of the login (``max_age``) the client must ask Keycloak
    for; the same two values are in the JSON body."""

    code: ClassVar[str] = "insufficient-user-authentication"
    oauth_error: ClassVar[str] = "insufficient_user_authentication"
    status_code: ClassVar[int] = 401
    message_vi: ClassVar[str] = (
        "Cần đăng nhập lại với xác thực hai yếu tố (mã OTP) để thực hiện thao tác này."
    )
    message_en: ClassVar[str] = (
        "Log in again with a second factor (a one-time code) to perform this operation."
    )

    def __init__(self, *, acr_values: str, max_age: int) -> None:
        super().__init__(None, acr_values=acr_values, max_age=max_age)

    def authentication_challenge(self) -> str:
        return (
            f'Bearer error="{self.oauth_error}", error_description="{self.message_en}", '
            f'acr_values="{self.fields["acr_values"]}", max_age={self.fields["max_age"]}'
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a verified access token."""

    subject: str
    client_id: str
    username: str | None
    roles: frozenset[str]
    realm_roles: frozenset[str]
    acr: str | None
    token_id: str | None
    claims: dict[str, Any] = field(repr=False, compare=False)

    @property
    def actor(self) -> str:
        """The name audit events use: the user name, or ``client:<id>`` for a service account."""
        if self.is_person:
            return str(self.username)
        return f"client:{self.client_id}"

    @property
    def unit(self) -> str | None:
        """The caller's unit (``unit_code`` claim, where the token's scope carries it)."""
        raw = self.claims.get("unit_code")
        value = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
        return value if isinstance(value, str) and value else None

    @property
    def is_person(self) -> bool:
        """True for a person's token (authorization code), false for a service account's."""
        return bool(self.username) and not str(self.username).startswith("service-account-")

    @property
    def scopes(self) -> frozenset[str]:
        """The OAuth scopes granted to this token (its ``scope`` claim)."""
        return frozenset(str(self.claims.get("scope", "")).split())

    @property
    def display_name(self) -> str:
        """The person's full name in Vietnamese order (family name first), else the actor name.

        Keycloak's ``name`` claim puts the given name first ("Hoa Phạm Thị"); a Vietnamese name
        is written family name first ("Phạm Thị Hoa"), as certificates and stamps must show it.
        """
        family, given = self.claims.get("family_name"), self.claims.get("given_name")
        if family and given:
            return f"{family} {given}"
        return str(self.claims.get("name") or self.actor)

    def require_recent_login(self, *, level: int, max_age: int) -> None:
        """Refuse (RFC 9470 step-up) unless the person logged in at ``level`` of assurance or above
        (Keycloak's ``acr``: 1 password, 2 a second factor) at most ``max_age`` seconds ago
        (``auth_time``)."""
        acr, auth_time = self.acr, self.claims.get("auth_time")
        strong = acr is not None and acr.isdigit() and int(acr) >= level
        # A minute of clock difference between Keycloak and this host is tolerated.
        recent = isinstance(auth_time, int) and -60 <= time.time() - auth_time <= max_age
        if not (strong and recent):
            raise InsufficientUserAuthentication(acr_values=str(level), max_age=max_age)

    def require(self, role: str) -> None:
        if role not in self.roles:
            raise Forbidden(f"missing role {role!r}")

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"missing scope {scope!r}")


class AccessTokenVerifier:
    """Verifies access tokens for one audience (the service's own client id)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
        leeway_seconds: int = 30,
        refresh_interval: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.jwks_url = jwks_url or f"{self.issuer}/protocol/openid-connect/certs"
        self.algorithms = algorithms
        self.leeway = leeway_seconds
        self.refresh_interval = refresh_interval
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _key_set(self, *, force: bool = False) -> KeySet:
        async with self._lock:
            stale = time.monotonic() - self._fetched_at > self.refresh_interval
            if self._keys is None or (force and stale):
                try:
                    response = await self._http.get(self.jwks_url)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
                except (httpx.HTTPError, ValueError, JoseError) as exc:
                    _log.warning("jwks.fetch_failed", url=self.jwks_url, error=type(exc).__name__)
                    if self._keys is None:
                        raise TokenRejected("issuer keys unavailable") from exc
                self._fetched_at = time.monotonic()
            return self._keys

    async def verify(self, unverified_token: str) -> Principal:
        """Return the caller if the token is valid for this service; raise :class:`TokenRejected`."""
        if not unverified_token or len(unverified_token) > _MAX_TOKEN_BYTES:
            raise TokenRejected("token empty or oversized")
        if unverified_token.count(".") != 2:
            raise TokenRejected("not a compact JWS")
        keys = await self._key_set()
        try:
            try:
                token = jwt.decode(unverified_token, keys, algorithms=list(self.algorithms))
            except InvalidKeyIdError:
                # The realm may have rotated its keys: refetch once, then decide.
                keys = await self._key_set(force=True)
                token = jwt.decode(unverified_token, keys, algorithms=list(self.algorithms))
        except (JoseError, ValueError) as exc:
            raise TokenRejected(f"signature: {type(exc).__name__}") from exc

        claims = token.claims
        # Every check is spelled out, even where joserfc would do it, so that none is left implicit.
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": False},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenRejected(f"claims: {exc.error}") from exc
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.audience not in audiences:
            raise TokenRejected("audience")
        if claims.get("typ", "Bearer") != "Bearer":
            raise TokenRejected("not an access token")

        resource_access = claims.get("resource_access") or {}
        own = resource_access.get(self.audience) or {}
        realm_access = claims.get("realm_access") or {}
        return Principal(
            subject=str(claims.get("sub", "")),
            client_id=str(claims.get("azp", "")),
            username=claims.get("preferred_username"),
            roles=frozenset(own.get("roles") or ()),
            realm_roles=frozenset(realm_access.get("roles") or ()),
            acr=claims.get("acr"),
            token_id=claims.get("jti"),
            claims=dict(claims),
        )
