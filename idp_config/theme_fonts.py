"""The typeface of the department's Keycloak theme, cut from Noto Sans when the theme is packed.

Keycloak's own pages use Red Hat Text, which has no Vietnamese letters with two marks ("ườ", "ẫ"):
browsers then draw those in another font, mid-word. The theme's CSS asks for ``fonts/noto-sans-vi.woff``
instead: Noto Sans (SIL Open Font License, from the ``fontpkg-noto-sans`` package), its weight axis
kept, cut to the Latin and Vietnamese letters and the punctuation the pages use (about 10 % of the
file), written into each theme folder whose stylesheets name it.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

FONT_NAME = "noto-sans-vi.woff"
#: Basic Latin and Latin-1, the Vietnamese letters (Ă Đ Ĩ Ũ Ơ Ư and Latin Extended Additional), the
#: combining marks, general punctuation, the đồng sign and the arrows of PatternFly's widgets.
_UNICODES = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x100),
    0x102, 0x103, 0x110, 0x111, 0x128, 0x129, 0x168, 0x169, 0x1A0, 0x1A1, 0x1AF, 0x1B0,
    *range(0x300, 0x324),
    *range(0x1EA0, 0x1EFA),
    *range(0x2000, 0x2070),
    0x20AB, 0x2190, 0x2192, 0x2212,
]  # fmt: skip


def _source() -> Path:
    import fontpkg_noto_sans

    return Path(fontpkg_noto_sans.__file__).parent / "files" / "NotoSans[wdth,wght].ttf"


def cut_font(target: Path) -> Path:
    """Write the cut typeface to ``target`` (WOFF, zlib-compressed)."""
    font = TTFont(_source(), lazy=False)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_UNICODES)
    subsetter.subset(font)
    font = instancer.instantiateVariableFont(font, {"wdth": 100})
    target.parent.mkdir(parents=True, exist_ok=True)
    font.flavor = "woff"
    font.save(str(target))
    return target


def add_theme_fonts(themes: Path) -> list[Path]:
    """Under ``themes`` (a packed extension's ``theme`` folder), give every theme type whose CSS
    names :data:`FONT_NAME` its ``resources/fonts`` copy; return what was written."""
    written: list[Path] = []
    cut: bytes | None = None
    for css in sorted(themes.glob("*/*/resources/css/*.css")):
        if FONT_NAME not in css.read_text(encoding="utf-8"):
            continue
        target = css.parent.parent / "fonts" / FONT_NAME
        if cut is None:
            cut = cut_font(target).read_bytes()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(cut)
        written.append(target)
    return written
