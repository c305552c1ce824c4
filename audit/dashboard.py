"""The security officers' dashboard: Vietnamese first, behind the SSO, pages rendered on the server.

Login is OpenID Connect's authorization code flow with PKCE (authlib) against the realm, as the client
``audit-dashboard``. The access token it gets is verified like any API token (audience
``audit-service``), and only the realm role ``security-officer`` opens the dashboard. The session is a
signed cookie (HttpOnly, SameSite=Lax, Secure outside dev) holding who the officer is, never a token,
for at most 30 minutes. Changes (alert triage) are POST forms with a per-session CSRF token.

Every read of the log through the dashboard (a search, a timeline, an export, a report) and every
triage action is itself an audit event. Pages run no script; charts are inline SVG (``audit/charts.py``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import structlog
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from audit.charts import Series, bar_chart, data_table
from audit.compliance import ComplianceSummary, compliance_pdf, compliance_summary
from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.exports import ReportSummary, events_csv, report_pdf
from audit.scope import UnitTree
from audit.settings import AuditSettings
from audit.store import EventSearch, EventStore
from gateway_runtime.errors import GatewayError
from gateway_runtime.http import client_address
from policies.privacy import default_privacy_policy

_log = structlog.get_logger(__name__)

SERVICE = "audit"
OFFICER_ROLE = "security-officer"
SESSION_SECONDS = 1800
PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
#: The report lists the accounts with the most failures, this many.
REPORT_TOP_ACTORS = 20
#: How far back a free-text search looks when no date, person or document narrows it.
TEXT_SEARCH_DEFAULT_DAYS = timedelta(days=7)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#202124}
header{background:#174ea6;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}header .who{margin-left:auto;font-weight:400}
main{padding:1rem;max-width:72rem;margin:auto}h1{font-size:1.3rem}h2{font-size:1.1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}
.chart{width:100%;max-width:40rem;height:auto;display:block}.data{width:auto;font-size:.8rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}label{display:flex;flex-direction:column;font-size:.85rem}
input,select,textarea,button{font-size:.95rem;padding:.3rem}.failure{color:#b3261e}.success{color:#137333}
.sev-critical,.sev-high{color:#b3261e;font-weight:600}.muted{color:#5f6368;font-size:.85rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.8rem;margin:.8rem 0}
"""


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


PAGE_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_hash(_STYLE)}'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
}


#: A search filter from the query string (bounded; every value is bound in SQL, never formatted).
Filter = Annotated[str | None, Query(max_length=200)]
ActorFilter = Annotated[str | None, Query(alias="actor", max_length=200)]


class OfficerWithoutUnit(GatewayError):
    code = "forbidden"
    status_code = 403
    message_vi = (
        "Tài khoản cán bộ an toàn thông tin chưa gắn đơn vị (unit_code); liên hệ quản trị hệ thống."
    )
    message_en = "The security officer's account has no unit (unit_code); ask the administrator."


class NotAnOfficer(GatewayError):
    code = "forbidden"
    status_code = 403
    message_vi = "Chỉ cán bộ an toàn thông tin được xem nhật ký kiểm toán."
    message_en = "Only security officers may read the audit log."


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, body: str, user: dict[str, Any] | None) -> HTMLResponse:
    nav = ""
    if user:
        nav = (
            '<a href="/dashboard">Tổng quan / Overview</a>'
            '<a href="/dashboard/events">Sự kiện / Events</a>'
            '<a href="/dashboard/alerts">Cảnh báo / Alerts</a>'
            '<a href="/dashboard/report">Báo cáo / Reports</a>'
            '<a href="/dashboard/compliance">Tuân thủ / Compliance</a>'
            f'<span class="who">{_e(user["name"])} · <a href="/dashboard/logout">Đăng xuất</a></span>'
        )
    page = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} — Nhật ký kiểm toán</title><style>{_STYLE}</style></head>"
        f"<body><header><span>Nhật ký kiểm toán · Sở GD&amp;ĐT</span>{nav}</header>"
        f"<main><h1>{_e(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)


def _parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _target_summary(target: dict[str, Any]) -> str:
    return ", ".join(f"{k}={str(v)[:24]}" for k, v in sorted(target.items()))[:200]


