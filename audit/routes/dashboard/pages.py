"""How the dashboard's pages are made: Jinja2 templates (``audit/templates/``) with autoescaping,
one base layout (the header with the sections, the officer's name and the logout, and the way back
from a page below a section).

Nothing an event or an officer's input carries reaches a page unescaped; the charts come already
escaped from :mod:`audit.charts`. The pages run no script and load nothing: their one style block
(``audit/static/dashboard.css``) is allowed by its hash in the Content-Security-Policy, not by
``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from audit.deps import Officer
from audit.routes.dashboard.language import Text, current, t
from audit.routes.dashboard.wording import event_name, rule_name, severity_name
from gateway_runtime.local_time import for_people

_STATIC = Path(__file__).resolve().parents[2] / "static"


def _shown(value: object) -> object:
    """What a template prints for a value: nothing for ``None`` (a missing field)."""
    return "" if value is None else value


_ENVIRONMENT = Environment(
    loader=PackageLoader("audit", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_shown,
)
_ENVIRONMENT.filters["people_time"] = for_people
_ENVIRONMENT.filters["event_name"] = event_name
_ENVIRONMENT.filters["severity_name"] = severity_name
_ENVIRONMENT.filters["rule_name"] = rule_name
_ENVIRONMENT.globals["t"] = t
_ENVIRONMENT.globals["language"] = current
_STYLE_TEXT = (_STATIC / "dashboard.css").read_text(encoding="utf-8")
# Our own static file, not input: inserted as is, and allowed by its hash.
_STYLE = Markup(_STYLE_TEXT)  # noqa: S704
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE_TEXT.encode()).digest()).decode()

PAGE_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
}


@dataclass(frozen=True)
class Link:
    href: str
    label: Text | str


#: The sections, as the header links to them (and as the way back from the pages below them).
OVERVIEW = Link("/dashboard", Text("Tổng quan", "Overview"))
EVENTS = Link("/dashboard/events", Text("Sự kiện", "Events"))
ALERTS = Link("/dashboard/alerts", Text("Cảnh báo", "Alerts"))
REPORTS = Link("/dashboard/report", Text("Báo cáo", "Reports"))
COMPLIANCE = Link("/dashboard/compliance", Text("Tuân thủ", "Compliance"))
SECTIONS = (OVERVIEW, EVENTS, ALERTS, REPORTS, COMPLIANCE)


def render(template: str, **context: Any) -> str:
    return _ENVIRONMENT.get_template(template).render(**context)


def macro(template: str, name: str, *args: Any) -> str:
    """One macro of a template, rendered on its own (a piece of a page)."""
    return str(getattr(_ENVIRONMENT.get_template(template).module, name)(*args))


def page(
    template: str,
    *,
    title: Text | str,
    officer: Officer | None,
    back: Link | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the base layout; without an officer (logged out, refused) the header has only
    the service's name."""
    html = render(
        template,
        title=title,
        officer=officer,
        sections=SECTIONS,
        back=back,
        style=_STYLE,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def message(
    title: Text | str,
    text: Text | str = "",
    *,
    officer: Officer | None = None,
    link: Link | None = None,
    back: Link | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page of one message (logged out, refused, a triage that cannot be saved), with a way
    back: ``link`` or ``back`` if given, else to the overview (and the logout when logged in)."""
    return page(
        "message.html",
        title=title,
        officer=officer,
        back=back,
        status_code=status_code,
        text=text,
        link=link,
    )


def csrf_refused(csrf: str, officer: Officer, back: Link) -> HTMLResponse | None:
    """A form's CSRF token checked against the session's: ``None`` when it matches, else the 403
    page (with the way back to the form's page)."""
    if secrets.compare_digest(csrf.encode(), officer.csrf.encode()):
        return None
    return message(
        Text("Yêu cầu không hợp lệ", "Invalid request"),
        Text(
            "Biểu mẫu đã hết hạn; hãy mở lại trang và thử lại.",
            "The form has expired; open the page again and retry.",
        ),
        officer=officer,
        back=back,
        status_code=403,
    )


def download(content: bytes | str, *, media_type: str, filename: str) -> Response:
    """A file the officer downloads (CSV, signed PDF), with the pages' headers."""
    return Response(
        content,
        media_type=media_type,
        headers={**PAGE_HEADERS, "content-disposition": f'attachment; filename="{filename}"'},
    )
