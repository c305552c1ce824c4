"""The fast mask choice (:mod:`signing_service.qr_masks`) gives ``qrcode``'s answer: the same penalty
for every mask of real symbols, the same mask, and so the same symbol, bit for bit."""

from __future__ import annotations

import random
import string

import pytest
from qrcode import constants, util
from qrcode.main import QRCode

from signing_service import qr_masks


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
            rows = [qr_masks.row_bits(row) for row in symbol.modules]
            assert qr_masks.penalty(rows, symbol.modules_count) == util.lost_point(symbol.modules)
    assert min(versions) <= 3 and max(versions) >= 7  # small symbols and ones with version blocks


def test_the_mask_and_the_symbol_are_qrcodes() -> None:
    assert qr_masks.original_best_mask_pattern.__module__ == "qrcode.main"  # the library's own
    for data in _addresses(60, seed=7):
        expected = _symbol(data, constants.ERROR_CORRECT_M)
        expected_mask = qr_masks.original_best_mask_pattern(expected)
        fast = _symbol(data, constants.ERROR_CORRECT_M)
        assert qr_masks.best_mask_pattern(fast) == expected_mask, data
        expected.makeImpl(False, expected_mask)
        fast.makeImpl(False, qr_masks.best_mask_pattern(fast))
        assert fast.modules == expected.modules


def test_random_symbols_score_alike() -> None:
    """Beyond real layouts: random modules, so every rule meets runs, blocks and patterns it rarely
    would in a real symbol."""
    chosen = random.Random(3)  # noqa: S311 - test data, not secrets
    for size in (21, 25, 45, 57):
        for _ in range(20):
            modules = [[chosen.random() < 0.5 for _ in range(size)] for _ in range(size)]
            rows = [qr_masks.row_bits(row) for row in modules]
            assert qr_masks.penalty(rows, size) == util.lost_point(modules)
