"""The audit service's HTTP application: the lifespan builds the :class:`~audit.services.Services`
(and starts the service's background work through them), the routers (``audit/routes/``) are
included, nothing else.

The service ingests the event stream into the store and answers queries about it: the API for
readers with ``read-events``, and the security officers' dashboard when it is configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from audit.routes import events, ops
from audit.routes.dashboard import install_dashboard
from audit.services import SERVICE, running_services
from audit.settings import AuditSettings
from gateway_runtime import configure_logging, install_http_runtime
from gateway_runtime.collector import collect_cycles_less


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            app.state.services = services
            app.state.token_verifier = services.token_verifier
            collect_cycles_less()  # started: the start-up heap is never scanned again
            yield

    app = FastAPI(
        title="Dịch vụ nhật ký kiểm toán (Audit service)",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_http_runtime(app, service=SERVICE)
    install_dashboard(app, settings)
    app.include_router(ops.router)
    app.include_router(events.router)
    return app
