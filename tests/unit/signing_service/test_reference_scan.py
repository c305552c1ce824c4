"""The search for references that decides whether an update's new objects were referred to before it
(``signing_service.integrity``): a reference is found however it is written, since viewers read
``0500 0 R``, a long generation, any whitespace and comments between the tokens as ``500 0 R``.
Attack class: a dangling reference written so that the search misses it (the walk then never runs)."""

from __future__ import annotations

import pytest
from pyhanko.pdf_utils import generic

from signing_service.integrity import Paint, _appearance_paint, _first_references


@pytest.mark.parametrize(
    "written",
    [
        b"[3 0 R 500 0 R]",
        b"[3 0 R 0500 0 R]",
        b"[500 000000 R]",
        b"<</Contents 500\n0\nR>>",
        b"[500 %a comment\n0 R]",
        b"[500 0 %a comment\nR]",
        b"[500 %one\n %two\n 0 R]",
        b"[500" + b" " * 300 + b"0 R]",
    ],
)
def test_a_reference_is_found_however_it_is_written(written: bytes) -> None:
    assert 500 in (_first_references(written, len(written)) or {})


@pytest.mark.parametrize("written", [b"12 0 RG", b"12 R", b"(no reference here)", b"1 2 3"])
def test_what_is_no_reference_is_not_taken_for_one(written: bytes) -> None:
    assert _first_references(written, len(written)) == {}


def test_a_comment_too_long_to_read_back_makes_the_search_give_up() -> None:
    """Rather than miss the reference, the search says it cannot tell (the walk then decides)."""
    written = b"[500 %" + b"x" * 70_000 + b"\n0 R]"
    assert _first_references(written, len(written)) is None


def test_only_the_bytes_before_the_update_are_searched() -> None:
    written = b"[3 0 R] [500 0 R]"
    assert 500 not in (_first_references(written, 8) or {})


def _stream(data: bytes) -> generic.StreamObject:
    return generic.StreamObject(stream_data=data)


def test_what_an_empty_field_draws_is_told_apart() -> None:
    assert _appearance_paint(_stream(b"")) is Paint.NOTHING
    assert _appearance_paint(_stream(b"0.9 g 0 0 100 20 re f")) is Paint.BOX
    assert _appearance_paint(_stream(b"BT /F1 12 Tf (10) Tj ET")) is Paint.CONTENT
    assert _appearance_paint(_stream(b"q /Im0 Do Q")) is Paint.CONTENT
    states = generic.DictionaryObject(
        {generic.pdf_name("/Off"): _stream(b""), generic.pdf_name("/On"): _stream(b"(x) Tj")}
    )
    assert _appearance_paint(states) is Paint.CONTENT


def test_a_hostile_appearance_graph_is_not_walked_for_ever() -> None:
    """Appearance dictionaries nested 16 wide and 8 deep (16^8 paths through shared parts): the
    walk stops at its limit and takes the field to draw content (it cannot be shown harmless)."""
    level: generic.PdfObject = _stream(b"0 0 1 1 re f")
    for _ in range(8):
        level = generic.DictionaryObject({generic.pdf_name(f"/S{i}"): level for i in range(16)})
    assert _appearance_paint(level) is Paint.CONTENT
