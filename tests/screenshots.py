"""Screenshots of the main pages kept in the repository (``tests/e2e/screenshots``) and compared with
what Chromium draws now, within a tolerance: a broken layout fails the test, a pixel of antialiasing
does not.

A page differs when more than ``tolerance`` of its pixels differ by more than a small colour
distance, or when its size changed. The picture of what it looks like now is written next to the
kept one (``*.actual.png``, ignored by git) with a third that marks the differing pixels in red
(``*.diff.png``). ``UPDATE_SCREENSHOTS=1`` writes the kept pictures from what is drawn (review them
before committing).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageChops
from playwright.sync_api import Locator, Page

FOLDER = Path(__file__).parent / "e2e" / "screenshots"
#: In any channel (0 to 255): up to this, a pixel counts as the same (dithering, colour rounding).
_CHANNEL_TOLERANCE = 8


def _changed(expected: Image.Image, actual: Image.Image) -> Image.Image:
    """A mask of the pixels whose largest channel difference is beyond the tolerance."""
    red, green, blue = ImageChops.difference(expected.convert("RGB"), actual.convert("RGB")).split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return largest.point(lambda value: 255 if value > _CHANNEL_TOLERANCE else 0)


def differing_share(expected: Image.Image, actual: Image.Image) -> float:
    """The share of pixels (0 to 1) that differ; 1.0 if the sizes differ. Antialiasing of text
    changes few pixels: the caller's tolerance is a share of the page."""
    if expected.size != actual.size:
        return 1.0
    changed = _changed(expected, actual).histogram()[255]
    return changed / (expected.size[0] * expected.size[1])


def assert_looks_like(
    page: Page, name: str, *, tolerance: float = 0.01, mask: Sequence[Locator] = ()
) -> None:
    """``page`` (its whole length) looks like the kept ``name.png`` within ``tolerance``;
    ``mask``: what changes from run to run (a generated name, a time), painted over alike."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    kept = FOLDER / f"{name}.png"
    drawn = Image.open(
        io.BytesIO(page.screenshot(full_page=True, animations="disabled", mask=list(mask)))
    )
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        drawn.save(kept)
        return
    assert kept.exists(), f"no kept screenshot {kept}: run with UPDATE_SCREENSHOTS=1 and review it"
    expected = Image.open(kept)
    share = differing_share(expected, drawn)
    if share > tolerance:
        drawn.save(FOLDER / f"{name}.actual.png")
        if expected.size == drawn.size:
            red = Image.new("RGB", drawn.size, (255, 0, 0))
            changed = _changed(expected, drawn)
            Image.composite(red, drawn.convert("RGB"), changed).save(FOLDER / f"{name}.diff.png")
        raise AssertionError(
            f"{name}: {share:.1%} of the pixels differ from {kept} (tolerance {tolerance:.1%}; "
            f"sizes {expected.size} → {drawn.size}); see {name}.actual.png and {name}.diff.png"
        )
