"""The security officers' dashboard: Vietnamese first (English by choice, remembered:
:mod:`.language`), in words rather than machine values (:mod:`.wording`), behind the SSO, pages
rendered on the server.

Every page but the login's passes one gate, :data:`audit.deps.CurrentOfficer`: only a security
officer with a known unit gets in, and sees the events of that unit and the units below it. The
session is a signed cookie (HttpOnly, SameSite=Lax, Secure outside dev) holding who the officer is,
never a token, for at most 30 minutes. Changes (alert triage) are POST forms with a per-session
CSRF token.

Every read of the log through the dashboard (a search, a timeline, an export, a report) and every
triage action is itself an audit event. Pages run no script; charts are inline SVG
(:mod:`audit.charts`). One module per family of pages: :mod:`.session` (login, logout),
:mod:`.overview`, :mod:`.search` (with the CSV export), :mod:`.timelines`, :mod:`.alerts` (with
triage), :mod:`.reports`, :mod:`.compliance`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from audit.deps import SESSION_COOKIE, SESSION_SECONDS, LoginRequired, OfficerTurnedAway
from audit.routes.dashboard import (
    alerts,
    compliance,
    language,
    overview,
    reports,
    search,
    session,
    timelines,
)
from audit.services import dashboard_configured
from audit.settings import AuditSettings

ROUTERS = (
    language.router,
    session.router,
    overview.router,
    search.router,
    timelines.router,
    alerts.router,
    reports.router,
    compliance.router,
)


def install_dashboard(app: FastAPI, settings: AuditSettings) -> None:
    """The dashboard's routes, its session cookie and its two answers to a request that may not
    pass (to the login page; a refusal). Without its client secret and session key, nothing."""
    if settings.session_secret is None or not dashboard_configured(settings):
        return
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_SECONDS,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(language.LanguageMiddleware, cookie=language.COOKIE)
    app.add_exception_handler(LoginRequired, session.to_login)
    app.add_exception_handler(OfficerTurnedAway, session.turned_away)
    for router in ROUTERS:
        app.include_router(router)
