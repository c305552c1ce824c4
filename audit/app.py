"""The audit service: ingests the event stream into the store and answers queries about it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import redis.asyncio as redis_async
import structlog
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from audit.checkpoints import Checkpointer, TokenCheckpointSigner, prove_event
from audit.dashboard import install_dashboard
from audit.detection import Detector, WebhookNotifier, load_detection_config
from audit.errors import AuditError, NotCheckpointed, ProofInvalid
from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.ingest import StreamIngestor
from audit.keycloak_events import KeycloakEventCollector
from audit.note import b64
from audit.ocsf import ocsf_records
from audit.retention import apply_retention
from audit.settings import AuditSettings
from audit.store import EventStore, open_store
from audit.trail import RedisAuditTrail
from audit.tree import StoredTree
from audit.witnessing import WitnessCollector, WitnessEndpoint, cosignature_lines, witness_status
from gateway_runtime import AccessTokenVerifier, configure_logging, install_http_runtime
from gateway_runtime.errors import GatewayError
from gateway_runtime.http import CurrentPrincipal, client_address
from gateway_runtime.keystore import TokenKeystore

_log = structlog.get_logger(__name__)

SERVICE = "audit"
READ_ROLE = "read-events"


async def _checkpoint_periodically(
    store: EventStore,
    signer: TokenCheckpointSigner,
    interval: float,
    witnessing: WitnessCollector | None = None,
) -> None:
    checkpointer = Checkpointer(store, signer)
    submitting: asyncio.Task[object] | None = None
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                checkpoint = await asyncio.to_thread(checkpointer.checkpoint)
            except GatewayError as exc:
                # A log that fails its checks is never signed over; the checkpointer starts afresh.
                _log.error("audit.checkpoint_failed", code=exc.code)
                checkpointer = Checkpointer(store, signer)
                continue
            if checkpoint is not None:
                _log.info("audit.checkpoint", tree_size=checkpoint.tree_size)
            # Witnessing runs beside the checkpoints, one round at a time, never holding them up;
            # a round that missed a witness is tried again with the latest checkpoint.
            if witnessing is not None and (submitting is None or submitting.done()):
                latest = checkpoint or await asyncio.to_thread(store.latest_checkpoint)
                if latest is not None and latest.is_note and not witnessing.done(latest.tree_size):
                    submitting = asyncio.create_task(witnessing.submit(latest))
    finally:
        if submitting is not None:
            submitting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await submitting


async def _retain_periodically(
    store: EventStore, trail: RedisAuditTrail, settings: AuditSettings
) -> None:
    """Retention once per interval: expired events to archives, each archive an audit event."""
    while True:
        await asyncio.sleep(settings.retention_interval_seconds)
        try:
            run = await asyncio.to_thread(
                apply_retention, store, settings.retention(), settings.archive_dir
            )
            for archive in run.archives:
                await trail.record(
                    AuditEvent.build(
                        tag=EventTag.AUDIT_LOG_ARCHIVE,
                        service=SERVICE,
                        actor=Actor(name="audit-service"),
                        outcome=Outcome.SUCCESS,
                        target={
                            "archive": archive.path.name,
                            "archive_sha256": archive.sha256,
                            "records": str(archive.records),
                            "positions": f"{archive.first_seq}..{archive.last_seq}",
                        },
                    )
                )
        except (GatewayError, OSError) as exc:
            # Nothing is emptied before its archive is on disk; the next run tries again.
            _log.error(
                "audit.retention_failed", code=getattr(exc, "code", None) or type(exc).__name__
            )
            continue
        if run.archives:
            _log.info("audit.retention", archived=run.archived, waiting=run.waiting)


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keyring = settings.keyring()  # refuses to start without valid keys: fail closed
        sealer = settings.sealer()
        client = redis_async.Redis.from_url(
            settings.redis_url,
            username=settings.redis_username,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        store = open_store(settings.store_location())
        trail = RedisAuditTrail(client, sealer)
        ingestor = StreamIngestor(
            client,
            store,
            keyring,
            detector=Detector(load_detection_config(settings.detection_config)),
            alerts=trail,
            notifier=WebhookNotifier(settings.alert_webhook_url)
            if settings.alert_webhook_url
            else None,
        )
        app.state.store = store
        app.state.ingestor = ingestor
        app.state.trail = trail
        app.state.token_verifier = AccessTokenVerifier(
            issuer=settings.keycloak_issuer, audience=settings.client_id
        )
        ingestor.start()
        collector: KeycloakEventCollector | None = None
        if settings.collector_client_secret is not None:
            if settings.pseudonym_key is None:
                raise AuditError("AUDIT_PSEUDONYM_KEY is required to collect Keycloak events")
            base, _, realm = settings.keycloak_issuer.rstrip("/").rpartition("/realms/")
            collector = KeycloakEventCollector(
                keycloak_url=base,
                realm=realm,
                client_id=settings.collector_client_id,
                client_secret=settings.collector_client_secret.get_secret_value(),
                trail=app.state.trail,
                redis=client,
                pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
                interval_seconds=settings.keycloak_events_interval_seconds,
            )
            collector.start()
        keystore: TokenKeystore | None = None
        checkpointer: asyncio.Task[None] | None = None
        witnessing: WitnessCollector | None = None
        if settings.witnesses:
            witnessing = WitnessCollector(
                store,
                app.state.witnesses,
                quorum=settings.witness_quorum,
                timeout=settings.witness_timeout_seconds,
            )
        if settings.user_pin is not None:
            keystore = TokenKeystore(
                module=settings.pkcs11_module,
                token_label=settings.token_label,
                user_pin=settings.user_pin.get_secret_value(),
            )
            signer = TokenCheckpointSigner(
                keystore, settings.checkpoint_key_label, settings.checkpoint_origin
            )
            checkpointer = asyncio.create_task(
                _checkpoint_periodically(
                    store, signer, settings.checkpoint_interval_seconds, witnessing
                )
            )
        retention = asyncio.create_task(_retain_periodically(store, trail, settings))
        try:
            yield
        finally:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            if checkpointer is not None:
                checkpointer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checkpointer
            if keystore is not None:
                keystore.close()
            if witnessing is not None:
                await witnessing.aclose()
            if collector is not None:
                await collector.stop()
            await ingestor.stop()
            await app.state.token_verifier.aclose()
            await client.aclose()
            store.close()

    app = FastAPI(
        title="Dịch vụ nhật ký kiểm toán (Audit service)",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_http_runtime(app, service=SERVICE)
    install_dashboard(app, settings)
    app.state.witnesses = [WitnessEndpoint.of(w.url, w.vkey) for w in settings.witnesses]
    app.state.witness_quorum = settings.witness_quorum

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        ingestor: StreamIngestor = request.app.state.ingestor
        ok = ingestor.healthy
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "ingest": "up" if ok else "down"},
            status_code=200 if ok else 503,
        )

    @app.get("/v1/events", tags=["events"])
    async def list_events(
        request: Request,
        principal: CurrentPrincipal,
        tag: EventTag | None = None,
        actor: Annotated[str | None, Query(max_length=256)] = None,
        since: datetime | None = None,
        correlation_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        format: Annotated[str, Query(pattern="^(gateway|ocsf)$")] = "gateway",
    ) -> dict[str, Any]:
        """Events, newest first: in the gateway's schema, or with ``format=ocsf`` as OCSF 1.9
        records (Authentication, Account Change, API Activity, Compliance/Detection Finding),
        each with its place in the hash chain (the ``record_integrity`` profile)."""
        principal.require(READ_ROLE)
        store: EventStore = request.app.state.store
        rows = store.query(
            tag=tag.value if tag else None,
            actor=actor,
            since=since,
            correlation_id=correlation_id,
            limit=limit,
        )
        # Reading the audit log is itself audited.
        await request.app.state.trail.record(
            AuditEvent.build(
                tag=EventTag.AUDIT_EVENTS_QUERY,
                service=SERVICE,
                actor=Actor(
                    name=principal.actor, client_id=principal.client_id, subject=principal.subject
                ),
                outcome=Outcome.SUCCESS,
                target={"filter_tag": tag.value if tag else "", "results": str(len(rows))},
                source=client_address(request),
                correlation_id=request.state.request_id,
            )
        )
        if format == "ocsf":
            return {"events": await asyncio.to_thread(ocsf_records, store, rows)}
        return {
            "events": [{"seq": r.seq, "chain_hash": r.chain_hash, **r.event} for r in rows],
        }

    @app.get("/v1/checkpoints/latest", tags=["events"], response_model=None)
    async def latest_checkpoint(
        request: Request,
        principal: CurrentPrincipal,
        format: Annotated[str, Query(pattern="^(json|note)$")] = "json",
    ) -> dict[str, Any] | PlainTextResponse:
        """The latest signed checkpoint with the witnesses' cosignatures: as JSON (with
        ``witnessed``), or with ``format=note`` the C2SP signed note itself (the file an officer
        keeps, for ``gateway-audit verify --from-checkpoint``)."""
        principal.require(READ_ROLE)
        store: EventStore = request.app.state.store
        latest = await asyncio.to_thread(store.latest_checkpoint)
        if latest is None:
            raise NotCheckpointed("no checkpoint yet")
        witnesses = request.app.state.witnesses
        if not latest.is_note:
            return latest.to_json()
        lines, _ = await asyncio.to_thread(cosignature_lines, store, latest, witnesses)
        note = latest.note(lines).render()
        if format == "note":
            return PlainTextResponse(note)
        status = witness_status(store, latest, witnesses, request.app.state.witness_quorum)
        return {**latest.to_json(), "note": note, "witnessed": status.to_json()}

    @app.get("/v1/checkpoints/consistency", tags=["events"])
    async def consistency(
        request: Request,
        principal: CurrentPrincipal,
        old_size: Annotated[int, Query(alias="from", ge=0)],
        new_size: Annotated[int | None, Query(alias="to", ge=0)] = None,
    ) -> dict[str, Any]:
        """The RFC 9162 consistency proof between two tree sizes (``to``: the latest checkpoint's),
        base64 hashes in order; check it with both signed roots."""
        principal.require(READ_ROLE)
        store: EventStore = request.app.state.store
        latest = await asyncio.to_thread(store.latest_checkpoint)
        if latest is None:
            raise NotCheckpointed("no checkpoint yet")
        upper = latest.tree_size if new_size is None else new_size
        if not old_size <= upper <= latest.tree_size:
            raise ProofInvalid(
                f"sizes must satisfy from <= to <= {latest.tree_size} (the latest checkpoint)"
            )
        proof = await asyncio.to_thread(StoredTree(store).consistency_proof, old_size, upper)
        return {"from": old_size, "to": upper, "proof": [b64(h) for h in proof]}

    @app.get("/v1/events/{event_id}/proof", tags=["events"])
    async def event_proof(
        request: Request,
        principal: CurrentPrincipal,
        event_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    ) -> dict[str, Any]:
        principal.require(READ_ROLE)
        proof = await asyncio.to_thread(prove_event, request.app.state.store, event_id)
        if proof is None:
            raise NotCheckpointed("the event is unknown or not yet covered by a checkpoint")
        return proof

    @app.get("/v1/chain", tags=["events"])
    async def verify_chain(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        principal.require(READ_ROLE)
        store: EventStore = request.app.state.store
        return {"verified_records": store.verify_chain(), "status": "intact"}

    return app
