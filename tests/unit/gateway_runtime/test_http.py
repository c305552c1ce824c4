from __future__ import annotations

import re
import secrets

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from gateway_runtime import GatewayError, install_http_runtime
from gateway_runtime.http import TRUSTED_PROXIES_VARIABLE, TrustedProxiesInvalid, trusted_proxies


def _app() -> FastAPI:
    app = FastAPI()
    install_http_runtime(app, service="test")

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals 001203004567")

    @app.get("/refused")
    async def refused() -> None:
        raise GatewayError("operator detail")

    return app


def test_every_response_carries_the_security_headers_and_a_request_id() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    for path in ("/ok", "/boom", "/missing"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert len(response.headers["x-request-id"]) >= 8


def test_a_crash_is_a_500_envelope_without_internals() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.json()["code"] == "internal-error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_offered_request_id_is_kept_only_if_sane() -> None:
    client = TestClient(_app())
    assert (
        client.get("/ok", headers={"X-Request-ID": "abc-12345678"}).headers["x-request-id"]
        == "abc-12345678"
    )
    assert (
        client.get("/ok", headers={"X-Request-ID": "<script>"}).headers["x-request-id"]
        != "<script>"
    )


def _address_app() -> FastAPI:
    app = FastAPI()
    install_http_runtime(app, service="test")

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"ip": request.client.host if request.client else None}

    return app


def test_a_forwarded_address_is_believed_only_from_a_configured_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack: a client sends its own ``X-Forwarded-For`` to look like someone else."""
    forged = {"X-Forwarded-For": "203.0.113.9"}
    monkeypatch.delenv(TRUSTED_PROXIES_VARIABLE, raising=False)
    plain = TestClient(_address_app(), client=("198.51.100.4", 5000))
    assert plain.get("/whoami", headers=forged).json() == {"ip": "198.51.100.4"}
    monkeypatch.setenv(TRUSTED_PROXIES_VARIABLE, "198.51.100.4, 10.0.0.0/8")
    behind = TestClient(_address_app(), client=("198.51.100.4", 5000))
    assert behind.get("/whoami", headers=forged).json() == {"ip": "203.0.113.9"}
    elsewhere = TestClient(_address_app(), client=("192.0.2.50", 5000))
    assert elsewhere.get("/whoami", headers=forged).json() == {"ip": "192.0.2.50"}


def test_trusting_every_address_as_a_proxy_is_refused() -> None:
    with pytest.raises(TrustedProxiesInvalid):
        trusted_proxies({TRUSTED_PROXIES_VARIABLE: "10.0.0.1,*"})
    assert trusted_proxies({}) == [] and trusted_proxies({TRUSTED_PROXIES_VARIABLE: " "}) == []


def test_a_method_not_allowed_names_every_method_of_the_path() -> None:
    """Two routes on one path (a list and a create): the 405 lists both (RFC 9110 §15.5.6)."""
    app = FastAPI()
    install_http_runtime(app, service="test")

    @app.get("/v1/things")
    async def things() -> list[str]:
        return []

    @app.post("/v1/things")
    async def make() -> dict[str, str]:
        return {}

    answer = TestClient(app).request("OPTIONS", "/v1/things")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json()["code"] == "method-not-allowed"


def test_no_capability_in_a_path_reaches_the_services_access_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack class: a capability in a URL's path (a phone's pairing link ``/approve/pair/<code>``,
    which registers whoever opens it as the signer's device; an approval's id, which denies it)
    copied to the services' own access line (``http.request``), which every request writes. Every
    route of both services is asked with a fresh value in each parameter, and a pairing link with
    a wrong tail (no route answers it): the line names the route's template, and of a path no
    route answers, its first segment."""
    import structlog
    from structlog.testing import capture_logs

    from gateway_runtime import http
    from tests.service_routes import route_paths, service_apps

    apps = service_apps()  # before capturing: building them configures the logs
    asked: list[tuple[str, str]] = []  # (template, value in each of its parameters)
    with capture_logs() as logs:
        # A logger not yet used: the module's own is cached with whatever earlier tests set up.
        monkeypatch.setattr(http, "_log", structlog.get_logger(http.__name__))
        for app in apps:
            client = TestClient(app, raise_server_exceptions=False)  # services not started
            for template in route_paths(app):
                if "{" not in template:
                    continue
                value = secrets.token_urlsafe(18)
                client.post(re.sub(r"\{[a-z_]+\}", value, template))
                asked.append((template, value))
        wrong_tail = secrets.token_urlsafe(24)
        client = TestClient(apps[0], raise_server_exceptions=False)
        assert client.get(f"/approve/pair/{wrong_tail}/x").status_code == 404
    assert {"/approve/pair/{code}", "/approve/{approval_id}/deny"} <= {t for t, _ in asked}
    lines = [line for line in logs if line["event"] == "http.request"]
    written = repr(logs)
    for template, value in asked:
        assert value not in written, template
        assert any(line["path"] == template for line in lines), template
    assert wrong_tail not in written
    assert lines[-1]["path"] == "/approve/…" and lines[-1]["status"] == 404
