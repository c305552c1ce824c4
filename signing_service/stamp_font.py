"""The stamp's font, prepared once per worker instead of once per document.

Noto Sans ships as a 2 MB variable font with every script's layout tables. Subsetting it for each
stamp (what pyHanko does) decompiles those tables every time: 1.2-1.5 s a document, sixty times an
invisible signature. Here it is prepared once per worker process: cut to the Vietnamese repertoire
(Latin, Latin-1 and Latin Extended, the precomposed Vietnamese letters U+1EA0-1EF9, combining marks,
punctuation, the đồng sign), then instanced at Regular (72 KB), and parsed once (fontTools' tables,
HarfBuzz's font: every stamp's engine reads the same objects). Each stamp then embeds the subset of
the glyphs it uses, and the subset for one set of glyphs (a signer's name, title and unit, with every
digit and hex letter the time and QR link need) is made once and reused: a class's transcripts signed
by one principal cost one subset.

The sandbox's fork server loads this module before it forks the workers, so the preparation runs
once for all of them (:data:`signing_service.sandbox._PRELOAD`). The text stays extractable: the
glyph ids are kept (``retain_gids``) and pyHanko writes the ToUnicode map from the shaped text.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import OrderedDict
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

import uharfbuzz as hb
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font import opentype
from pyhanko.pdf_utils.font.api import FontEngine, ShapeResult
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

#: What Vietnamese text (and the stamp's English, digits, URLs) needs.
VIETNAMESE_REPERTOIRE = [
    *range(0x20, 0x7F),  # ASCII
    *range(0xA0, 0x180),  # Latin-1, Latin Extended-A (Ă ă Đ đ)
    *(0x1A0, 0x1A1, 0x1AF, 0x1B0),  # Ơ ơ Ư ư
    *range(0x300, 0x30A),  # combining marks
    0x323,  # combining dot below
    *range(0x1EA0, 0x1EFA),  # the precomposed Vietnamese letters
    *range(0x2010, 0x2028),  # dashes, quotation marks, ellipsis
    *range(0x2030, 0x203B),
    *(0x20AB, 0x20AC, 0x2116),  # ₫ € №
]
#: Always in a stamp's subset, so that the time and the verification link do not make a new one.
_ALWAYS = "0123456789abcdefABCDEF:/.-_?=&%+ "
#: Subsets kept per worker (a few hundred signers' names, title and unit; ~20 KB each).
_CACHED_SUBSETS = 256
#: Shaped lines kept per worker: each signer's few lines, and the time line of the last seconds.
_CACHED_SHAPES = 512


def _cache_file(source: Path) -> Path:
    """Where the prepared font is kept between runs, named by what it is made from."""
    digest = hashlib.sha256(source.read_bytes())
    digest.update(repr(VIETNAMESE_REPERTOIRE).encode())
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edu-gateway"
    return folder / f"stamp-font-{digest.hexdigest()[:16]}.ttf"


@lru_cache(maxsize=2)
def prepared_font(source: Path) -> bytes:
    """``source`` cut to the Vietnamese repertoire and instanced at its default (Regular); made
    once per machine (a few seconds) and kept in the user's cache folder, then read from there."""
    cached = _cache_file(source)
    try:
        return cached.read_bytes()
    except OSError:
        pass
    prepared = _prepare(source)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(prepared)
        temporary.replace(cached)
    except OSError:
        pass  # a read-only home: prepare it again next time
    return prepared


def _prepare(source: Path) -> bytes:
    font = TTFont(str(source))
    options = subset.Options(
        layout_features=["kern", "liga", "calt", "mark", "mkmk"], name_IDs=["*"]
    )
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=VIETNAMESE_REPERTOIRE)
    subsetter.subset(font)
    if "fvar" in font:
        defaults = {axis.axisTag: axis.defaultValue for axis in font["fvar"].axes}
        font = instancer.instantiateVariableFont(font, defaults)
    out = BytesIO()
    font.save(out)
    return out.getvalue()


_SUBSETS: OrderedDict[tuple[bytes, frozenset[int]], bytes] = OrderedDict()


@lru_cache(maxsize=2)
def _digest(font: bytes) -> bytes:
    return hashlib.sha256(font).digest()


def _compressed_subset(font: bytes, glyphs: frozenset[int]) -> bytes:
    """The Flate-compressed font program holding ``glyphs`` (glyph ids kept), made once."""
    key = (_digest(font), glyphs)
    cached = _SUBSETS.get(key)
    if cached is not None:
        _SUBSETS.move_to_end(key)
        return cached
    tt = TTFont(BytesIO(font))
    options = subset.Options(layout_closure=False, retain_gids=True)
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=sorted(glyphs))
    subsetter.subset(tt)
    out = BytesIO()
    tt.save(out)
    compressed = zlib.compress(out.getvalue())
    _SUBSETS[key] = compressed
    if len(_SUBSETS) > _CACHED_SUBSETS:
        _SUBSETS.popitem(last=False)
    return compressed


@lru_cache(maxsize=2)
def _parsed(font: bytes) -> tuple[Any, TTFont, Any, str]:
    """The prepared font parsed once per worker: HarfBuzz's font, fontTools' (its tables decompiled
    when first read, then only read), its glyph set and PostScript name. pyHanko parses the font
    again for every stamp (4 ms: the glyph table and the glyph names built from the cmap)."""
    tt = TTFont(BytesIO(font))
    if "glyf" not in tt:
        raise ValueError("the stamp font must have TrueType outlines")
    glyph_set = tt.getGlyphSet(preferCFF=True)
    return hb.Font(hb.Face(font)), tt, glyph_set, opentype._read_ps_name(tt)


