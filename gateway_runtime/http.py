"""The HTTP conventions every gateway service follows.

- Each request gets an id (the caller's ``X-Request-ID`` if it is sane, else a new one), bound into the
  log context and echoed in the response.
- Every error leaves as one envelope ``{"code", "message", "message_en", "detail"?}`` with a fitting
  status; a 401 adds ``WWW-Authenticate``. No stack trace ever reaches a client.
- :func:`current_principal` is the dependency that turns a bearer token into a verified
  :class:`~gateway_runtime.tokens.Principal`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway_runtime.errors import GatewayError
from gateway_runtime.tokens import AccessTokenVerifier, Principal, TokenRejected

_log = structlog.get_logger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


# Security headers on every response (OWASP ASVS V3.4, scored like the Mozilla HTTP Observatory). APIs
# serve no active content, so their policy forbids everything; the OpenAPI pages need FastAPI's assets.
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_API_HEADERS = [
    *_COMMON_HEADERS,
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]
_DOCS_HEADERS = [
    *_COMMON_HEADERS,
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        b"img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'",
    ),
]


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, log context, one access line per request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        client = scope.get("client")
        structlog.contextvars.bind_contextvars(
            request_id=request_id, service=self.service, client_ip=client[0] if client else None
        )
        status = 500
        started = False
        began = time.perf_counter()

        path = str(scope.get("path", ""))
        security = _DOCS_HEADERS if path.startswith(("/docs", "/redoc")) else _API_HEADERS

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                nonlocal started
                started = True
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in security if k not in present]
                message["headers"] = [
                    *message.get("headers", []),
                    *extra,
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # answered as a 500 below, or re-raised if the answer began
            # Starlette answers unhandled errors outside every middleware; answer here instead, so
            # that a 500 too carries the envelope, the request id and the security headers.
            _log.exception("request.crashed", error=type(exc).__name__)
            if started:
                raise
            response = _error_response(GatewayError())
            await response(scope, receive, send_with_id)
        finally:
            # The route's template (``/approve/{approval_id}``), not the path: a path parameter
            # may be a capability (a pairing code, an approval's id) that no log may hold.
            route = getattr(scope.get("route"), "path", None)
            _log.info(
                "http.request",
                method=scope.get("method"),
                path=route if isinstance(route, str) else _unmatched(path),
                status=status,
                duration_ms=round((time.perf_counter() - began) * 1000, 2),
            )


def _unmatched(path: str) -> str:
    """What the access line says of a path no route answers: its first segment only, since the
    rest may be a capability spelled wrong (``/approve/pair/<code>/x``)."""
    head, _, rest = path.lstrip("/").partition("/")
    return f"/{head[:64]}" + ("/…" if rest else "")


#: Paths of APIs whose clients read OAuth-style errors (``error``, ``error_description``) as well.
OAUTH_ERROR_PATHS = ("/csc/",)


def _error_response(error: GatewayError, path: str = "") -> JSONResponse:
    headers: dict[str, str] = {}
    if error.status_code == 401:
        headers["WWW-Authenticate"] = error.authentication_challenge()
    body = error.envelope()
    if path.startswith(OAUTH_ERROR_PATHS):
        description = f"{error.message_en} ({error.detail})" if error.detail else error.message_en
        body = {"error": error.oauth_error, "error_description": description, **body}
    return JSONResponse(body, status_code=error.status_code, headers=headers)


async def _on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)  # noqa: S101 - registered for this type only
    if isinstance(exc, TokenRejected):
        _log.info("auth.token_rejected", reason=exc.reason)
    elif exc.status_code >= 500:
        _log.error("request.failed", code=exc.code, detail=exc.detail)
    else:
        _log.info("request.refused", code=exc.code, detail=exc.detail)
    return _error_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    # The field and the rule it broke ("String should have at most 80 characters"), never the
    # value that was sent.
    fields = [
        f"{'.'.join(str(p) for p in err.get('loc', ()))} ({err.get('msg', 'invalid')})"
        for err in exc.errors()
    ]
    body = {
        "code": "invalid-request",
        "message": "Yêu cầu không hợp lệ.",
        "message_en": "The request is not valid.",
        "detail": "invalid fields: " + ", ".join(fields),
    }
    if request.url.path.startswith(OAUTH_ERROR_PATHS):
        body = {"error": "invalid_request", "error_description": body["detail"], **body}
        return JSONResponse(body, status_code=400)
    return JSONResponse(body, status_code=422)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    codes = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}
    body = {
        "code": codes.get(exc.status_code, "http-error"),
        "message": "Yêu cầu không được chấp nhận.",
        "message_en": str(exc.detail),
    }
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers at this path (Starlette's 405 names only the first route's:
    a path with GET and POST in two routes said ``Allow: POST``, RFC 9110 §15.5.6 wants both)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        offered = getattr(route, "methods", None)
        if match is not Match.NONE and offered:
            methods |= set(offered)
    return sorted(methods)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("request.crashed", error=type(exc).__name__)
    return _error_response(GatewayError())


#: The reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed (addresses or networks,
#: comma-separated). None by default: the services are started with uvicorn's ``--no-proxy-headers``
#: and a client's address is its connection's, so a made-up header cannot dodge a rate limit or
#: put a false address in the audit log.
TRUSTED_PROXIES_VARIABLE = "GATEWAY_TRUSTED_PROXIES"


class TrustedProxiesInvalid(GatewayError):
    code = "trusted-proxies-invalid"
    message_vi = "Cấu hình proxy tin cậy không hợp lệ."
    message_en = "The trusted proxies setting is invalid."


def trusted_proxies(environ: Mapping[str, str] = os.environ) -> list[str]:
    value = environ.get(TRUSTED_PROXIES_VARIABLE, "")
    proxies = [p.strip() for p in value.split(",") if p.strip()]
    if "*" in proxies:
        raise TrustedProxiesInvalid(
            f"{TRUSTED_PROXIES_VARIABLE}: '*' would believe any client's forwarded address; "
            "name the reverse proxies"
        )
    return proxies


def install_http_runtime(app: FastAPI, *, service: str) -> None:
    """Add the request-id middleware and the error envelope handlers to ``app``, behind the
    forwarded-header reader when trusted proxies are configured."""
    app.add_middleware(RequestContextMiddleware, service=service)
    proxies = trusted_proxies()
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


def token_verifier(request: Request) -> AccessTokenVerifier:
    """The verifier a service set up for its tokens (``app.state.token_verifier``, one per app)."""
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, AccessTokenVerifier):
        raise RuntimeError("the application has no token verifier (set in its lifespan)")
    return verifier


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller of this request (401 otherwise)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise TokenRejected("no bearer token")
    verifier = token_verifier(request)
    principal = await verifier.verify(credentials.strip())
    structlog.contextvars.bind_contextvars(actor=principal.actor, client_id=principal.client_id)
    request.state.principal_unit = principal.unit  # audit events of this request carry it
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def client_address(request: Request) -> dict[str, Any]:
    """Source IP and user agent of a request, as audit events record them."""
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }
