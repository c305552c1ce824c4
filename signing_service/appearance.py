"""The visible appearance of a signature: Vietnamese text in an embedded font, and a QR code.

pyHanko's default stamp font is a non-embedded Courier with WinAnsi encoding, which turns "Nguyễn Thị"
into garbage. Here the text is set in Noto Sans (it covers U+1EA0-1EF9), embedded as a subset with a
ToUnicode map so that the text can be copied and extracted back (the font is prepared once per worker:
:mod:`signing_service.stamp_font`); every string is normalised to NFC first.
The QR code opens the verification page for the document; its mask is chosen as ``qrcode`` chooses
it, faster (:mod:`signing_service.qr_symbols`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import fontpkg_noto_sans
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import QRStampStyle

from gateway_runtime.local_time import for_people
from signing_service import qr_symbols
from signing_service.stamp_font import PreparedFontFactory

qr_symbols.install()

#: Noto Sans (variable font; its default instance is Regular), shipped by the ``fontpkg-noto-sans`` wheel.
DEFAULT_FONT = Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"

#: The stamp's lines (who, and only what is known of them) and the signing time, local with its zone.
STAMP_TEXT = "%(lines)s\nThời gian / Time: %(when)s"
#: Width and height of the stamp in points, placed at the bottom right of the chosen page.
STAMP_SIZE = (300, 84)
STAMP_MARGIN = 36


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class VisibleStamp:
    """What the stamp says. ``page`` counts from 1, as people do; -1 is the last page."""

    signer: str
    unit: str
    verify_url: str
    page: int = -1
    #: The organisation's seal, not a person: the stamp says so, and a seal has no title.
    seal: bool = False
    #: A person's title, from their certificate (never free text from the request).
    title: str = ""

    def text_params(self, signed_at: datetime) -> dict[str, str]:
        """The stamp's text: a seal is named as the organisation's seal, a person by name and
        title; what is not known is left out (no "-"); the time is local, with its zone."""
        signer = nfc(self.signer)
        lines = [
            f"Dấu cơ quan / Organisation seal: {signer}"
            if self.seal
            else f"Ký bởi / Signed by: {signer}"
        ]
        if self.title and not self.seal:
            lines.append(f"Chức vụ / Title: {nfc(self.title)}")
        if self.unit:
            lines.append(f"Đơn vị / Unit: {nfc(self.unit)}")
        return {"url": self.verify_url, "lines": "\n".join(lines), "when": for_people(signed_at)}


@lru_cache(maxsize=4)
def stamp_style(font_file: Path = DEFAULT_FONT) -> QRStampStyle:
    return QRStampStyle(
        stamp_text=STAMP_TEXT,
        text_box_style=TextBoxStyle(
            font=PreparedFontFactory(str(font_file), font_size=8), leading=12
        ),
        border_width=1,
        timestamp_format="%d/%m/%Y %H:%M:%S %Z",
    )


Box = tuple[int, int, int, int]
#: At most this many places are looked at for room on one page.
_MAX_TRIED = 200
#: Room between two stamps side by side or one above the other.
STAMP_GAP = 12


def stamp_box(media_box: tuple[float, float, float, float]) -> Box:
    """The stamp's rectangle at the bottom right of a page with ``media_box``."""
    x0, y0, x1, _ = media_box
    width, height = STAMP_SIZE
    right = int(x1) - STAMP_MARGIN
    bottom = int(y0) + STAMP_MARGIN
    left = max(int(x0), right - width)
    return (left, bottom, right, bottom + height)


def free_stamp_boxes(
    media_box: tuple[float, float, float, float], taken: Sequence[tuple[float, ...]], count: int
) -> list[Box]:
    """``count`` stamp rectangles that overlap neither ``taken`` nor each other: from the bottom
    right leftwards, then a row up (the signatures of a transcript side by side, as on paper).
    Where the page has no more room, the last places repeat the first one (stamps overlap rather
    than a signature be refused)."""
    x0, _, _, y1 = media_box
    width, height = STAMP_SIZE
    first = stamp_box(media_box)
    found: list[Box] = []
    tried = 0
    bottom = first[1]
    while len(found) < count and bottom + height <= y1 - STAMP_MARGIN:
        right = first[2]
        while len(found) < count and right - width >= x0 and tried < _MAX_TRIED:
            tried += 1
            box = (right - width, bottom, right, bottom + height)
            if not any(_overlap(box, other) for other in (*taken, *found)):
                found.append(box)
            right -= width + STAMP_GAP
        tried += 1
        if tried >= _MAX_TRIED:  # a page the size of a wall, covered: look no further
            break
        bottom += height + STAMP_GAP
    return found + [first] * (count - len(found))


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
