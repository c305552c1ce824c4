from __future__ import annotations

import unicodedata

import pytest

from idp_config.population import (
    InvalidCitizenId,
    NameMatch,
    compare_names,
    parse_citizen_id,
)


def test_a_valid_id_is_decoded() -> None:
    cid = parse_citizen_id("001 203 004567", birth_year=2003, sex="male")
    assert (cid.province_code, cid.birth_year, cid.sex) == ("001", 2003, "male")
    assert "004567" not in repr(cid) and "004567" not in str(cid)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("00120300456", "has 11"),
        ("0012030045678", "has 13"),
        ("00120300456A", "digits only"),
        ("".join(chr(0xFF10 + int(d)) for d in "001203004567"), "digits only"),  # full-width
        ("003203004567", "province code 003"),
        ("", "digits only"),
    ],
)
def test_malformed_ids_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidCitizenId) as info:
        parse_citizen_id(raw)
    assert reason in str(info.value.detail)


def test_id_contradicting_the_birth_year_is_refused() -> None:
    with pytest.raises(InvalidCitizenId, match="encodes birth year 2003, the record says 1993"):
        parse_citizen_id("001203004567", birth_year=1993)


def test_id_contradicting_the_sex_is_refused() -> None:
    with pytest.raises(InvalidCitizenId, match="encodes sex male"):
        parse_citizen_id("001203004567", sex="female")


@pytest.mark.parametrize(
    ("digit", "year", "sex"),
    [("0", 1985, "male"), ("1", 1985, "female"), ("2", 2085, "male"), ("5", 2185, "female")],
)
def test_century_and_sex_digit(digit: str, year: int, sex: str) -> None:
    cid = parse_citizen_id(f"079{digit}85123456")
    assert (cid.birth_year, cid.sex) == (year, sex)


def test_names_match_across_unicode_forms_and_case() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Hòa")
    assert compare_names("Nguyễn Thị Hòa", decomposed.upper()) is NameMatch.EXACT
    assert compare_names("Nguyễn  Thị Hòa ", "nguyễn thị hòa") is NameMatch.EXACT


def test_a_match_only_without_diacritics_goes_to_review() -> None:
    assert compare_names("Nguyễn Thị Hòa", "Nguyen Thi Hoa") is NameMatch.WITHOUT_DIACRITICS
    assert compare_names("Nguyễn Thị Hòa", "Nguyễn Thị Hoa") is NameMatch.WITHOUT_DIACRITICS
    assert compare_names("Đỗ Văn An", "Do Van An") is NameMatch.WITHOUT_DIACRITICS
    assert compare_names("Nguyễn Thị Hòa", "Trần Thị Hòa") is NameMatch.DIFFERENT
