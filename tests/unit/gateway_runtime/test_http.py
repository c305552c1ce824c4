from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway_runtime import GatewayError, install_http_runtime


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
