"""Everything the audit service's routes use, built once at start-up and closed at shutdown.

:func:`running_services` is the lifespan's one job: check the keys (the service refuses to start
without valid ones: fail closed), open the store and the connections, start the background work
(ingesting the stream, collecting Keycloak's events, checkpointing and witnessing, retention) and
give the routes one typed :class:`Services` (through :mod:`audit.deps`), so that nothing reads
untyped application state. Everything it started is stopped, in reverse order, when the service
stops or when a later step of the start fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as redis_async
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from starlette.requests import Request
from starlette.responses import Response

from audit.auditor import Auditor
from audit.background import (
    cancelled,
    checkpoint_periodically,
    index_words_continually,
    retain_periodically,
)
from audit.checkpoints import TokenCheckpointSigner
from audit.detection import Detector, WebhookNotifier, load_detection_config
from audit.errors import AuditError
from audit.events import Actor
from audit.ingest import StreamIngestor
from audit.keycloak_events import KeycloakEventCollector
from audit.reports import ReportSigner
from audit.scope import UnitTree
from audit.settings import AuditSettings
from audit.store import EventStore, open_store
from audit.trail import RedisAuditTrail, trail_client
from audit.witnessing import WitnessCollector, WitnessEndpoint
from gateway_runtime import AccessTokenVerifier
from gateway_runtime.keystore import TokenKeystore
from gateway_runtime.redis_connection import RedisAddress

SERVICE = "audit"
#: The actor of what the service records on its own (archives written by retention).
SERVICE_ACTOR = Actor(name="audit-service")


@dataclass(frozen=True)
class DashboardLogin:
    """The dashboard's OpenID Connect client (authorization code with PKCE, authlib)."""

    client: StarletteOAuth2App
    client_id: str
    #: Where the realm sends the officer back (``<public_url>/dashboard/callback``).
    redirect_uri: str

    async def redirect(self, request: Request) -> Response:
        """To the realm's login page (the state and the PKCE verifier kept in the session)."""
        response: Response = await self.client.authorize_redirect(request, self.redirect_uri)
        return response

    async def access_token(self, request: Request) -> str:
        """The access token for the code the realm sent back; raises authlib's ``OAuthError``."""
        # The stubs leave authorize_access_token untyped; it returns the token endpoint's JSON.
        token = await self.client.authorize_access_token(request)  # type: ignore[no-untyped-call]
        return str(token["access_token"])


@dataclass
class Services:
    settings: AuditSettings
    store: EventStore
    #: The service's own events (queries, logins, triage, exports, archives), sealed as ``audit``.
    trail: RedisAuditTrail
    redis: redis_async.Redis
    token_verifier: AccessTokenVerifier
    ingestor: StreamIngestor
    detector: Detector
    #: Where alerts are POSTed besides the log itself (``AUDIT_ALERT_WEBHOOK_URL``), if anywhere.
    alert_notifier: WebhookNotifier | None
    witnesses: list[WitnessEndpoint]
    witness_quorum: int
    witnessing: WitnessCollector | None
    #: Signs checkpoints in the token; ``None`` without a PIN (no checkpoints are made).
    checkpoint_signer: TokenCheckpointSigner | None
    #: Pulls Keycloak's events; ``None`` without the collector's secret.
    collector: KeycloakEventCollector | None
    #: The sector's units: which events a district's or a school's officer may see.
    unit_tree: UnitTree
    report_signer: ReportSigner
    #: ``None`` when the dashboard is not configured (no client secret or session key).
    dashboard: DashboardLogin | None

    def service_auditor(self) -> Auditor:
        """Events the service records on its own, outside any request."""
        return Auditor(trail=self.trail, service=SERVICE, actor=SERVICE_ACTOR)


def dashboard_configured(settings: AuditSettings) -> bool:
    return settings.dashboard_client_secret is not None and settings.session_secret is not None


def _dashboard_login(settings: AuditSettings) -> DashboardLogin | None:
    if settings.dashboard_client_secret is None or not dashboard_configured(settings):
        return None
    oauth = OAuth()
    client: StarletteOAuth2App = oauth.register(
        "keycloak",
        client_id=settings.dashboard_client_id,
        client_secret=settings.dashboard_client_secret.get_secret_value(),
        server_metadata_url=f"{settings.keycloak_issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid audit", "code_challenge_method": "S256"},
    )
    return DashboardLogin(
        client=client,
        client_id=settings.dashboard_client_id,
        redirect_uri=f"{settings.public_url.rstrip('/')}/dashboard/callback",
    )


