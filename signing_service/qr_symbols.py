"""A stamp's QR code, the symbol ``qrcode`` makes bit for bit, in a fraction of its time.

Every visible stamp carries a QR code of the document's own verification address, so the symbol is
made per document, and ``qrcode`` makes it in pure Python: it lays the whole symbol out eight times
(once per mask) to score each layout by the four penalty rules of ISO/IEC 18004 (§7.8.3), lays it out a
ninth time with the mask chosen, appends the data to its bit buffer one call per bit, and divides
polynomials for the error correction codewords with a new list and a new object at every step.

Here:

* **The mask.** The symbol is laid out once, with mask 0. A mask only flips data modules, so each other
  layout is that one with ``mask 0 XOR mask i`` flipped on the data modules. A layout is one integer
  (a bit per module, row after row: a *board*); the masks' flips are prepared once per symbol version.
  The penalties are counted on the board, every row and column at once, by shifts, ANDs and bit
  counts. The answer is ``qrcode``'s, tie-breaking included.
* **The symbol.** The chosen layout is kept and given its format (and version) information, instead of
  being laid out again.
* **The data.** Bits are appended to the buffer up to a byte at a time.
* **The error correction.** The remainder of the data by the generator polynomial (Reed-Solomon over
  GF(256), ISO/IEC 18004 §7.5.2) is computed in one list, in place, with ``qrcode``'s own tables.

``tests/unit/signing_service/test_qr_symbols.py`` holds each part to ``qrcode``'s own: the same
penalties, bits, codewords and symbol, bit for bit. Measured in ``docs/benchmarks.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from qrcode import base, util
from qrcode.main import QRCode, copy_2d_array, precomputed_qr_blanks

#: ``qrcode``'s own, kept for the tests that hold this module to them.
original_best_mask_pattern = QRCode.best_mask_pattern
original_make = QRCode.make
original_remainder = base.Polynomial.__mod__
original_put = util.BitBuffer.put

_AS_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
#: 1:1:3:1:1 with four light modules after or before, as read left to right or top to bottom.
_FINDER_LIKE = ("10111010000", "00001011101")
_MODULES = {"0": False, "1": True}


@cache
def _mask_flips(version: int) -> tuple[int, ...]:
    """What each mask flips of a layout made with mask 0 (``mask 0 XOR mask i`` on the data
    modules), as boards (:func:`board`) of the version's size."""
    symbol = QRCode(version=version)
    symbol.modules_count = size = version * 4 + 17
    # The version's blank (function patterns) exists: the symbol being scored was laid out first.
    symbol.modules = copy_2d_array(precomputed_qr_blanks[version])
    symbol.setup_type_info(True, 0)
    if version >= 7:
        symbol.setup_type_number(True)
    data = board([row_bits([cell is None for cell in row]) for row in symbol.modules], size)
    masks = [
        board([row_bits([mask(r, c) for c in range(size)]) for r in range(size)], size)
        for mask in (util.mask_func(pattern) for pattern in range(8))
    ]
    return tuple((masks[0] ^ other) & data for other in masks)


def row_bits(cells: list[Any]) -> int:
    """A row of modules (truthy: dark) as an integer, its first module the highest bit."""
    return int(bytes(map(bool, cells)).translate(_AS_DIGITS), 2)


def board(rows: list[int], size: int) -> int:
    """A symbol as one integer: row ``r`` (:func:`row_bits`) at bits ``r * size`` and up."""
    whole = 0
    for index, row in enumerate(rows):
        whole |= row << (index * size)
    return whole


def rows_of(whole: int, size: int) -> list[list[bool]]:
    """The modules of a symbol given as one integer (:func:`board`), as ``qrcode`` keeps them."""
    text = format(whole, f"0{size * size}b")  # the last row first, each row's first module first
    return [
        list(map(_MODULES.__getitem__, text[start : start + size]))
        for start in range((size - 1) * size, -1, -size)
    ]


@cache
def _starts(size: int) -> tuple[dict[int, int], dict[int, int]]:
    """Where a line of ``k`` modules (2, 5, 11) may start on a board: across (within its row) and
    down (within its column)."""
    across = {k: board([(1 << (size - k + 1)) - 1] * size, size) for k in (2, 5, 11)}
    down = {k: (1 << ((size - k + 1) * size)) - 1 for k in (2, 5, 11)}
    return across, down


