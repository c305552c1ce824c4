"""The language of the pages people read: Vietnamese unless they chose English, and remembered.

Every text a page shows is written in both languages once (:class:`Text` in Python, ``t(vi, en)`` in
templates) and shown in one: the request's, which :class:`LanguageMiddleware` reads from a cookie
(set by the page's switch, :func:`language_switch`) and holds for the request in a context variable.
No cookie, or anything but ``en``: Vietnamese. The dashboard and the public pages of the signing
service each have their switch and their cookie.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "Language",
    "LanguageMiddleware",
    "Text",
    "back_to",
    "current",
    "language_switch",
    "t",
]

Language = Literal["vi", "en"]
#: A year: the choice is a preference, not a session.
_COOKIE_SECONDS = 365 * 24 * 3600

_language: ContextVar[Language] = ContextVar("page_language", default="vi")


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


def chosen(cookie_header: str | None, cookie: str) -> Language:
    """The language a ``Cookie`` header chose (Vietnamese for none, another value or a bad header)."""
    if not cookie_header:
        return "vi"
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return "vi"
    morsel = cookies.get(cookie)
    return "en" if morsel is not None and morsel.value == "en" else "vi"


class LanguageMiddleware:
    """Holds the request's language (its ``cookie``) for everything that makes its page."""

    def __init__(self, app: ASGIApp, *, cookie: str) -> None:
        self.app = app
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), None
        )
        token = _language.set(chosen(header, self.cookie))
        try:
            await self.app(scope, receive, send)
        finally:
            _language.reset(token)


def back_to(
    referer: str | None, *, home: str, prefixes: tuple[str, ...], avoid: tuple[str, ...]
) -> str:
    """The page the switch was pressed on: a path of ours under ``prefixes`` only (never another
    site), else ``home``; never one of ``avoid`` (a login's steps: a used code would fail)."""
    if not referer:
        return home
    parts = urlsplit(referer)
    if not parts.path.startswith(prefixes) or parts.path.startswith(avoid):
        return home
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def language_switch(
    path: str,
    *,
    cookie: str,
    cookie_path: str,
    home: str,
    prefixes: tuple[str, ...],
    avoid: tuple[str, ...] = (),
) -> APIRouter:
    """A ``GET path?to=en`` route that remembers the language and goes back to the page."""
    router = APIRouter(include_in_schema=False)

    @router.get(path)
    async def switch_language(
        request: Request,
        to: Annotated[Language, Query()],
        back: Annotated[str | None, Query(max_length=2000)] = None,
        referer: Annotated[str | None, Header(max_length=2000)] = None,
    ) -> RedirectResponse:
        """``back``: the page to return to, where the page's referrer policy sends no Referer."""
        target = back_to(back or referer, home=home, prefixes=prefixes, avoid=(path, *avoid))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            cookie,
            to,
            max_age=_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path=cookie_path,
        )
        return response

    return router
