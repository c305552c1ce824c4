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


def test_hexadecimal_identifiers_are_kept_whole() -> None:
    """An event id holding a 12-digit run by chance (1.5% of them did) stays matchable to the
    stored event, in its own field and inside text."""
    event_id = "b7ddc0123456789012ff980253b08e81"
    request_id = "0f3c2a1b-9d8e-4f7a-8b6c-123456789012"  # a UUID whose last group is all digits
    event = redact(
        None,
        "info",
        {
            "event": f"audit.spooled {event_id}",
            "event_id": event_id,
            "request_id": request_id,
            "entry_id": "1796138190092-0",
            "document_sha256": "123456789012" + "ab" * 26,
            "note": f"stored as {event_id}",
        },
    )
    assert event["event_id"] == event_id and event["request_id"] == request_id
    assert event["entry_id"] == "1796138190092-0"
    assert event["document_sha256"].startswith("123456789012")
    assert event_id in event["event"] and event_id in event["note"]


def test_a_citizen_id_is_redacted_at_token_boundaries_whatever_the_field() -> None:
    """Attack: a citizen ID smuggled through an identifier-named field, or punctuated in text."""
    cccd = "079199001234"
    event = redact(
        None,
        "info",
        {
            "event": "x",
            "event_id": cccd,  # not an identifier's shape: redacted
            "user_id": f"user {cccd}",
            "detail": f"cccd={cccd}; ({cccd}) {cccd}-x _{cccd}_",
        },
    )
    text = json.dumps(event)
    assert cccd not in text
    assert event["detail"].count(REDACTED) == 4