def board_penalty(whole: int, size: int) -> int:
    """The four penalty rules over a symbol given as one integer (:func:`board`), every line of it
    at once: bit ``b`` of ``whole >> k`` is the module ``k`` bits after ``b``."""
    across, down = _starts(size)
    alike_across = ~(whole ^ (whole >> 1))  # a module and its neighbour in the row alike
    alike_down = ~(whole ^ (whole >> size))  # a module and the one below it alike
    points = 0
    # Five or more alike in a line: 3, and 1 per module past five. That is a point per five alike
    # (a run of n holds n - 4 of them), and 2 per run.
    for alike, step, starts in ((alike_across, 1, across[5]), (alike_down, size, down[5])):
        fives = alike & (alike >> step) & (alike >> 2 * step) & (alike >> 3 * step) & starts
        runs = fives & ~(fives << step)
        points += fives.bit_count() + 2 * runs.bit_count()
    # Blocks of 2x2 alike: 3 each.
    blocks = alike_across & (alike_across >> size) & alike_down & across[2] & down[2]
    points += 3 * blocks.bit_count()
    # Finder-like patterns, across and down: 40 each. Across, the row's first module is the
    # highest bit, so a pattern read left to right goes down the bits.
    dark, light = whole, ~whole
    for step, starts in ((1, across[11]), (size, down[11])):
        for pattern in _FINDER_LIKE:
            found = starts
            for index, module in enumerate(pattern):
                offset = (10 - index) if step == 1 else index * size
                found &= (dark if module == "1" else light) >> offset
            points += 40 * found.bit_count()
    # The share of dark modules: 10 per 5 % away from half.
    points += int(abs(whole.bit_count() / size**2 * 100 - 50) / 5) * 10
    return points


def penalty(rows: list[int], size: int) -> int:
    """The four penalty rules over a symbol given as rows of bits (what ``qrcode`` scores)."""
    return board_penalty(board(rows, size), size)


def _chosen_layout(symbol: QRCode) -> tuple[int, int]:
    """(the mask ``qrcode`` picks, the symbol with it as a :func:`board`): the lowest penalty, the
    first of equals. The format (and version) modules are light in it, as ``qrcode`` scores them."""
    symbol.makeImpl(True, 0)
    size = symbol.modules_count
    flips = _mask_flips(symbol.version)
    laid_out = board([row_bits(row) for row in symbol.modules], size)
    scores = [board_penalty(laid_out ^ flip, size) for flip in flips]
    best = scores.index(min(scores))
    return best, laid_out ^ flips[best]


def best_mask_pattern(symbol: QRCode) -> int:
    """The mask ``qrcode``'s own ``best_mask_pattern`` picks for ``symbol``."""
    return _chosen_layout(symbol)[0]


def make(symbol: QRCode, fit: bool = True) -> None:
    """``QRCode.make``: the symbol ``qrcode`` makes, from the layout its mask was chosen on."""
    if fit or symbol.version is None:
        symbol.best_fit(start=symbol.version)
    if symbol.mask_pattern is not None:
        symbol.makeImpl(False, symbol.mask_pattern)
        return
    pattern, chosen = _chosen_layout(symbol)
    symbol.modules = rows_of(chosen, symbol.modules_count)
    symbol.setup_type_info(False, pattern)
    if symbol.version >= 7:
        symbol.setup_type_number(False)


def remainder(dividend: base.Polynomial, divisor: base.Polynomial) -> base.Polynomial:
    """``Polynomial.__mod__``: ``dividend`` modulo ``divisor`` over GF(256), by long division in
    one list (``qrcode`` recurses, with a new list and polynomial at each step)."""
    coefficients = list(dividend)
    steps = len(coefficients) - len(divisor) + 1
    if steps <= 0:
        return dividend
    log, exp = base.LOG_TABLE, base.EXP_TABLE
    lead = base.glog(divisor[0])
    # As ``qrcode``, a divisor with a zero coefficient is refused (no generator polynomial has one).
    divisor_logs = [base.glog(c) for c in divisor]
    for step in range(steps):
        coefficient = coefficients[step]
        if coefficient:
            ratio = log[coefficient] - lead
            for offset, power in enumerate(divisor_logs, start=step):
                coefficients[offset] ^= exp[(power + ratio) % 255]
    return base.Polynomial(coefficients[steps:] or [0], 0)


def put(buffer: util.BitBuffer, number: int, length: int) -> None:
    """``BitBuffer.put``: the ``length`` low bits of ``number``, highest first, a byte's worth at a
    time (``qrcode`` appends them one call per bit)."""
    bits = buffer.buffer
    number &= (1 << length) - 1
    while length:
        index, used = divmod(buffer.length, 8)
        if len(bits) <= index:
            bits.append(0)
        taken = min(8 - used, length)
        length -= taken
        bits[index] |= (number >> length & ((1 << taken) - 1)) << (8 - used - taken)
        buffer.length += taken


#: What :func:`install` replaces: (where, what, this module's, ``qrcode``'s own).
_REPLACED: tuple[tuple[Any, str, Any, Any], ...] = (
    (QRCode, "best_mask_pattern", best_mask_pattern, original_best_mask_pattern),
    (QRCode, "make", make, original_make),
    (base.Polynomial, "__mod__", remainder, original_remainder),
    (util.BitBuffer, "put", put, original_put),
)


def install() -> None:
    """Make every ``qrcode.QRCode`` of this process this way (idempotent)."""
    for owner, name, ours, _ in _REPLACED:
        setattr(owner, name, ours)


@contextmanager
def qrcode_alone() -> Iterator[None]:
    """``qrcode``'s own functions for the time of the block (what the tests and the benchmark hold
    this module to), then whatever was there before."""
    before = [getattr(owner, name) for owner, name, _, _ in _REPLACED]
    for owner, name, _, theirs in _REPLACED:
        setattr(owner, name, theirs)
    try:
        yield
    finally:
        for (owner, name, _, _), value in zip(_REPLACED, before, strict=True):
            setattr(owner, name, value)
