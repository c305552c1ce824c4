"""Vietnamese citizen ID numbers (số định danh cá nhân / CCCD), checked before anything is linked.

12 digits (Circular 59/2021/TT-BCA, formerly 07/2016): the first three are the code of the province where
the birth was registered, the fourth encodes century and sex (0/1: male/female born 1900-1999, 2/3: 2000-2099,
4/5: 2100-2199, 6/7: 2200-2299, 8/9: 2300-2399), the fifth and sixth are the last two digits of the birth
year, the last six are random. An ID that contradicts the stated birth year or sex is refused with the reason.
A citizen ID is personal data (Law 91/2025/QH15): the reason never repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from gateway_runtime.errors import GatewayError

Sex = Literal["male", "female"]

#: Province codes of birth registration (63 provinces and cities, before the 2025 mergers; IDs
#: issued earlier keep them).
PROVINCE_CODES = frozenset(
    f"{code:03d}"
    for code in (
        1,
        2,
        4,
        6,
        8,
        10,
        11,
        12,
        14,
        15,
        17,
        19,
        20,
        22,
        24,
        25,
        26,
        27,
        30,
        31,
        33,
        34,
        35,
        36,
        37,
        38,
        40,
        42,
        44,
        45,
        46,
        48,
        49,
        51,
        52,
        54,
        56,
        58,
        60,
        62,
        64,
        66,
        67,
        68,
        70,
        72,
        74,
        75,
        77,
        79,
        80,
        82,
        83,
        84,
        86,
        87,
        89,
        91,
        92,
        93,
        94,
        95,
        96,
    )
)


class InvalidCitizenId(GatewayError):
    code: ClassVar[str] = "invalid-citizen-id"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Số định danh cá nhân không hợp lệ."
    message_en: ClassVar[str] = "The citizen ID number is not valid."


@dataclass(frozen=True)
class CitizenId:
    """A citizen ID that passed every structural check. ``repr`` never shows the number."""

    value: str
    province_code: str
    birth_year: int
    sex: Sex

    def __repr__(self) -> str:
        return f"CitizenId(province={self.province_code}, born={self.birth_year}, sex={self.sex})"

    __str__ = __repr__


def parse_citizen_id(
    raw: str, *, birth_year: int | None = None, sex: Sex | None = None
) -> CitizenId:
    """Check ``raw`` (spaces allowed) and its agreement with the stated birth year and sex."""
    digits = "".join(raw.split())
    if not digits.isascii() or not digits.isdigit():
        raise InvalidCitizenId("must contain digits only")
    if len(digits) != 12:
        raise InvalidCitizenId(f"must have 12 digits, has {len(digits)}")
    province = digits[:3]
    if province not in PROVINCE_CODES:
        raise InvalidCitizenId(f"province code {province} does not exist")
    century_sex = int(digits[3])
    year = 1900 + 100 * (century_sex // 2) + int(digits[4:6])
    encoded_sex: Sex = "male" if century_sex % 2 == 0 else "female"
    if birth_year is not None and birth_year != year:
        raise InvalidCitizenId(f"encodes birth year {year}, the record says {birth_year}")
    if sex is not None and sex != encoded_sex:
        raise InvalidCitizenId(f"encodes sex {encoded_sex}, the record says {sex}")
    return CitizenId(value=digits, province_code=province, birth_year=year, sex=encoded_sex)
