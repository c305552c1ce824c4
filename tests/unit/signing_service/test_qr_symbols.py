"""The fast QR code (:mod:`signing_service.qr_symbols`) is ``qrcode``'s: the same penalty for every
mask of real symbols, the same mask, the same error correction codewords, and so the same symbol, bit
for bit."""

from __future__ import annotations

import random
import string

import pytest
from qrcode import base, constants, util
from qrcode.main import QRCode

from signing_service import qr_symbols


def _symbol(data: str, error_correction: int) -> QRCode:
    symbol = QRCode(error_correction=error_correction)
    symbol.add_data(data)
    symbol.best_fit()
    return symbol


def _addresses(count: int, seed: int) -> list[str]:
    chosen = random.Random(seed)  # noqa: S311 - test data, not secrets
    alphabet = string.ascii_letters + string.digits + "-_"
    # Short ones too (small versions), and long ones (versions 7+ carry version information).
    return [
        chosen.choice(["https://xac-minh.so-gddt.example.vn/v/", ""])
        + "".join(chosen.choice(alphabet) for _ in range(chosen.randrange(1, 300)))
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    "error_correction",
    [constants.ERROR_CORRECT_M, constants.ERROR_CORRECT_H, constants.ERROR_CORRECT_L],
)
def test_every_masks_penalty_is_qrcodes(error_correction: int) -> None:
    versions = set()
    for data in _addresses(40, seed=error_correction):
        symbol = _symbol(data, error_correction)
        versions.add(symbol.version)
        for pattern in range(8):
            symbol.makeImpl(True, pattern)
            rows = [qr_symbols.row_bits(row) for row in symbol.modules]
            assert qr_symbols.penalty(rows, symbol.modules_count) == util.lost_point(symbol.modules)
    assert min(versions) <= 3 and max(versions) >= 7  # small symbols and ones with version blocks


def test_the_mask_and_the_symbol_are_qrcodes() -> None:
    assert qr_symbols.original_best_mask_pattern.__module__ == "qrcode.main"  # the library's own
    for data in _addresses(60, seed=7):
        expected = _symbol(data, constants.ERROR_CORRECT_M)
        expected_mask = qr_symbols.original_best_mask_pattern(expected)
        fast = _symbol(data, constants.ERROR_CORRECT_M)
        assert qr_symbols.best_mask_pattern(fast) == expected_mask, data
        expected.makeImpl(False, expected_mask)
        fast.makeImpl(False, qr_symbols.best_mask_pattern(fast))
        assert fast.modules == expected.modules


def test_random_symbols_score_alike() -> None:
    """Beyond real layouts: random modules, so every rule meets runs, blocks and patterns it rarely
    would in a real symbol."""
    chosen = random.Random(3)  # noqa: S311 - test data, not secrets
    for size in (21, 25, 45, 57):
        for _ in range(20):
            modules = [[chosen.random() < 0.5 for _ in range(size)] for _ in range(size)]
            rows = [qr_symbols.row_bits(row) for row in modules]
            assert qr_symbols.penalty(rows, size) == util.lost_point(modules)


def _made(addresses: list[str]) -> list[list[list[bool]]]:
    """Each address's symbol at every error correction level, with the mask chosen and given."""
    made = []
    for level in (constants.ERROR_CORRECT_M, constants.ERROR_CORRECT_H, constants.ERROR_CORRECT_L):
        for data in addresses:
            for mask in (None, 5):
                symbol = QRCode(error_correction=level, mask_pattern=mask)
                symbol.add_data(data)
                symbol.make()
                made.append(symbol.modules)
    return made


def test_a_symbol_made_is_qrcodes() -> None:
    """The whole of ``make`` (installed for every QR code of the service) against ``qrcode``'s own,
    for every error correction level and a mask given by the caller too."""
    qr_symbols.install()
    addresses = _addresses(40, seed=11)
    made = _made(addresses)
    with qr_symbols.qrcode_alone():
        assert QRCode.make is qr_symbols.original_make
        expected = _made(addresses)
    assert QRCode.make is qr_symbols.make  # installed again after the block
    assert made == expected


def test_the_remainder_is_qrcodes() -> None:
    """Every generator polynomial of the standard (7 to 30 codewords), random dividends of every
    length up to past 150 codewords, leading zeros and zero coefficients among them."""
    chosen = random.Random(5)  # noqa: S311 - test data, not secrets
    for count in range(7, 31):
        divisor = base.Polynomial([1], 0)
        for i in range(count):
            divisor = divisor * base.Polynomial([1, base.gexp(i)], 0)
        for length in (1, count - 1, count, count + 1, 40, 153):
            numbers = [chosen.choice([0, chosen.randrange(256)]) for _ in range(length)]
            numbers[-1] = numbers[-1] or 1  # not the zero polynomial, which qrcode cannot divide
            dividend = base.Polynomial(numbers, count)
            expected = qr_symbols.original_remainder(dividend, divisor)
            assert qr_symbols.remainder(dividend, divisor).num == expected.num, (count, numbers)


def test_bits_are_put_as_qrcode_puts_them() -> None:
    """Runs of 0 to 40 bits (numbers wider than the run too), from every position in a byte."""
    chosen = random.Random(9)  # noqa: S311 - test data, not secrets
    for _ in range(200):
        ours, theirs = util.BitBuffer(), util.BitBuffer()
        for _ in range(chosen.randrange(1, 30)):
            number, length = chosen.getrandbits(48), chosen.randrange(0, 41)
            qr_symbols.put(ours, number, length)
            qr_symbols.original_put(theirs, number, length)
            assert (ours.buffer, ours.length) == (theirs.buffer, theirs.length)
