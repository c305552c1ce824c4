"""The stamp's font engine over the font parsed once per worker gives what pyHanko's own engine gives
for the same font: the same glyphs, positions and text map for every stamp line, so that a pyHanko
upgrade that changes how an engine is set up shows here rather than in a stamp."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import PdfFileWriter

from signing_service.appearance import DEFAULT_FONT, stamp_style
from signing_service.stamp_font import PreparedFontFactory, prepared_font

LINES = [
    "Dấu cơ quan / Organisation seal: Sở Giáo dục và Đào tạo",
    "Ký bởi / Signed by: Nguyễn Thị Ngọc Ánh — Hiệu trưởng",
    "Đơn vị / Unit: Trường THPT Nguyễn Du, Bình Định",
    "Thời gian / Time: 02/12/2026 23:01:05 (UTC+07:00)",
    "ỳ ỷ ỹ ỵ ị ụ ữ ự ẫ ậ ở ợ ₫ № “…”",
]


def _pyhankos_engine(writer: PdfFileWriter) -> GlyphAccumulator:
    engine = GlyphAccumulator(writer, BytesIO(prepared_font(Path(DEFAULT_FONT))), font_size=8)
    engine.features = {"ccmp": False}
    return engine


@pytest.mark.parametrize("line", LINES)
def test_the_shared_font_shapes_as_pyhankos_engine_does(line: str) -> None:
    factory = stamp_style().text_box_style.font
    assert isinstance(factory, PreparedFontFactory)
    ours, theirs = factory.create_font_engine(PdfFileWriter()), _pyhankos_engine(PdfFileWriter())
    for _ in range(2):  # and again, on the font as the first engine left it
        mine, reference = ours.shape(line), theirs.shape(line)
        assert mine.graphics_ops == reference.graphics_ops
        assert (mine.x_advance, mine.y_advance) == (reference.x_advance, reference.y_advance)
        ours = factory.create_font_engine(PdfFileWriter())
    assert ours._cid_to_unicode == {}  # a new engine starts with no glyphs of its own
    ours.shape(line)
    theirs_map = theirs._cid_to_unicode
    assert ours._cid_to_unicode == theirs_map


def test_engines_of_two_documents_do_not_share_glyphs() -> None:
    factory = stamp_style().text_box_style.font
    assert isinstance(factory, PreparedFontFactory)
    first = factory.create_font_engine(PdfFileWriter())
    first.shape("Nguyễn")
    second = factory.create_font_engine(PdfFileWriter())
    second.shape("Trần")
    assert set(first._cid_to_unicode.values()) >= {"N", "g", "u", "y", "ễ", "n"}
    assert "ễ" not in second._cid_to_unicode.values()


def _shaped(engine: GlyphAccumulator, lines: list[str]) -> list[tuple[object, ...]]:
    results = [engine.shape(line) for line in lines]
    return [
        *((r.graphics_ops, r.x_advance, r.y_advance) for r in results),
        (dict(engine._glyphs), dict(engine._cid_to_unicode)),
    ]


@pytest.mark.parametrize(
    "lines", [LINES, LINES[2:3], [LINES[2], LINES[0], LINES[2]], [*LINES[::-1], LINES[0]]]
)
def test_lines_shaped_again_are_what_pyhanko_shapes(lines: list[str]) -> None:
    """Shaped lines are reused (a stamp's lines repeat from one document to the next): those given
    back, in any order after any others, are pyHanko's own, with the glyphs and text map it leaves."""
    factory = stamp_style().text_box_style.font
    assert isinstance(factory, PreparedFontFactory)
    expected = _shaped(_pyhankos_engine(PdfFileWriter()), lines)
    for _ in range(3):  # shaped, then given back, twice
        assert _shaped(factory.create_font_engine(PdfFileWriter()), lines) == expected


def test_a_line_shaped_at_another_size_is_shaped_again() -> None:
    """A text box sets its engine's font size after making it: a line shaped at one size is not
    given back at another."""
    factory = stamp_style().text_box_style.font
    assert isinstance(factory, PreparedFontFactory)
    factory.create_font_engine(PdfFileWriter()).shape(LINES[1])
    engine, reference = (
        factory.create_font_engine(PdfFileWriter()),
        _pyhankos_engine(PdfFileWriter()),
    )
    engine.font_size = reference.font_size = 12
    assert engine.shape(LINES[1]) == reference.shape(LINES[1])
