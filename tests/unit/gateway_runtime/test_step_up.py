"""A login too weak or too old for the operation: RFC 9470's step-up challenge."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway_runtime import install_http_runtime
from gateway_runtime.tokens import InsufficientUserAuthentication, Principal


def _person(**claims: Any) -> Principal:
    return Principal(
        subject="u-1",
        client_id="demo-sign-app",
        username="demo.giaovien",
        roles=frozenset(),
        realm_roles=frozenset(),
        acr=claims.get("acr"),
        token_id="t-1",
        claims=claims,
    )


@pytest.mark.parametrize(
    ("acr", "age"),
    [
        ("1", 5),  # a password only, just now
        ("2", 601),  # the second factor, but eleven minutes ago
        ("2", None),  # no time of login at all
        (None, 5),  # no level at all
        ("2x", 5),  # not a level
        ("2", -3600),  # a login "from the future" (clock far off, or a forged claim)
    ],
)
def test_a_weak_or_old_login_is_asked_to_step_up(acr: str | None, age: int | None) -> None:
    claims: dict[str, Any] = {"acr": acr}
    if age is not None:
        claims["auth_time"] = int(time.time()) - age
    with pytest.raises(InsufficientUserAuthentication) as refused:
        _person(**claims).require_recent_login(level=2, max_age=600)
    assert refused.value.fields == {"acr_values": "2", "max_age": 600}


@pytest.mark.parametrize("acr", ["2", "3"])
def test_a_recent_second_factor_login_passes(acr: str) -> None:
    _person(acr=acr, auth_time=int(time.time()) - 30).require_recent_login(level=2, max_age=600)


def test_the_refusal_is_a_401_with_the_step_up_challenge() -> None:
    app = FastAPI()
    install_http_runtime(app, service="test")

    @app.post("/pair")
    async def pair() -> None:
        _person(acr="1", auth_time=int(time.time())).require_recent_login(level=2, max_age=600)

    response = TestClient(app).post("/pair")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", error_description="Log in again with '
        'a second factor (a one-time code) to perform this operation.", acr_values="2", max_age=600'
    )
    body = response.json()
    assert body["code"] == "insufficient-user-authentication"
    assert (body["acr_values"], body["max_age"]) == ("2", 600)