#: (engine's settings, its glyphs and text map before, the line) -> (the line shaped, its glyphs and
#: text map after).
_SHAPED: OrderedDict[tuple[Any, ...], tuple[ShapeResult, dict[int, Any], dict[int, str]]] = (
    OrderedDict()
)


class _ReusedSubsetAccumulator(GlyphAccumulator):
    """pyHanko's glyph accumulator over the font parsed once per worker (:func:`_parsed`),
    embedding a cached subset instead of making one per document, and shaping each line once.

    A stamp's lines repeat from one document to the next (the signer, their unit; the time changes
    once a second), and shaping is most of a stamp's text layout. Shaping a line is a function of
    the engine's settings, the glyphs and text map it holds, and the line: :meth:`shape` keeps its
    result with the glyphs and text map it leaves, keyed by all of those, and gives them back when
    they come again.

    Its set-up is :class:`GlyphAccumulator`'s for a TrueType font, with the parsed font shared:
    ``tests/unit/signing_service/test_stamp_font.py`` holds it to an accumulator pyHanko makes
    itself (the same shaping, glyph for glyph), so that a pyHanko upgrade that changes the set-up
    shows there."""

    def __init__(
        self,
        writer: Any,
        *,
        font: bytes,
        font_size: int,
        ot_script_tag: str | None = None,
        ot_language_tag: str | None = None,
        writing_direction: str | None = None,
        bcp47_lang_code: str | None = None,
        obj_stream: Any = None,
    ) -> None:
        if writing_direction not in (None, "ltr", "rtl", "ttb", "btt"):
            raise ValueError("Writing direction must be one of 'ltr', 'rtl', 'ttb' or 'btt'.")
        hb_font, tt, glyph_set, ps_name = _parsed(font)
        FontEngine.__init__(
            self, writer, ps_name, embedded_subset=True, obj_stream=obj_stream, font_size=font_size
        )
        self.hb_font = hb_font
        self.tt = tt
        self._font_ref = writer.allocate_placeholder()
        self.cff_charset = None
        self.use_raw_gids = True
        self.cidfont_obj = opentype.CIDFontType2(tt, ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = tt["head"].unitsPerEm
        self._glyphs = {}
        self._glyph_set = glyph_set
        self._cid_to_unicode = {}
        self._GlyphAccumulator__reverse_cmap = None
        self.ot_language_tag = opentype._check_ot_tag(ot_language_tag)
        self.ot_script_tag = opentype._check_ot_tag(ot_script_tag)
        self.writing_direction = writing_direction
        self.bcp47_lang_code = bcp47_lang_code
        self._subset_created = self._write_prepared = False
        self._font = font
        self.cidfont_obj.set_font_file = self._embed  # type: ignore[method-assign]

    def shape(self, txt: str, with_actual_text: bool = True) -> ShapeResult:
        key = (
            _digest(self._font),
            # Read now: a text box sets its engine's font size after making it.
            self.font_size,
            tuple(sorted(self.features.items())) if self.features else (),
            self.ot_script_tag,
            self.ot_language_tag,
            self.writing_direction,
            self.bcp47_lang_code,
            tuple(self._glyphs.items()),
            tuple(self._cid_to_unicode.items()),
            txt,
            with_actual_text,
        )
        shaped = _SHAPED.get(key)
        if shaped is None:
            result = super().shape(txt, with_actual_text)
            _SHAPED[key] = (result, dict(self._glyphs), dict(self._cid_to_unicode))
            if len(_SHAPED) > _CACHED_SHAPES:
                _SHAPED.popitem(last=False)
            return result
        _SHAPED.move_to_end(key)
        result, glyphs, to_unicode = shaped
        self._glyphs, self._cid_to_unicode = dict(glyphs), dict(to_unicode)
        return result

    def _extract_subset(self, options: Any = None) -> None:
        """Nothing to cut here: :meth:`_embed` writes the cached subset."""

    def _glyph_ids(self) -> frozenset[int]:
        cmap = self.tt.getBestCmap()
        order = self.tt.getGlyphOrder()
        always = {order.index(cmap[ord(c)]) for c in _ALWAYS if ord(c) in cmap}
        return frozenset({0, *self._glyphs.keys(), *always})

    def _embed(self, writer: Any) -> generic.IndirectObject:
        stream = generic.StreamObject(
            {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")},
            encoded_data=_compressed_subset(self._font, self._glyph_ids()),
        )
        reference: generic.IndirectObject = writer.add_object(stream)
        descriptor = self.cidfont_obj._font_descriptor
        descriptor[generic.pdf_name("/FontFile2")] = reference
        return reference


def warm(source: Path) -> None:
    """Prepare and parse the font and read the tables a stamp reads (for the fork server, so that
    every worker it forks starts with them)."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    engine = PreparedFontFactory(str(source), font_size=8).create_font_engine(PdfFileWriter())
    engine.shape("Đơn vị / Unit: Trường 0123456789 ạ ữ ₫")


class PreparedFontFactory(GlyphAccumulatorFactory):
    """Font engines over :func:`prepared_font`, shaping without the font's ``ccmp`` feature.

    Noto Sans's ``ccmp`` splits "ị" and "ụ" into a base glyph plus a combining dot below. That looks
    the same, but the extra glyph has no entry in the ToUnicode map, so the copied or extracted text
    loses the diacritic. With ``ccmp`` off, HarfBuzz picks the font's precomposed glyph (it has all
    of U+1EA0-1EF9), one glyph per character, and the text reads back exactly.
    """

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        font = prepared_font(Path(self.font_file))
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        engine = _ReusedSubsetAccumulator(
            writer,
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
            font=font,
        )
        engine.features = {"ccmp": False}
        return engine
