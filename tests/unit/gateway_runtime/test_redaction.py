from __future__ import annotations

import json
import logging

import pytest
import structlog

from gateway_runtime import configure_logging, redact
from gateway_runtime.logs import REDACTED

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXBhcnQ"


def test_secret_named_fields_are_removed_whatever_their_value() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "client_secret": "abc",
            "user_pin": 1234,
            "Authorization": "Bearer abc.def.ghi",
        },
    )
    assert event["client_secret"] == REDACTED
    assert event["user_pin"] == REDACTED
    assert event["Authorization"] == REDACTED


def test_tokens_and_citizen_ids_inside_free_text_are_removed() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "detail": f"token {JWT} for citizen 001203004567 at 2026",
            "nested": {"list": [f"Bearer {JWT}", "079199001234"]},
        },
    )
    assert JWT not in json.dumps(event)
    assert "001203004567" not in event["detail"]
    assert "079199001234" not in json.dumps(event)
    # Shorter or longer numbers are not citizen IDs and stay.
    assert "2026" in event["detail"]


def test_no_secret_reaches_the_rendered_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    log = structlog.get_logger("test")
    log.info(
        "login",
        password="hunter2-very-secret",
        citizen_id="001203004567",
        note=f"header Bearer {JWT}",
    )
    logging.getLogger("uvicorn.error").warning("raw %s", "001203004567")
    out = capsys.readouterr().out
    for secret in ("hunter2-very-secret", "001203004567", JWT):
        assert secret not in out
    assert '"event": "login"' in out
