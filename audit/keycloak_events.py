"""Pulls Keycloak's login events and admin events into the audit log, continuously.

Keycloak keeps its own events for a while (days) and serves them newest first, a page at a time. The
collector logs in as the ``audit-collector`` service account (roles ``realm-management:view-events``,
and ``view-users`` only to read a person's ``unit_code`` for the district scope: a login carries its
person's unit, an admin change the administered account's), pages back from the newest event until it
reaches what it already took, and records what is new
oldest first. The checkpoint (the newest time taken, and the ids seen at that millisecond) lives in
Redis, so a restart neither repeats nor skips; and each audit event id is derived from Keycloak's own
event id, so anything delivered twice is stored once.

Personal data is minimised: a user name that is a citizen ID number (12 digits) is replaced by a keyed
hash (HMAC-SHA-256) before it is stored; Keycloak's ``details`` are not copied except the client,
the error, and the authentication type.

A failed login that names no known account (``user_not_found``) is attributed to the name that was
typed — always pseudonymised the same way, since it may be someone's citizen ID or a password typed
in the wrong field — and one with no name at all (``invalid_client``) to the client it claimed, else
the address it came from: unrelated attempts never pile up under one ``unknown`` actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as redis_async
import structlog
from redis.exceptions import RedisError

from audit.errors import AuditUnavailable
from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.trail import AuditTrail

_log = structlog.get_logger(__name__)

_PAGE = 200
_UNIT_CACHE = 100_000
#: How long a person's unit is taken from the cache: account issuing moves people between schools,
#: and their logins must then be the new school's to read, not the old one's.
PERSON_SECONDS = 60.0
_CITIZEN_ID = re.compile(r"^\d{12}$")
_LOGIN_TYPES = {
    "LOGIN": EventTag.IDP_LOGIN_SUCCESS,
    "LOGIN_ERROR": EventTag.IDP_LOGIN_FAILURE,
    "CLIENT_LOGIN_ERROR": EventTag.IDP_LOGIN_FAILURE,
}
_TOKEN_TYPES = {"CLIENT_LOGIN", "CODE_TO_TOKEN", "REFRESH_TOKEN", "TOKEN_EXCHANGE"}


_USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _administered_user(event: dict[str, Any]) -> str | None:
    """The account an admin change is about (``users/<id>``, ``users/<id>/role-mappings/...``;
    not ``users/profile``, the realm's user profile)."""
    parts = str(event.get("resourcePath", "")).split("/")
    if len(parts) >= 2 and parts[0] == "users" and _USER_ID.fullmatch(parts[1]):
        return parts[1]
    return None


def pseudonym(value: str, key: bytes) -> str:
    """``hmac:<16 hex>``: the same value always gives the same pseudonym, and nothing else."""
    return "hmac:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def pseudonymise(value: str, key: bytes) -> str:
    """A citizen ID becomes its :func:`pseudonym`; anything else is kept."""
    return pseudonym(value, key) if _CITIZEN_ID.match(value) else value


class KeycloakEventCollector:
    def __init__(
        self,
        *,
        keycloak_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        trail: AuditTrail,
        redis: redis_async.Redis,
        pseudonym_key: bytes,
        interval_seconds: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = keycloak_url.rstrip("/")
        self._realm = realm
        self._client_id = client_id
        self._client_secret = client_secret
        self._trail = trail
        self._redis = redis
        self._key = pseudonym_key
        self._interval = interval_seconds
        self._http = http or httpx.AsyncClient(timeout=10)
        self._token: str | None = None
        self._task: asyncio.Task[None] | None = None
        #: Per user id of the realm: when it was read, its unit and user name (``None`` for an id
        #: not in it).
        self._people: dict[str, tuple[float, str | None, str | None]] = {}
        self._units_readable = True

    async def _access_token(self) -> str:
        response = await self._http.post(
            f"{self._base}/realms/{self._realm}/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    async def _person(self, user_id: object) -> tuple[str | None, str | None]:
        """The user's ``unit_code`` and user name (cached): a district's officer sees its people's
        logins, and an administrator of the realm is named, not a bare id.

        Needs ``realm-management:view-users``; without it, events are recorded without a unit (the
        department's officers still see them) and a warning says so once.
        """
        if not isinstance(user_id, str) or not user_id or not self._units_readable:
            return None, None
        cached = self._people.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < PERSON_SECONDS:
            return cached[1], cached[2]
        try:
            user = await self._get(f"users/{user_id}", {"briefRepresentation": "false"})
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 403:
                self._units_readable = False
                _log.warning("audit.keycloak_units_unreadable", missing_role="view-users")
            if exc.response.status_code not in (403, 404):
                raise
            return None, None
        attributes = user.get("attributes") if isinstance(user, dict) else None
        values = attributes.get("unit_code") if isinstance(attributes, dict) else None
        unit = str(values[0]) if isinstance(values, list) and values else None
        username = user.get("username") if isinstance(user, dict) else None
        if len(self._people) >= _UNIT_CACHE:
            self._people.clear()
        person = (unit, str(username) if username else None)
        self._people[user_id] = (time.monotonic(), *person)
        return person

    async def _unit_of(self, user_id: object) -> str | None:
        return (await self._person(user_id))[0]

    async def _administrator(self, auth: dict[str, Any]) -> str:
        """Who made an admin change: the realm's own administrator by user name (a citizen ID
        pseudonymised); one of another realm (the master realm's) as ``admin:<realm>:<id prefix>``."""
        user_id = str(auth.get("userId") or "")
        if not user_id:
            return "unknown"
        _, username = await self._person(user_id)
        if username:
            return pseudonymise(username, self._key)
        realm = str(auth.get("realmName") or auth.get("realmId") or "?")[:40]
        return f"admin:{realm}:{user_id[:8]}"

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        for attempt in range(2):
            if self._token is None:
                self._token = await self._access_token()
            response = await self._http.get(
                f"{self._base}/admin/realms/{self._realm}/{path}",
                params=params,
                headers={"Authorization": f"Bearer {self._token}"},
            )
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired: log in again once
                continue
            response.raise_for_status()
            return response.json()
        raise httpx.HTTPError("unreachable")

    async def _newer_than(
        self, path: str, checkpoint: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Events after the checkpoint, newest first, paging until the checkpoint is reached."""
        since = int(checkpoint.get("time", 0))
        seen = set(checkpoint.get("ids", []))
        first = 0
        while True:
            page: list[dict[str, Any]] = await self._get(path, {"first": first, "max": _PAGE})
            for event in page:
                time_ms = int(event.get("time", 0))
                if time_ms < since or (time_ms == since and event.get("id") in seen):
                    return
                yield event
            if len(page) < _PAGE:
                return
            first += _PAGE

    async def collect_once(self) -> int:
        """Take every new login and admin event; return how many were recorded."""
        recorded = 0
        for path, kind in (("events", "login"), ("admin-events", "admin")):
            key = f"keycloak-events:{self._realm}:{kind}:checkpoint"
            raw = await self._redis.get(key)
            checkpoint: dict[str, Any] = json.loads(raw) if raw else {}
            fresh = [event async for event in self._newer_than(path, checkpoint)]
            for event in reversed(fresh):  # oldest first
                # A login is its person's unit's; an admin change, the administered account's.
                person = event.get("userId") if kind == "login" else _administered_user(event)
                unit = await self._unit_of(person)
                administrator = (
                    await self._administrator(event.get("authDetails") or {})
                    if kind == "admin"
                    else None
                )
                await self._trail.record(self._to_audit(event, kind, unit, administrator))
                recorded += 1
            if fresh:
                newest = max(int(e.get("time", 0)) for e in fresh)
                ids = [
                    str(e["id"]) for e in fresh if int(e.get("time", 0)) == newest and e.get("id")
                ]
                if newest == int(checkpoint.get("time", -1)):
                    ids = sorted(set(ids) | set(checkpoint.get("ids", [])))
                await self._redis.set(key, json.dumps({"time": newest, "ids": ids}))
        return recorded

    def _to_audit(
        self,
        event: dict[str, Any],
        kind: str,
        unit: str | None = None,
        administrator: str | None = None,
    ) -> AuditEvent:
        when = datetime.fromtimestamp(int(event.get("time", 0)) / 1000, tz=UTC)
        original_id = str(event.get("id") or json.dumps(event, sort_keys=True))
        event_id = hashlib.sha256(f"keycloak:{kind}:{original_id}".encode()).hexdigest()[:32]
        if kind == "admin":
            auth = event.get("authDetails") or {}
            return AuditEvent(
                event_id=event_id,
                tag=EventTag.IDP_ADMIN_CHANGE,
                event_class=EventTag.IDP_ADMIN_CHANGE.event_class,
                time=when,
                service="keycloak",
                actor=Actor(
                    name=administrator or str(auth.get("userId") or "unknown"),
                    client_id=auth.get("clientId"),
                    subject=auth.get("userId"),
                ),
                source_ip=auth.get("ipAddress"),
                target={
                    "operation": str(event.get("operationType", "")),
                    "resource_type": str(event.get("resourceType", "")),
                    "resource_path": str(event.get("resourcePath", ""))[:200],
                },
                outcome=Outcome.SUCCESS,
                unit=unit,
            )
        event_type = str(event.get("type", ""))
        details = event.get("details") or {}
        tag = _LOGIN_TYPES.get(event_type) or (
            EventTag.IDP_TOKEN_ISSUE if event_type in _TOKEN_TYPES else EventTag.IDP_USER_EVENT
        )
        known = bool(event.get("userId"))
        return AuditEvent(
            event_id=event_id,
            tag=tag,
            event_class=tag.event_class,
            time=when,
            service="keycloak",
            actor=Actor(
                name=self._actor_name(event, details)[:256],
                client_id=str(event["clientId"])[:256] if event.get("clientId") else None,
                subject=event.get("userId"),
            ),
            source_ip=event.get("ipAddress"),
            target={
                "type": event_type,
                "auth_method": str(details.get("auth_method", "")),
                **({} if known else {"account": "unknown"}),
            },
            outcome=Outcome.FAILURE if event.get("error") else Outcome.SUCCESS,
            reason=str(event["error"])[:200] if event.get("error") else None,
            unit=unit,
        )

    def _actor_name(self, event: dict[str, Any], details: dict[str, Any]) -> str:
        """Who a login event is about: the account; or, for an account that does not exist, the
        name typed (pseudonymised); or the client claimed; or the address."""
        username = details.get("username")
        if event.get("userId"):
            return pseudonymise(str(username or event["userId"]), self._key)
        if username:
            return pseudonym(str(username), self._key)
        if event.get("clientId"):
            return f"client:{event['clientId']}"
        if event.get("ipAddress"):
            return f"address:{event['ipAddress']}"
        return "unknown"

    async def _run(self) -> None:
        while True:
            try:
                count = await self.collect_once()
                if count:
                    _log.info("audit.keycloak_events", recorded=count)
            except (httpx.HTTPError, OSError, RedisError, AuditUnavailable, ValueError) as exc:
                # The checkpoint moves only after a whole round is recorded: retried as it was.
                _log.warning("audit.keycloak_events_retry", error=type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - one odd event must not end collection
                # Before this, an event of a shape not foreseen ended the task in silence and
                # nothing more was collected until a restart: now it is said, and retried.
                _log.error("audit.keycloak_events_failed", error=type(exc).__name__)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="keycloak-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._http.aclose()