def _collector(
    settings: AuditSettings, trail: RedisAuditTrail, client: redis_async.Redis
) -> KeycloakEventCollector | None:
    if settings.collector_client_secret is None or settings.pseudonym_key is None:
        return None
    base, _, realm = settings.keycloak_issuer.rstrip("/").rpartition("/realms/")
    return KeycloakEventCollector(
        keycloak_url=base,
        realm=realm,
        client_id=settings.collector_client_id,
        client_secret=settings.collector_client_secret.get_secret_value(),
        trail=trail,
        redis=client,
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        interval_seconds=settings.keycloak_events_interval_seconds,
    )


def _checkpoint_signer(
    settings: AuditSettings, stack: AsyncExitStack
) -> TokenCheckpointSigner | None:
    if settings.user_pin is None:
        return None
    keystore = TokenKeystore(
        module=settings.pkcs11_module,
        token_label=settings.token_label,
        user_pin=settings.user_pin.get_secret_value(),
    )
    stack.callback(keystore.close)
    return TokenCheckpointSigner(
        keystore, settings.checkpoint_key_label, settings.checkpoint_origin
    )


@asynccontextmanager
async def running_services(settings: AuditSettings) -> AsyncIterator[Services]:
    keyring = settings.keyring()  # refuses to start without valid keys: fail closed
    sealer = settings.sealer()
    witnesses = [WitnessEndpoint.of(w.url, w.vkey) for w in settings.witnesses]
    if settings.collector_client_secret is not None and settings.pseudonym_key is None:
        raise AuditError("AUDIT_PSEUDONYM_KEY is required to collect Keycloak events")
    async with AsyncExitStack() as stack:
        # Closed last: the store and the connections, after everything that uses them stopped.
        store = open_store(settings.store_location())
        stack.callback(store.close)
        redis_address = RedisAddress.parse(settings.redis_url)
        client = redis_address.async_client(
            username=settings.redis_username,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        stack.push_async_callback(client.aclose)
        verifier = AccessTokenVerifier(issuer=settings.keycloak_issuer, audience=settings.client_id)
        stack.push_async_callback(verifier.aclose)
        trail_connections = trail_client(
            redis_address,
            username=settings.redis_username,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        stack.push_async_callback(trail_connections.aclose)
        trail = RedisAuditTrail(trail_connections, sealer, replicas=redis_address.replicas)
        detector = Detector(
            load_detection_config(settings.detection_config),
            alert_key=sealer.seal_one(b"edu-gateway/alert-ids/v1"),
        )
        notifier = (
            WebhookNotifier(settings.alert_webhook_url) if settings.alert_webhook_url else None
        )
        services = Services(
            settings=settings,
            store=store,
            trail=trail,
            redis=client,
            token_verifier=verifier,
            ingestor=StreamIngestor(
                client, store, keyring, detector=detector, alerts=trail, notifier=notifier
            ),
            detector=detector,
            alert_notifier=notifier,
            witnesses=witnesses,
            witness_quorum=settings.witness_quorum,
            witnessing=WitnessCollector(
                store,
                witnesses,
                quorum=settings.witness_quorum,
                timeout=settings.witness_timeout_seconds,
            )
            if witnesses
            else None,
            checkpoint_signer=None,
            collector=None,
            unit_tree=UnitTree.from_schools_file(settings.organisation_file),
            report_signer=ReportSigner(settings),
            dashboard=_dashboard_login(settings),
        )
        await _start_background_work(services, stack)
        yield services


async def _start_background_work(services: Services, stack: AsyncExitStack) -> None:
    """Start the service's own work; each part is stopped (in reverse order) by ``stack``."""
    settings = services.settings
    stack.push_async_callback(services.ingestor.stop)
    services.ingestor.start()
    services.collector = _collector(settings, services.trail, services.redis)
    if services.collector is not None:
        stack.push_async_callback(services.collector.stop)
        services.collector.start()
    if services.witnessing is not None:
        stack.push_async_callback(services.witnessing.aclose)
    services.checkpoint_signer = _checkpoint_signer(settings, stack)
    if services.checkpoint_signer is not None:
        checkpointing = asyncio.create_task(
            checkpoint_periodically(
                services.store,
                services.checkpoint_signer,
                settings.checkpoint_interval_seconds,
                services.witnessing,
            )
        )
        stack.push_async_callback(cancelled, checkpointing)
    retention = asyncio.create_task(
        retain_periodically(services.store, services.service_auditor(), settings)
    )
    stack.push_async_callback(cancelled, retention)
    indexing = asyncio.create_task(index_words_continually(services.store))
    stack.push_async_callback(cancelled, indexing)
