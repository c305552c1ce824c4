"""The QR code's mask chosen as ``qrcode`` chooses it, in a fraction of the time.

Every visible stamp carries a QR code of the document's own verification address, so its mask is
chosen per document: ``qrcode`` lays the whole symbol out eight times (once per mask) and scores each
layout by the four penalty rules of ISO/IEC 18004 (§7.8.3) in pure Python, ~10 ms a stamp — most of
what a visible stamp cost on top of an invisible signature.

Here the symbol is laid out once, with mask 0. A mask only flips data modules, so each other layout is
that one with ``mask 0 XOR mask i`` flipped on the data modules: whole rows as integers, the masks and the
data modules' positions prepared once per symbol version. The penalties are counted on those rows (runs
and finder-like patterns by string operations, 2x2 blocks by bit arithmetic). The answer is the one
``qrcode`` gives, tie-breaking included — the symbol is the same bit for bit;
``tests/unit/signing_service/test_qr_masks.py`` holds that against ``qrcode``'s own scoring.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any

from qrcode import util
from qrcode.main import QRCode, copy_2d_array, precomputed_qr_blanks

#: ``qrcode``'s own choice, kept for the tests that hold this module to it.
original_best_mask_pattern = QRCode.best_mask_pattern

_AS_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
#: Five or more modules of one colour in a line (two patterns: each starts with a literal, which the
#: regular expression engine finds far faster than an alternation).
_RUNS = (re.compile("00000+"), re.compile("11111+"))
#: 1:1:3:1:1 with four light modules after or before. Neither overlaps itself, so counting them
#: without overlaps (``str.count``) counts every position, as ``qrcode`` does.
_FINDER_LIKE = ("10111010000", "00001011101")


@cache
def _version_layout(version: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """(data modules per row, each mask's modules per row) as integers, column 0 the highest bit."""
    symbol = QRCode(version=version)
    symbol.modules_count = size = version * 4 + 17
    # The version's blank (function patterns) exists: the symbol being scored was laid out first.
    symbol.modules = copy_2d_array(precomputed_qr_blanks[version])
    symbol.setup_type_info(True, 0)
    if version >= 7:
        symbol.setup_type_number(True)
    data = tuple(row_bits([cell is None for cell in row]) for row in symbol.modules)
    masks = tuple(
        tuple(row_bits([mask(r, c) for c in range(size)]) for r in range(size))
        for mask in (util.mask_func(pattern) for pattern in range(8))
    )
    return data, masks


def row_bits(cells: list[Any]) -> int:
    """A row of modules (truthy: dark) as an integer, its first module the highest bit."""
    return int(bytes(map(bool, cells)).translate(_AS_DIGITS), 2)


def penalty(rows: list[int], size: int) -> int:
    """The four penalty rules over a symbol given as rows of bits (what ``qrcode`` scores)."""
    row_text = [format(row, f"0{size}b") for row in rows]
    # Rows and columns in one text, each line ended by a space: no run or pattern spans two lines.
    text = " ".join(row_text + ["".join(column) for column in zip(*row_text, strict=True)])
    points = sum(len(run) - 2 for runs in _RUNS for run in runs.findall(text))
    every = (1 << size) - 1
    pairs = every >> 1
    for upper, lower in itertools.pairwise(rows):
        same = ~(upper ^ lower) & every
        points += 3 * (same & (same >> 1) & ~(upper ^ (upper >> 1)) & pairs).bit_count()
    points += 40 * sum(text.count(pattern) for pattern in _FINDER_LIKE)
    dark = sum(row.bit_count() for row in rows)
    points += int(abs(dark / size**2 * 100 - 50) / 5) * 10
    return points


def best_mask_pattern(symbol: QRCode) -> int:
    """The mask ``qrcode``'s own ``best_mask_pattern`` picks for ``symbol`` (the lowest penalty, the
    first of equals)."""
    symbol.makeImpl(True, 0)
    size = symbol.modules_count
    data, masks = _version_layout(symbol.version)
    laid_out = [row_bits(row) for row in symbol.modules]
    scores = [
        penalty(
            [
                row ^ ((first ^ other) & where)
                for row, first, other, where in zip(
                    laid_out, masks[0], masks[pattern], data, strict=True
                )
            ],
            size,
        )
        for pattern in range(8)
    ]
    return scores.index(min(scores))


def install() -> None:
    """Use :func:`best_mask_pattern` for every ``qrcode.QRCode`` of this process (idempotent)."""
    setattr(QRCode, "best_mask_pattern", best_mask_pattern)  # noqa: B010 - patching on purpose
