"""Logging in to the dashboard and out of it, and the two answers of its one gate
(:data:`~audit.deps.CurrentOfficer`): to the login page, or a refusal.

Login is OpenID Connect's authorization code flow with PKCE (authlib) against the realm, as the
client ``audit-dashboard``. The access token it gets is verified like any API token (audience
``audit-service``) and admitted by :func:`~audit.deps.admit`, the same check every later request
passes; the session then holds who the officer is, never the token.
"""

from __future__ import annotations

import structlog
from authlib.integrations.starlette_client import OAuthError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from audit.deps import (
    OFFICER_ROLE,
    SESSION_KEY,
    DashboardDep,
    OfficerSession,
    OfficerTurnedAway,
    ServicesDep,
    actor_of,
    admit,
    request_auditor,
)
from audit.events import EventTag
from audit.routes.dashboard.language import Text
from audit.routes.dashboard.pages import Link, message

_log = structlog.get_logger(__name__)

LOGIN = "/dashboard/login"

router = APIRouter(include_in_schema=False)


@router.get(LOGIN)
async def login(request: Request, dashboard: DashboardDep) -> Response:
    return await dashboard.redirect(request)


@router.get("/dashboard/callback")
async def callback(request: Request, services: ServicesDep, dashboard: DashboardDep) -> Response:
    try:
        access_token = await dashboard.access_token(request)
    except OAuthError as exc:
        _log.info("dashboard.login_failed", error=exc.error)
        return message(
            Text("Đăng nhập không thành công", "Login failed"),
            link=Link(LOGIN, Text("Thử lại", "Retry")),
        )
    principal = await services.token_verifier.verify(access_token)
    identity = OfficerSession.of(principal)
    # A refusal is recorded as the token's caller, under no unit.
    officer = await admit(
        identity, services, request_auditor(request, services, actor_of(principal))
    )
    next_url = str(request.session.pop("next", "/dashboard"))
    request.session.clear()
    request.session[SESSION_KEY] = identity.model_dump()
    auditor = request_auditor(request, services, officer.actor(dashboard.client_id), officer.unit)
    await auditor.record(EventTag.AUDIT_DASHBOARD_LOGIN, target={"role": OFFICER_ROLE})
    # Only a path on this service: never an open redirect.
    return RedirectResponse(
        next_url if next_url.startswith("/dashboard") else "/dashboard", status_code=303
    )


@router.get("/dashboard/logout")
async def logout(request: Request) -> Response:
    request.session.clear()
    return message(
        Text("Đã đăng xuất", "Logged out"),
        link=Link("/dashboard", Text("Đăng nhập lại", "Log in again")),
    )


async def to_login(request: Request, exc: Exception) -> Response:
    """No session (:class:`~audit.deps.LoginRequired`): to the login page, and back to the page
    asked for once logged in (a page, not a form that was posted)."""
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        request.session["next"] = request.url.path + query
    return RedirectResponse(LOGIN, status_code=303)


async def turned_away(request: Request, exc: Exception) -> Response:
    """Not an officer, or no known unit (:class:`~audit.deps.OfficerTurnedAway`): a 403 page, and
    the session ends."""
    assert isinstance(exc, OfficerTurnedAway)  # noqa: S101 - registered for this type only
    request.session.clear()
    return message(
        Text("Không có quyền", "Forbidden"),
        Text(exc.error.message_vi, exc.error.message_en),
        link=Link("/dashboard/logout", Text("Đăng xuất", "Log out")),
        status_code=403,
    )