def install_dashboard(app: FastAPI, settings: AuditSettings) -> None:
    """Add the dashboard's routes (and its session middleware) to the audit service."""
    if settings.dashboard_client_secret is None or settings.session_secret is None:
        return  # not configured: no dashboard routes at all
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie="edu_audit_session",
        max_age=SESSION_SECONDS,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    oauth = OAuth()
    oauth.register(
        "keycloak",
        client_id=settings.dashboard_client_id,
        client_secret=settings.dashboard_client_secret.get_secret_value(),
        server_metadata_url=f"{settings.keycloak_issuer.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid audit", "code_challenge_method": "S256"},
    )
    public = settings.public_url.rstrip("/")
    unit_tree = UnitTree.from_schools_file(settings.organisation_file)

    def user_of(request: Request) -> dict[str, Any] | None:
        user = request.session.get("user")
        if not isinstance(user, dict) or float(user.get("until", 0)) < time.time():
            return None
        return user

    def units_of(user: dict[str, Any]) -> frozenset[str] | None:
        """What the officer may see: ``None`` for the whole sector, else these units only."""
        units = user.get("units")
        return None if units is None else frozenset(units)

    def actor(user: dict[str, Any]) -> Actor:
        return Actor(
            name=user["actor"], client_id=settings.dashboard_client_id, subject=user["sub"]
        )

    async def audit(
        request: Request,
        user: dict[str, Any],
        tag: EventTag,
        target: dict[str, str],
        unit: str | None = None,
    ) -> None:
        await request.app.state.trail.record(
            AuditEvent.build(
                tag=tag,
                service=SERVICE,
                actor=actor(user),
                outcome=Outcome.SUCCESS,
                target=target,
                source=client_address(request),
                correlation_id=request.state.request_id,
                unit=unit or user.get("unit"),
            )
        )

    def login_redirect(request: Request) -> RedirectResponse:
        request.session["next"] = request.url.path + (
            f"?{request.url.query}" if request.url.query else ""
        )
        return RedirectResponse("/dashboard/login", status_code=303)

    @app.get("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        response: Response = await oauth.keycloak.authorize_redirect(
            request, f"{public}/dashboard/callback"
        )
        return response

    @app.get("/dashboard/callback", include_in_schema=False)
    async def callback(request: Request) -> Response:
        try:
            token = await oauth.keycloak.authorize_access_token(request)
        except OAuthError as exc:
            _log.info("dashboard.login_failed", error=exc.error)
            return _page(
                "Đăng nhập không thành công",
                '<p>Login failed. <a href="/dashboard/login">Thử lại / Retry</a></p>',
                None,
            )
        principal = await request.app.state.token_verifier.verify(token["access_token"])
        scope = unit_tree.scope_of(principal.claims)
        refusal: tuple[str, GatewayError] | None = None
        if OFFICER_ROLE not in principal.realm_roles:
            refusal = (f"missing realm role {OFFICER_ROLE}", NotAnOfficer())
        elif scope.units == frozenset():  # fail closed: no unit, no scope
            refusal = ("the officer's unit is missing or unknown", OfficerWithoutUnit())
        if refusal is not None:
            await request.app.state.trail.record(
                AuditEvent.build(
                    tag=EventTag.AUDIT_DASHBOARD_LOGIN,
                    service=SERVICE,
                    actor=Actor(
                        name=principal.actor,
                        client_id=principal.client_id,
                        subject=principal.subject,
                    ),
                    outcome=Outcome.FAILURE,
                    reason=refusal[0],
                    source=client_address(request),
                    correlation_id=request.state.request_id,
                )
            )
            request.session.clear()
            error = refusal[1]
            response = _page(
                "Không có quyền / Forbidden",
                f'<p>{_e(error.message_vi)}</p><p class="muted">{_e(error.message_en)}</p>',
                None,
            )
            response.status_code = 403
            return response
        user = {
            "sub": principal.subject,
            "actor": principal.actor,
            "name": principal.display_name,
            "until": time.time() + SESSION_SECONDS,
            "csrf": secrets.token_urlsafe(24),
            "unit": scope.unit,
            "scope_name": scope.name,
            "units": None if scope.units is None else sorted(scope.units),
        }
        next_url = str(request.session.pop("next", "/dashboard"))
        request.session.clear()
        request.session["user"] = user
        await audit(request, user, EventTag.AUDIT_DASHBOARD_LOGIN, {"role": OFFICER_ROLE})
        # Only a path on this service: never an open redirect.
        return RedirectResponse(
            next_url if next_url.startswith("/dashboard") else "/dashboard", status_code=303
        )

    @app.get("/dashboard/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        request.session.clear()
        return _page(
            "Đã đăng xuất / Logged out",
            '<p><a href="/dashboard">Đăng nhập lại / Log in again</a></p>',
            None,
        )

    # -- overview ------------------------------------------------------------------------------
    @app.get("/dashboard", include_in_schema=False)
    async def overview(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        store: EventStore = request.app.state.store
        now = datetime.now(UTC)
        hours = [(now - timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(23, -1, -1)]
        logins = store.histogram(
            ["idp:login:success", "idp:login:failure"],
            since=now - timedelta(hours=24),
            bucket="hour",
            units=units_of(user),
        )
        ok = [logins.get((h, "idp:login:success", "success"), 0) for h in hours]
        failed = [logins.get((h, "idp:login:failure", "failure"), 0) for h in hours]
        login_series = [
            Series("Thành công / success", ok, "#1e8e3e"),
            Series("Thất bại / failed", failed, "#d93025"),
        ]
        hour_labels = [h[-2:] + "h" for h in hours]
        days = [(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(13, -1, -1)]
        signing = store.histogram(
            ["signing:document:sign", "signing:hash:sign", "signing:document:verify"],
            since=now - timedelta(days=14),
            bucket="day",
            units=units_of(user),
        )
        signed = [
            sum(
                signing.get((d, t, "success"), 0)
                for t in ("signing:document:sign", "signing:hash:sign")
            )
            for d in days
        ]
        verified = [signing.get((d, "signing:document:verify", "success"), 0) for d in days]
        sign_series = [
            Series("Ký / signatures", signed, "#1a73e8"),
            Series("Xác minh / verifications", verified, "#a142f4"),
        ]
        day_labels = [d[5:] for d in days]
        alerts = store.search(
            EventSearch(tag="audit:alert:raise", units=units_of(user)), limit=1000
        )
        severities = Counter(str(a.event["target"].get("severity")) for a in alerts)
        levels = ["critical", "high", "medium", "low"]
        alert_series = [
            Series("Cảnh báo / alerts", [severities.get(s, 0) for s in levels], "#e37400")
        ]
        body = (
            (
                f'<p class="muted">{store.count()} sự kiện trong nhật ký / events in the log · '
                if units_of(user) is None
                else f'<p class="muted" id="scope">Phạm vi / scope: {_e(user["scope_name"])} · '
            )
            + f"{now:%Y-%m-%d %H:%M} UTC</p>"
            '<div class="card"><h2>Đăng nhập 24 giờ qua / Logins, last 24 hours</h2>'
            + bar_chart(
                "Đăng nhập theo giờ / Logins per hour",
                hour_labels,
                login_series,
                chart_id="chart-logins",
            )
            + data_table(hour_labels, login_series)
            + '</div><div class="card"><h2>Ký và xác minh 14 ngày qua / Signatures, last 14 days</h2>'
            + bar_chart(
                "Chữ ký theo ngày / Signatures per day",
                day_labels,
                sign_series,
                chart_id="chart-signatures",
            )
            + data_table(day_labels, sign_series)
            + '</div><div class="card"><h2>Cảnh báo theo mức độ / Alerts by severity</h2>'
            + bar_chart(
                "Cảnh báo theo mức độ / Alerts by severity",
                levels,
                alert_series,
                chart_id="chart-alerts",
            )
            + data_table(levels, alert_series)
            + "</div>"
        )
        return _page("Tổng quan / Overview", body, user)

    # -- search, timelines, export -------------------------------------------------------------
    def search_of(
        user: dict[str, Any],
        tag: str | None,
        actor_name: str | None,
        outcome: str | None,
        text: str | None,
        since: str | None,
        until: str | None,
        document: str | None,
    ) -> EventSearch:
        valid_tags = {t.value for t in EventTag}
        end = _parse_day(until)
        start = _parse_day(since)
        if text and start is None and not (actor_name or document):
            # Free text reads event bodies: without a narrower filter, the last 7 days (a scan
            # of the whole log takes seconds at 10 million events). A "from" date widens it.
            start = (end or datetime.now(UTC)) - TEXT_SEARCH_DEFAULT_DAYS
        return EventSearch(
            tag=tag if tag in valid_tags else None,
            actor=actor_name or None,
            outcome=outcome if outcome in {"success", "failure"} else None,
            since=start,
            until=end + timedelta(days=1) if end else None,
            document=document if document and len(document) == 64 else None,
            text=text or None,
            units=units_of(user),
        )

    @app.get("/dashboard/events", include_in_schema=False)
    async def events(
        request: Request,
        tag: Filter = None,
        actor_name: ActorFilter = None,
        outcome: Filter = None,
        text: Filter = None,
        since: Filter = None,
        until: Filter = None,
        document: Filter = None,
        page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        search = search_of(user, tag, actor_name, outcome, text, since, until, document)
        store: EventStore = request.app.state.store
        rows = store.search(search, limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE)
        await audit(
            request,
            user,
            EventTag.AUDIT_EVENTS_QUERY,
            {
                "channel": "dashboard",
                "filter_tag": search.tag or "",
                "results": str(min(len(rows), PAGE_SIZE)),
            },
        )
        params = {
            k: v
            for k, v in {
                "tag": search.tag,
                "actor": search.actor,
                "outcome": search.outcome,
                "text": search.text,
                "since": since,
                "until": until,
                "document": search.document,
            }.items()
            if v
        }
        tag_options = "".join(
            f'<option value="{_e(t.value)}"{" selected" if t.value == search.tag else ""}>{_e(t.value)}</option>'
            for t in EventTag
        )
        outcome_options = "".join(
            f'<option value="{o}"{" selected" if o == search.outcome else ""}>{o}</option>'
            for o in ("success", "failure")
        )
        form = (
            '<form class="filters" method="get" action="/dashboard/events">'
            f'<label>Loại / Tag<select name="tag"><option value="">(tất cả / all)</option>{tag_options}</select></label>'
            f'<label>Người thực hiện / Actor<input name="actor" value="{_e(search.actor)}"></label>'
            f'<label>Kết quả / Outcome<select name="outcome"><option value="">(tất cả)</option>{outcome_options}</select></label>'
            f'<label>Từ ngày / From<input type="date" name="since" value="{_e(since)}"></label>'
            f'<label>Đến ngày / To<input type="date" name="until" value="{_e(until)}"></label>'
            f'<label>Nội dung / Text<input name="text" value="{_e(search.text)}"></label>'
            '<button type="submit">Tìm / Search</button>'
            f'<a href="/dashboard/export.csv?{_e(urlencode(params))}">Tải CSV / Export CSV</a></form>'
        )
        if search.text and not since and not (search.actor or search.document):
            form += (
                '<p class="muted" id="text-window">Nội dung được tìm trong 7 ngày gần nhất; chọn '
                "“Từ ngày” để tìm xa hơn / text is searched in the last 7 days; set “From” to "
                "search further back.</p>"
            )
        body_rows = "".join(_event_row(r.seq, r.event, r.received_at) for r in rows[:PAGE_SIZE])
        nav = ""
        if page > 0:
            nav += f'<a href="/dashboard/events?{_e(urlencode({**params, "page": page - 1}))}">← Trước</a> '
        if len(rows) > PAGE_SIZE:
            nav += f'<a href="/dashboard/events?{_e(urlencode({**params, "page": page + 1}))}">Sau →</a>'
        body = (
            form
            + '<table id="events"><tr><th>#</th><th>Thời điểm / Time</th><th>Loại / Tag</th><th>Người / Actor</th>'
            "<th>Kết quả</th><th>Đối tượng / Target</th></tr>"
            + (body_rows or '<tr><td colspan="6">Không có sự kiện / No events.</td></tr>')
            + f"</table><p>{nav}</p>"
        )
        return _page("Sự kiện / Events", body, user)

    @app.get("/dashboard/timeline", include_in_schema=False)
    async def timeline(
        request: Request,
        actor_name: ActorFilter = None,
        document: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        if not actor_name and not document:
            return RedirectResponse("/dashboard/events", status_code=303)
        search = EventSearch(actor=actor_name, document=document, units=units_of(user))
        rows = list(reversed(request.app.state.store.search(search, limit=500)))
        await audit(
            request,
            user,
            EventTag.AUDIT_EVENTS_QUERY,
            {
                "channel": "dashboard-timeline",
                "results": str(len(rows)),
                "subject": "document" if document else "actor",
            },
        )
        title = f"Dòng thời gian / Timeline: {actor_name or document}"
        items = "".join(
            f"<li><b>{_e(r.event['time'][:19])}</b> {_e(r.event['tag'])} — {_e(r.event['actor']['name'])} "
            f'<span class="{_e(r.event["outcome"])}">{_e(r.event["outcome"])}</span> '
            f'<span class="muted">{_e(_target_summary(r.event.get("target") or {}))}</span></li>'
            for r in rows
        )
        return _page(title, f'<ol id="timeline">{items or "<li>Không có sự kiện.</li>"}</ol>', user)

    @app.get("/dashboard/export.csv", include_in_schema=False)
    async def export(
        request: Request,
        tag: Filter = None,
        actor_name: ActorFilter = None,
        outcome: Filter = None,
        text: Filter = None,
        since: Filter = None,
        until: Filter = None,
        document: Filter = None,
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        search = search_of(user, tag, actor_name, outcome, text, since, until, document)
        rows = request.app.state.store.search(search, limit=EXPORT_LIMIT)
        await audit(
            request,
            user,
            EventTag.AUDIT_REPORT_EXPORT,
            {"format": "csv", "rows": str(len(rows)), "filter_tag": search.tag or ""},
        )
        content = events_csv(
            {"seq": r.seq, "chain_hash": r.chain_hash, "received_at": r.received_at, **r.event}
            for r in rows
        )
        return Response(
            "\ufeff" + content,  # a BOM, so that spreadsheet programs read the Vietnamese as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={
                **PAGE_HEADERS,
                "content-disposition": 'attachment; filename="nhat-ky-kiem-toan.csv"',
            },
        )

    # -- alerts and triage ---------------------------------------------------------------------
    @app.get("/dashboard/alerts", include_in_schema=False)
    async def alerts(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        store: EventStore = request.app.state.store
        raised = store.search(EventSearch(tag="audit:alert:raise", units=units_of(user)), limit=200)
        triage = store.search(
            EventSearch(tag="audit:alert:triage", units=units_of(user)), limit=5000
        )
        state: dict[str, dict[str, Any]] = {}
        breaches: dict[str, dict[str, str]] = {}
        for row in reversed(triage):  # oldest first: the last action wins
            target = row.event.get("target") or {}
            alert_key = str(target.get("alert_id"))
            if target.get("action") in BREACH_ACTIONS:
                breaches.setdefault(alert_key, {}).update(
                    {k: str(v) for k, v in target.items() if k in {"breach_deadline", "action"}}
                )
                continue
            state[alert_key] = {
                **target,
                "by": row.event["actor"]["name"],
                "time": row.event["time"],
            }
        cards = []
        for row in raised:
            target = row.event.get("target") or {}
            alert_id = row.event["event_id"]
            current = state.get(alert_id, {})
            status = {
                "acknowledge": "đã tiếp nhận / acknowledged",
                "assign": f"giao cho / assigned to {current.get('assignee', '')}",
                "close": "đã đóng / closed",
            }.get(current.get("action", ""), "mới / new")
            cards.append(
                f'<div class="card" id="alert-{_e(alert_id)}"><b class="sev-{_e(target.get("severity"))}">{_e(target.get("severity"))}</b> '
                f'{_e(target.get("rule"))} — {_e(target.get("summary"))}<br><span class="muted">{_e(row.event["time"][:19])} · '
                f'{_e(row.event["actor"]["name"])} · trạng thái / status: <b class="status">{_e(status)}</b>'
                + (f" ({_e(current.get('by'))}: {_e(current.get('note'))})" if current else "")
                + "</span>"
                + _breach_line(breaches.get(alert_id))
                + f'<form method="post" action="/dashboard/alerts/{_e(alert_id)}/triage">'
                f'<input type="hidden" name="csrf" value="{_e(user["csrf"])}">'
                '<select name="action"><option value="acknowledge">Tiếp nhận / Acknowledge</option>'
                '<option value="assign">Giao / Assign</option><option value="close">Đóng / Close</option>'
                '<option value="declare-breach">Khai báo sự cố dữ liệu cá nhân (NĐ 13) / Declare a personal-data breach</option>'
                '<option value="breach-notified">Đã thông báo cơ quan chức năng / Authority notified</option></select> '
                '<input name="assignee" placeholder="Người xử lý / Assignee" maxlength="80"> '
                '<input name="note" placeholder="Ghi chú / Note" maxlength="500"> '
                '<button type="submit">Lưu / Save</button></form></div>'
            )
        return _page(
            "Cảnh báo / Alerts", "".join(cards) or "<p>Không có cảnh báo / No alerts.</p>", user
        )

    @app.post("/dashboard/alerts/{alert_id}/triage", include_in_schema=False)
    async def triage_alert(
        request: Request,
        alert_id: str,
        csrf: Annotated[str, Form(max_length=100)],
        action: Annotated[
            str, Form(pattern="^(acknowledge|assign|close|declare-breach|breach-notified)$")
        ],
        assignee: Annotated[str, Form(max_length=80)] = "",
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        if not secrets.compare_digest(csrf, str(user["csrf"])):
            response = _page(
                "Yêu cầu không hợp lệ / Invalid request", "<p>CSRF token mismatch.</p>", user
            )
            response.status_code = 403
            return response
        found = (
            request.app.state.store.search(
                EventSearch(tag="audit:alert:raise", text=alert_id, units=units_of(user)), limit=1
            )
            if len(alert_id) == 32
            else []
        )
        if not found:
            response = _page(
                "Không tìm thấy / Not found", "<p>Không có cảnh báo này / No such alert.</p>", user
            )
            response.status_code = 404
            return response
        if action == "close" and not note.strip():
            response = _page(
                "Thiếu ghi chú / Note required",
                "<p>Đóng cảnh báo cần ghi chú / Closing needs a note.</p>",
                user,
            )
            response.status_code = 400
            return response
        details = {
            "alert_id": alert_id,
            "action": action,
            "assignee": assignee.strip(),
            "note": note.strip(),
        }
        if action == "declare-breach":
            # Decree 13/2023: the authority must be told within the policy's deadline (72 hours).
            details["breach_deadline"] = (
                default_privacy_policy().breach_deadline(datetime.now(UTC)).isoformat()
            )
        # Under the alert's unit, so that its district sees the triage too.
        await audit(request, user, EventTag.AUDIT_ALERT_TRIAGE, details, found[0].event.get("unit"))
        return RedirectResponse(f"/dashboard/alerts#alert-{alert_id}", status_code=303)

    # -- compliance ----------------------------------------------------------------------------
    @app.get("/dashboard/compliance", include_in_schema=False)
    async def compliance(request: Request) -> Response:
        """Per system and kind of scan: the latest score, new and fixed findings, and the trend."""
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        store: EventStore = request.app.state.store
        runs = (
            list(reversed(store.search(EventSearch(tag="scan:run:complete"), limit=2000)))
            if units_of(user) is None
            else []  # systems' scans are the department's; a district sees its schools below
        )
        by_system: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in runs:  # oldest first
            target = row.event.get("target") or {}
            by_system.setdefault((str(target.get("system")), str(target.get("scan"))), []).append(
                {**target, "time": row.event["time"]}
            )
        rows = []
        charts = []
        for index, ((system, kind), history) in enumerate(sorted(by_system.items())):
            latest = history[-1]
            rows.append(
                f"<tr><td>{_e(system)}</td><td>{_e(kind)}</td><td><b>{_e(latest.get('score'))}</b></td>"
                f"<td>{_e(latest.get('findings'))}</td><td>{_e(latest.get('new'))}</td>"
                f"<td>{_e(latest.get('fixed'))}</td><td>{_e(str(latest['time'])[:16])}</td></tr>"
            )
            if len(history) > 1:
                labels = [str(h["time"])[5:16] for h in history[-20:]]
                series = [
                    Series(
                        "điểm / score", [int(h.get("score", 0)) for h in history[-20:]], "#1a73e8"
                    )
                ]
                charts.append(
                    f"<h2>{_e(system)} · {_e(kind)}</h2>"
                    + bar_chart(
                        f"Xu hướng điểm / score trend: {system} {kind}",
                        labels,
                        series,
                        chart_id=f"chart-trend-{index}",
                    )
                )
        await audit(
            request,
            user,
            EventTag.AUDIT_EVENTS_QUERY,
            {"channel": "dashboard-compliance", "results": str(len(runs))},
        )
        schools = _units_table(compliance_summary(store, units=units_of(user)), "compliance-units")
        body = (
            '<p><a id="compliance-report" href="/dashboard/compliance/report">Báo cáo tuân thủ / '
            'Compliance report</a> · <a id="compliance-report-pdf" href="/dashboard/compliance/'
            'report.pdf">PDF có chữ ký số / signed PDF</a></p>'
            '<table id="compliance"><tr><th>Hệ thống / System</th><th>Loại quét / Scan</th><th>Điểm / Score</th>'
            "<th>Phát hiện / Findings</th><th>Mới / New</th><th>Đã sửa / Fixed</th><th>Lần quét / Scanned</th></tr>"
            + (
                "".join(rows)
                or '<tr><td colspan="7">Chưa có lần quét nào / no scan yet (gateway-scan run).</td></tr>'
            )
            + "</table>"
            + schools
            + "".join(charts)
        )
        return _page("Tuân thủ / Compliance", body, user)

    @app.get("/dashboard/compliance/report", include_in_schema=False)
    async def compliance_report(request: Request) -> Response:
        """Every system's latest scan with its findings and their remediation, and the schools."""
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        summary = compliance_summary(request.app.state.store, units=units_of(user))
        await audit(
            request,
            user,
            EventTag.AUDIT_REPORT_EXPORT,
            {"format": "html", "report": "compliance", "rows": str(summary.findings)},
        )
        sections = []
        for status in summary.systems:
            items = "".join(
                f'<tr class="sev-{_e(f.severity)}"><td>{_e(f.rule)}</td><td>{_e(f.severity)}</td>'
                f"<td>{_e(f.subject)}{' <b>(mới / new)</b>' if f.new else ''}</td><td>{_e(f.evidence)}</td>"
                f"<td>{_e(f.remediation)}</td></tr>"
                for f in status.findings
            )
            sections.append(
                f"<h2>{_e(status.system)} · {_e(status.scan)} — {status.score}/100</h2>"
                f"<p>Quét lúc / scanned {_e(status.scanned_at)} · mới / new {status.new} · "
                f"đã sửa / fixed {status.fixed}</p>"
                + (
                    "<table><tr><th>Quy tắc / Rule</th><th>Mức / Severity</th><th>Đối tượng / Subject</th>"
                    f"<th>Bằng chứng / Evidence</th><th>Khắc phục / Remediation</th></tr>{items}</table>"
                    if items
                    else "<p>Không có phát hiện / no finding.</p>"
                )
            )
        body = (
            f'<p id="compliance-generated">Lập lúc / generated {summary.generated_at:%Y-%m-%d %H:%M} UTC'
            f" — {len(summary.systems)} lần quét / scans, {summary.findings} phát hiện / findings.</p>"
            '<p><a href="/dashboard/compliance/report.pdf">Tải PDF có chữ ký số / Download the '
            "signed PDF</a></p>"
            + _units_table(summary, "compliance-report-units")
            + "".join(sections)
        )
        return _page("Báo cáo tuân thủ / Compliance report", body, user)

    @app.get("/dashboard/compliance/report.pdf", include_in_schema=False)
    async def compliance_report_pdf(request: Request) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        summary = compliance_summary(request.app.state.store, units=units_of(user))
        return await signed_pdf(
            request,
            user,
            compliance_pdf(summary),
            reason="Báo cáo tuân thủ an toàn thông tin",
            filename="bao-cao-tuan-thu.pdf",
            details={"report": "compliance", "rows": str(summary.findings)},
        )

    # -- reports -------------------------------------------------------------------------------
    async def signed_pdf(
        request: Request,
        user: dict[str, Any],
        pdf: bytes,
        *,
        reason: str,
        filename: str,
        details: dict[str, str],
    ) -> Response:
        """``pdf`` sealed by the signing service, its download recorded with the sealed hash."""
        signed = await sign_report(settings, pdf, reason=reason)
        await audit(
            request,
            user,
            EventTag.AUDIT_REPORT_EXPORT,
            {"format": "pdf", **details, "signed_sha256": hashlib.sha256(signed).hexdigest()},
        )
        return Response(
            signed,
            media_type="application/pdf",
            headers={**PAGE_HEADERS, "content-disposition": f'attachment; filename="{filename}"'},
        )

    @app.get("/dashboard/report", include_in_schema=False)
    async def report(
        request: Request,
        period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        summary = _period_summary(request.app.state.store, period, units_of(user))
        since, until = summary.since, summary.until
        await audit(
            request,
            user,
            EventTag.AUDIT_REPORT_EXPORT,
            {"format": "html", "period": period, "rows": str(summary.total)},
        )
        tags = "".join(
            f"<tr><td>{_e(t)}</td><td>{n}</td></tr>" for t, n in summary.by_tag.most_common()
        )
        failures = "".join(
            f"<tr><td>{_e(a)}</td><td>{n}</td></tr>"
            for a, n in summary.failures_by_actor.most_common(10)
        )
        severities = "".join(
            f"<tr><td>{_e(s)}</td><td>{n}</td></tr>"
            for s, n in summary.alerts_by_severity.most_common()
        )
        periods = " · ".join(
            f'<a href="/dashboard/report?period={p}">{label}</a>'
            for p, label in (
                ("day", "Ngày / Day"),
                ("week", "Tuần / Week"),
                ("month", "Tháng / Month"),
            )
        )
        body = (
            f"<p>{periods}</p>"
            f'<p id="report-period">Từ / From {since:%Y-%m-%d %H:%M} đến / to {until:%Y-%m-%d %H:%M} UTC — '
            f"<b>{summary.total}</b> sự kiện / events; {summary.signatures} chữ ký / signatures; "
            f"{summary.verifications} xác minh / verifications; {summary.refusals} từ chối / refusals.</p>"
            f'<h2>Theo loại / By tag</h2><table id="report-tags">{tags}</table>'
            f"<h2>Thất bại theo người / Failures by actor (top 10)</h2><table>{failures or '<tr><td>—</td></tr>'}</table>"
            f"<h2>Cảnh báo / Alerts</h2><table>{severities or '<tr><td>—</td></tr>'}</table>"
            f'<p><a id="report-pdf" href="/dashboard/report.pdf?period={period}">Tải PDF có chữ ký số / '
            "Download the signed PDF</a></p>"
            f'<p class="muted">Toàn vẹn / Integrity: the log\'s hash chain and signed checkpoints are checked with '
            f"<code>gateway-audit verify</code>.</p>"
        )
        return _page("Báo cáo / Report", body, user)

    @app.get("/dashboard/report.pdf", include_in_schema=False)
    async def report_pdf_route(
        request: Request,
        period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
    ) -> Response:
        user = user_of(request)
        if user is None:
            return login_redirect(request)
        summary = _period_summary(request.app.state.store, period, units_of(user))
        return await signed_pdf(
            request,
            user,
            report_pdf(summary),
            reason="Báo cáo kiểm toán",
            filename=f"bao-cao-kiem-toan-{period}.pdf",
            details={"period": period, "rows": str(summary.total)},
        )


def _units_table(summary: ComplianceSummary, table_id: str) -> str:
    """The schools' scores from their accounts' findings (nothing when no finding names a unit)."""
    if not summary.units:
        return ""
    rows = "".join(
        f"<tr><td>{_e(u.unit)}</td><td><b>{u.score}</b></td><td>"
        + _e(", ".join(f"{s}: {n}" for s, n in sorted(u.by_severity.items())))
        + "</td></tr>"
        for u in summary.units
    )
    return (
        f'<h2>Theo trường / Per school (tài khoản / accounts)</h2><table id="{table_id}">'
        "<tr><th>Đơn vị / Unit</th><th>Điểm / Score</th><th>Phát hiện / Findings</th></tr>"
        f"{rows}</table>"
    )


BREACH_ACTIONS = frozenset({"declare-breach", "breach-notified"})


def _breach_line(breach: dict[str, str] | None, now: datetime | None = None) -> str:
    """The Decree 13 deadline of a declared personal-data breach: time left, met, or overdue."""
    if not breach or "breach_deadline" not in breach:
        return ""
    deadline = datetime.fromisoformat(breach["breach_deadline"])
    if breach.get("action") == "breach-notified":
        state, css = "đã thông báo / notified", "success"
    else:
        hours = ((deadline - (now or datetime.now(UTC))).total_seconds()) / 3600
        state, css = (
            (f"còn / left {hours:.0f} h", "sev-medium")
            if hours >= 0
            else (f"QUÁ HẠN / OVERDUE by {-hours:.0f} h", "sev-critical")
        )
    return (
        f'<br><span class="breach {css}">Sự cố dữ liệu cá nhân (NĐ 13/2023): hạn thông báo / '
        f"notify by {deadline:%Y-%m-%d %H:%M} UTC — {state}</span>"
    )


_PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


def _period_summary(
    store: EventStore, period: str, units: frozenset[str] | None = None
) -> ReportSummary:
    """The numbers of the report for the last day, week or month (the HTML and the PDF report)."""
    until = datetime.now(UTC)
    since = until - _PERIODS[period]
    return period_summary(store, since, until, units)


def period_summary(
    store: EventStore, since: datetime, until: datetime, units: frozenset[str] | None = None
) -> ReportSummary:
    """The report's numbers, counted by the store over the whole period (no sample)."""
    period = EventSearch(since=since, until=until, units=units)
    failures = EventSearch(since=since, until=until, units=units, outcome="failure")
    alerts = EventSearch(since=since, until=until, units=units, tag="audit:alert:raise")
    return ReportSummary.counted(
        since,
        until,
        store.count_by(period, ("tag", "outcome")),
        store.count_by(failures, ("actor",), limit=REPORT_TOP_ACTORS),
        (r.event for r in store.search(alerts, limit=EXPORT_LIMIT)),
    )


class ReportSigningUnavailable(GatewayError):
    code = "report-signing-unavailable"
    status_code = 503
    message_vi = "Không ký được báo cáo (dịch vụ ký số không sẵn sàng hoặc chưa cấu hình)."
    message_en = (
        "The report could not be signed (the signing service is unavailable or not configured)."
    )


async def sign_report(
    settings: AuditSettings, pdf: bytes, *, reason: str = "Báo cáo kiểm toán"
) -> bytes:
    """Seal ``pdf`` through the signing service (document type ``thong-bao``, B-T)."""
    if settings.signing_url is None or settings.report_signer_client_secret is None:
        raise ReportSigningUnavailable("AUDIT_SIGNING_URL / AUDIT_REPORT_SIGNER_CLIENT_SECRET")
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            token = await http.post(
                f"{settings.keycloak_issuer.rstrip('/')}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.report_signer_client_id,
                    "client_secret": settings.report_signer_client_secret.get_secret_value(),
                },
            )
            token.raise_for_status()
            signed = await http.post(
                f"{settings.signing_url.rstrip('/')}/v1/documents:sign",
                params={
                    "level": "B-T",
                    "document_type": "thong-bao",
                    "reason": reason,
                },
                content=pdf,
                headers={
                    "authorization": f"Bearer {token.json()['access_token']}",
                    "content-type": "application/pdf",
                },
            )
            signed.raise_for_status()
    except httpx.HTTPError as exc:
        raise ReportSigningUnavailable(type(exc).__name__) from exc
    return signed.content


def _event_row(seq: int, event: dict[str, Any], received_at: str | None = None) -> str:
    target = event.get("target") or {}
    document = target.get("document_sha256") or target.get("signed_sha256")
    actor_name = event["actor"]["name"]
    links = (
        f'<a href="/dashboard/timeline?{_e(urlencode({"actor": actor_name}))}">{_e(actor_name)}</a>'
    )
    doc_link = (
        f' <a href="/dashboard/timeline?document={_e(document)}">tài liệu / document</a>'
        if isinstance(document, str) and len(document) == 64
        else ""
    )
    # An event whose own time was far from its arrival (flagged at ingest): say when it arrived.
    flag = (
        f' <span class="failure flag" title="thời điểm khác xa lúc nhận / time far from arrival">'
        f"⚠ nhận lúc / received {_e(received_at[:19])}</span>"
        if received_at
        else ""
    )
    return (
        f"<tr><td>{seq}</td><td>{_e(event['time'][:19])}{flag}</td><td>{_e(event['tag'])}</td><td>{links}</td>"
        f'<td class="{_e(event["outcome"])}">{_e(event["outcome"])}</td>'
        f"<td>{_e(_target_summary(target))}{doc_link}</td></tr>"
    )
