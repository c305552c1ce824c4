"""The signing service's HTTP application: the lifespan builds the :class:`~.services.Services`, the
routers (``signing_service/routes/``) are included, nothing else.

Every signature and verification is an audit event, recorded *before* the result is returned; if the
audit trail cannot record it, the caller gets 503 and no signed document (fail closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway_runtime import configure_logging, install_http_runtime
from gateway_runtime.language import LanguageMiddleware
from signing_service.pages import LANGUAGE_COOKIE
from signing_service.routes import approvals, batches, credentials, csc, documents, ops, verify_page
from signing_service.services import SERVICE, running_services
from signing_service.settings import SigningSettings


def create_app(settings: SigningSettings | None = None) -> FastAPI:
    settings = settings or SigningSettings()  # type: ignore[call-arg]  # read from the environment
    configure_logging(json=settings.json_logs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            app.state.services = services
            app.state.token_verifier = services.token_verifier
            yield

    app = FastAPI(
        title="Dịch vụ ký số (Signing service)",
        version="0.1.0",
        lifespan=lifespan,
        description="Ký và xác minh chữ ký PAdES trên tài liệu PDF. "
        "PAdES signing and verification of PDF documents.",
    )
    install_http_runtime(app, service=SERVICE)
    # The public pages' language: Vietnamese unless English was chosen (a cookie, /verify/language).
    app.add_middleware(LanguageMiddleware, cookie=LANGUAGE_COOKIE)
    for router in (
        ops.router,
        documents.router,
        batches.router,
        verify_page.language_router,
        verify_page.router,
        credentials.router,
        approvals.router,
        csc.router,
    ):
        app.include_router(router)
    return app
