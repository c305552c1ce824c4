"""The dashboard's language: Vietnamese unless the officer chose English, and remembered.

Every text the pages show is written in both languages once (:class:`Text` in Python, ``t(vi, en)``
in the templates) and shown in one: the language of the request, which :class:`LanguageMiddleware`
reads from the ``edu_audit_lang`` cookie (set by ``/dashboard/language``, the header's switch) and
holds for the request in a context variable. No cookie, or anything but ``en``: Vietnamese.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "LanguageMiddleware",
    "Text",
    "current",
    "router",
    "t",
]

Language = Literal["vi", "en"]
COOKIE = "edu_audit_lang"
#: A year: the choice is a preference, not a session.
_COOKIE_SECONDS = 365 * 24 * 3600

_language: ContextVar[Language] = ContextVar("dashboard_language", default="vi")


def current() -> Language:
    """The language of the page being made."""
    return _language.get()


def t(vi: str, en: str) -> str:
    """``vi`` or ``en``, as the page's language says."""
    return en if _language.get() == "en" else vi


@dataclass(frozen=True)
class Text:
    """A text in both languages, shown (``str``) in the page's."""

    vi: str
    en: str

    def __str__(self) -> str:
        return t(self.vi, self.en)

    def format(self, **values: object) -> str:
        return str(self).format(**values)


def _chosen(cookie_header: str | None) -> Language:
    if not cookie_header:
        return "vi"
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no choice
        return "vi"
    morsel = cookies.get(COOKIE)
    return "en" if morsel is not None and morsel.value == "en" else "vi"


class LanguageMiddleware:
    """Holds the request's language (its cookie) for everything that makes its page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), None
        )
        token = _language.set(_chosen(header))
        try:
            await self.app(scope, receive, send)
        finally:
            _language.reset(token)


router = APIRouter(include_in_schema=False)


#: Pages not to go back to: a login's steps (a used authorization code would fail the login).
_NOT_BACK = ("/dashboard/language", "/dashboard/callback", "/dashboard/login", "/dashboard/logout")


def _back_to(referer: str | None) -> str:
    """The dashboard page the switch was pressed on (a path of ours only, never another site;
    the overview from a login's steps)."""
    if not referer:
        return "/dashboard"
    path = urlsplit(referer).path
    query = urlsplit(referer).query
    if not path.startswith("/dashboard") or path.startswith(_NOT_BACK):
        return "/dashboard"
    return f"{path}?{query}" if query else path


@router.get("/dashboard/language")
async def switch_language(
    request: Request,
    to: Annotated[Language, Query()],
    referer: Annotated[str | None, Header(max_length=2000)] = None,
) -> RedirectResponse:
    """Remember the language chosen and go back to the page it was chosen on."""
    response = RedirectResponse(_back_to(referer), status_code=303)
    response.set_cookie(
        COOKIE,
        to,
        max_age=_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response
