"""The dashboard's language switch (``/dashboard/language``) and cookie; the mechanism is
:mod:`gateway_runtime.language` (Vietnamese unless English was chosen, remembered)."""

from __future__ import annotations

from gateway_runtime.language import (
    LanguageMiddleware,
    Text,
    back_to,
    current,
    language_switch,
    t,
)

__all__ = ["COOKIE", "LanguageMiddleware", "Text", "current", "router", "t"]

COOKIE = "edu_audit_lang"
#: Pages not to go back to: a login's steps (a used authorization code would fail the login).
_NOT_BACK = ("/dashboard/callback", "/dashboard/login", "/dashboard/logout")

router = language_switch(
    "/dashboard/language",
    cookie=COOKIE,
    cookie_path="/dashboard",
    home="/dashboard",
    prefixes=("/dashboard",),
    avoid=_NOT_BACK,
)


def _back_to(referer: str | None) -> str:
    """Where the dashboard's switch goes back to (for the tests)."""
    return back_to(
        referer,
        home="/dashboard",
        prefixes=("/dashboard",),
        avoid=("/dashboard/language", *_NOT_BACK),
    )
