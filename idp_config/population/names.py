"""Comparing Vietnamese names as the population database and school records write them.

Both sides are normalised to Unicode NFC (so "Nguyễn" typed with combining marks equals the precomposed
one), case-folded, with runs of white space made single. A match that holds only once diacritics are
removed ("Nguyen Thi Hoa" against "Nguyễn Thị Hòa") is never linked automatically: it goes to review,
because it also matches "Nguyễn Thị Hoa" and "Nguyễn Thi Hóa", different people.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class NameMatch(StrEnum):
    EXACT = "exact"
    WITHOUT_DIACRITICS = "without-diacritics"  # goes to the review queue
    DIFFERENT = "different"


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _bare(name: str) -> str:
    decomposed = unicodedata.normalize("NFD", _normal(name))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d")


def compare_names(registered: str, recorded: str) -> NameMatch:
    if _normal(registered) == _normal(recorded):
        return NameMatch.EXACT
    if _bare(registered) == _bare(recorded):
        return NameMatch.WITHOUT_DIACRITICS
    return NameMatch.DIFFERENT
