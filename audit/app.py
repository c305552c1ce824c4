"""The audit service: ingests the event stream into the store and answers queries about it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import redis.asyncio as redis_async
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.ingest import StreamIngestor
from audit.settings import AuditSettings
from audit.store import SqliteEventStore
from audit.trail import RedisAuditTrail
from gateway_runtime import AccessTokenVerifier, configure_logging, install_http_runtime
from gateway_runtime.http import CurrentPrincipal, client_address

SERVICE = "audit"
READ_ROLE = "read-events"


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis_async.Redis.from_url(
            settings.redis_url,
            password=settings.redis_password.get_secret_value()
            if settings.redis_password
            else None,
        )
        store = SqliteEventStore(settings.store_path)
        ingestor = StreamIngestor(client, store)
        app.state.store = store
        app.state.ingestor = ingestor
        app.state.trail = RedisAuditTrail(client)
        app.state.token_verifier = AccessTokenVerifier(
            issuer=settings.keycloak_issuer, audience=settings.client_id
        )
        ingestor.start()
        try:
            yield
        finally:
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
    ) -> dict[str, Any]:
        principal.require(READ_ROLE)
        store: SqliteEventStore = request.app.state.store
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
        return {
            "events": [{"seq": r.seq, "chain_hash": r.chain_hash, **r.event} for r in rows],
        }

    @app.get("/v1/chain", tags=["events"])
    async def verify_chain(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        principal.require(READ_ROLE)
        store: SqliteEventStore = request.app.state.store
        return {"verified_records": store.verify_chain(), "status": "intact"}

    return app
