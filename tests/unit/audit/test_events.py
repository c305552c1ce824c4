"""The canonical text of an event: what the hash chain and the producers' seals cover."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from audit import Actor, AuditEvent, EventTag, Outcome

#: Characters whose writing differs between JSON writers if any does: every ASCII control
#: character, quote and backslash, what some writers escape for HTML or JavaScript, and text
#: beyond ASCII (Vietnamese, a byte-order mark, the line and paragraph separators, an emoji).
_ALPHABET = [chr(c) for c in range(0x80)] + list(
    "\u0080\u00a0\u00e9ệĐđ\u2028\u2029\ufeff\ue000\ud7ff\U0001f600\U0010ffff"
)


def _text(rnd: random.Random, limit: int) -> str:
    return "".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(0, limit)))


def _generated(rnd: random.Random) -> AuditEvent:
    zone = timezone(timedelta(minutes=rnd.choice([0, 420, -300, 345])))
    return AuditEvent(
        tag=rnd.choice(list(EventTag)),
        event_class=rnd.choice(list(EventTag)).event_class,
        time=datetime(2026, 12, 4, 8, 0, tzinfo=zone)
        + timedelta(microseconds=rnd.randint(0, 10**12)),
        service=_text(rnd, 20),
        actor=Actor(
            name=_text(rnd, 30),
            client_id=rnd.choice([None, _text(rnd, 10)]),
            subject=rnd.choice([None, _text(rnd, 10)]),
        ),
        source_ip=rnd.choice([None, _text(rnd, 15)]),
        user_agent=rnd.choice([None, _text(rnd, 40)]),
        target={_text(rnd, 8): _text(rnd, 30) for _ in range(rnd.randint(0, 6))},
        outcome=rnd.choice(list(Outcome)),
        reason=rnd.choice([None, _text(rnd, 40)]),
        correlation_id=rnd.choice([None, _text(rnd, 10)]),
        unit=rnd.choice([None, _text(rnd, 8)]),
    )


@pytest.mark.parametrize("seed", range(4))
def test_the_canonical_text_is_json_dumps_with_sorted_keys(seed: int) -> None:
    """The text every stored record and seal was computed over (``json.dumps`` with sorted keys,
    no spaces, UTF-8 as is) is still the text written, for generated events of every field."""
    rnd = random.Random(seed)  # noqa: S311 - generated test values, reproducible by seed
    for _ in range(500):
        event = _generated(rnd)
        expected = json.dumps(
            event.model_dump(mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert event.canonical_json() == expected
        assert AuditEvent.model_validate_json(expected) == event


def test_a_text_that_is_not_unicode_is_refused() -> None:
    """A lone surrogate has no UTF-8 form: an event holding one is never made, so never written."""
    with pytest.raises(ValidationError, match="string_unicode"):
        AuditEvent.build(
            tag=EventTag.SIGNING_DOCUMENT_SIGN,
            service="signing",
            actor=Actor(name="gv\ud800"),
            outcome=Outcome.SUCCESS,
        )
