"""Keycloak's refusals (4xx) and failures (network, 5xx) are told apart, with Keycloak's reason for a
refusal and never a citizen ID or a token in it."""

from __future__ import annotations

import socket

import pytest
from keycloak.exceptions import KeycloakConnectionError, KeycloakPostError, KeycloakPutError

from idp_config import KeycloakRefused, KeycloakUnreachable, admin_client
from idp_config.errors import IdpConfigError, keycloak_error, keycloak_errors


def test_a_4xx_answer_is_a_refusal_with_the_status_and_keycloaks_reason() -> None:
    body = b'{"errorMessage": "User exists with same username"}'
    error = keycloak_error(
        KeycloakPostError(b"conflict", response_code=409, response_body=body), "creating a user"
    )
    assert isinstance(error, KeycloakRefused)
    assert error.detail == "creating a user: HTTP 409: User exists with same username"
    assert error.envelope()["status"] == 409
    assert "Keycloak refused" in error.diagnostics()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_answer_is_a_failure_not_a_refusal(status: int) -> None:
    error = keycloak_error(
        KeycloakPutError(b"oops", response_code=status, response_body=b"<html>"), "updating"
    )
    assert type(error) is KeycloakUnreachable
    assert error.detail == f"updating: HTTP {status}"


def test_a_refusal_echoing_a_citizen_id_or_a_token_is_scrubbed() -> None:
    """Attack: Keycloak's validation error repeats the value it refused."""
    body = (
        b'{"error": "invalid attribute 079203001234",'
        b' "error_description": "Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}'
    )
    error = keycloak_error(
        KeycloakPutError(b"", response_code=400, response_body=body), "updating a user"
    )
    assert isinstance(error, KeycloakRefused)
    assert "079203001234" not in error.diagnostics()
    assert "eyJhbGciOi" not in error.diagnostics()
    assert "HTTP 400" in error.diagnostics()


def test_the_block_translates_and_lets_the_gateways_own_errors_through() -> None:
    unreachable = pytest.raises(KeycloakUnreachable, match="reading: KeycloakConnectionError")
    with unreachable, keycloak_errors("reading"):
        raise KeycloakConnectionError("Can't connect to server")
    own = pytest.raises(IdpConfigError, match="client 'x' not found")
    with own, keycloak_errors("applying"):
        raise IdpConfigError("client 'x' not found")


def test_no_keycloak_listening_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: a real connection refused, through python-keycloak.
    with pytest.raises(KeycloakUnreachable) as failed:
        admin_client(f"http://127.0.0.1:{port}", "admin", "Kc-admin-2026-rotated")
    assert f"127.0.0.1:{port}" in str(failed.value.detail)
    assert "Kc-admin-2026-rotated" not in failed.value.diagnostics()
