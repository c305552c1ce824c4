"""The screenshot comparison the page tests rely on tells a broken layout from antialiasing."""

from __future__ import annotations

from PIL import Image, ImageDraw

from tests.screenshots import differing_share


def _page(box_left: int, *, shade: int = 0) -> Image.Image:
    picture = Image.new("RGB", (390, 600), (238, 242, 247))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((box_left, 100, box_left + 300, 400), fill=(255 - shade, 255, 255))
    draw.text((box_left + 20, 120), "Đăng nhập", fill=(0, 0, 0))
    return picture


def test_the_same_page_with_a_colour_rounded_differently_is_the_same() -> None:
    assert differing_share(_page(40), _page(40, shade=6)) == 0.0


def test_a_box_pushed_sideways_is_a_different_page() -> None:
    assert differing_share(_page(40), _page(90)) > 0.05


def test_a_page_of_another_size_is_entirely_different() -> None:
    assert differing_share(_page(40), _page(40).crop((0, 0, 390, 500))) == 1.0
