"""The search for a key named twice in one dictionary (``signing_service.repeated_keys``), against
pyHanko's strict reader as the oracle. Attack class: a repetition written so that the fast scan
misses it — hidden behind a string that holds brackets or names, an escaped spelling of the key
(``/Cont#65nts``), a comment, a reference, a nested dictionary — while a viewer shows the value
pyHanko did not judge."""

from __future__ import annotations

import random
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStrictReadError

from signing_service import repeated_keys
from signing_service.repeated_keys import StrictAboutRepeatedKeys, _key_repeated_at, _scan_value


class _Reader:
    """What pyHanko's object reader asks of its reader (strictness alone, here)."""

    strict = False


def _oracle(data: bytes) -> str | None:
    """pyHanko's strict reading: the key it finds named twice, or None."""
    stream = BytesIO(data)
    try:
        generic.read_object(stream, generic.Reference(1, 0, pdf=StrictAboutRepeatedKeys(_Reader())))
    except PdfStrictReadError as exc:
        return str(exc).rsplit("for key ", 1)[1].split()[0]
    return None


_KEYS = [b"/Contents", b"/Cont#65nts", b"/Type", b"/Kids", b"/A", b"/#41", b"/V", b"/AP"]
_STRINGS = [
    b"(a (nested) string)",
    b"(/Contents)",
    b"(unbalanced \\) bracket)",
    b"(<< /Contents 1 >>)",
    b"(\\\\)",
    b"<48656c6c6f>",
    b"<>",
    b"()",
]


def _value(rng: random.Random, depth: int) -> bytes:
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return rng.choice(_KEYS)
    if choice == 1:
        return b"%d" % rng.randrange(-5, 500)
    if choice == 2:
        return b"%d 0 R" % rng.randrange(1, 99)
    if choice == 3:
        return rng.choice(_STRINGS)
    if choice == 4:
        return rng.choice([b"true", b"false", b"null", b"1.5", b"-.25"])
    if choice == 5:
        return b"%d %d R" % (rng.randrange(1, 99), rng.randrange(0, 3))
    if choice in (6, 7):
        return _dictionary(rng, depth + 1)
    items = [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return b"[" + b" ".join(items) + b"]"


def _space(rng: random.Random) -> bytes:
    return rng.choice([b" ", b"\n", b"\r\n", b"", b" %comment /Contents\n", b"\t\x0c"])


def _dictionary(rng: random.Random, depth: int) -> bytes:
    parts = [b"<<"]
    for _ in range(rng.randrange(0, 5)):
        parts += [_space(rng), rng.choice(_KEYS), _space(rng) or b" ", _value(rng, depth)]
    parts += [_space(rng), b">>"]
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_the_scan_finds_what_pyhankos_strict_reader_finds(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible test inputs, no secret
    repeated = 0
    for _ in range(150):
        data = _dictionary(rng, 0) + b"\nendobj"
        expected = _oracle(data)
        # Both name a repeated key, or neither (pyHanko names the innermost first).
        assert (_scan_value(data, 0) is None) == (expected is None), data
        repeated += expected is not None
    assert 10 < repeated < 140  # the generator makes both kinds


@pytest.mark.parametrize(
    ("written", "key"),
    [
        (b"<< /Contents 4 0 R /Contents 9 0 R >>", "/Contents"),
        (b"<< /Contents 4 0 R /Cont#65nts 9 0 R >>", "/Contents"),
        (b"<< /A (a \\) string) /B 1 /A 2 >>", "/A"),
        (b"<< /Kids [ << /V 1 /V 2 >> ] >>", "/V"),
        (b"<< /A << /B 1 >> /C %comment\n 1 /A 3 >>", "/A"),
        (b"<< /A <414243> /A 1 >>", "/A"),
    ],
)
def test_a_repetition_is_found_however_it_is_written(written: bytes, key: str) -> None:
    assert _key_repeated_at(written, 0, _Reader()) == key


@pytest.mark.parametrize(
    "written",
    [
        b"<< /A (/A) /B [/A /A] /C << /A 1 >> >>",
        b"<< /A 1 0 R /B 2 0 R >>",
        b"<< /A (a \\( b) /B 1 >> /A",
        b"[ /A /A ]",
    ],
)
def test_what_repeats_no_key_is_not_taken_for_a_repetition(written: bytes) -> None:
    assert _key_repeated_at(written, 0, _Reader()) is None


def test_what_the_scan_cannot_read_pyhankos_strict_reader_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bytes that are no tokens the scan knows (here: all of them) go to pyHanko's strict reader,
    which then finds the repetition: the scan is never less exact than that reader."""

    def unsure(data: bytes, at: int) -> bytes | None:
        raise repeated_keys._Unsure

    monkeypatch.setattr(repeated_keys, "_scan_value", unsure)
    assert _key_repeated_at(b"  << /A 1 /B (x) /A 2 >>", 0, _Reader()) == "/A"
    assert _key_repeated_at(b"<< /A 1 /B (x) /C 2 >>", 0, _Reader()) is None
    assert _key_repeated_at(b"<< /A 1 ) /A 2 >>", 0, _Reader()) is None  # unreadable to both
