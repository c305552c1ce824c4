"""The schools list: every bad row named with its number and field, all of them at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from organisation import COLUMNS, SchoolsListInvalid, load_schools, parse_schools

HEADER = ",".join(COLUMNS)


def test_a_good_list_gives_parents_before_children() -> None:
    units = parse_schools(
        f"{HEADER}\n760,Phòng GD&ĐT Quận 1,79760101,Trường THPT Bùi Thị Xuân,thpt\n"
        "760,Phòng GD&ĐT Quận 1,79760102,Trường THCS Văn Lang,thcs\n"
    )
    assert [u.address for u in units] == [
        "/so-gddt",
        "/so-gddt/phong-760",
        "/so-gddt/phong-760/79760101",
        "/so-gddt/phong-760/79760102",
    ]
    assert units[2].attributes()["display_name"] == ["Trường THPT Bùi Thị Xuân"]


def test_every_bad_row_is_reported_with_its_number_and_field() -> None:
    text = (
        f"{HEADER}\n"
        "760,Phòng GD&ĐT Quận 1,79760101,Trường A,thpt\n"
        "760,Phòng khác,79760102,Trường B,thpt\n"  # row 3: district renamed
        "760,Phòng GD&ĐT Quận 1,79760101,Trường C,thpt\n"  # row 4: duplicate school
        "7 60,Phòng,79760104,Trường D,thpt\n"  # row 5: bad district code
        "760,Phòng GD&ĐT Quận 1,79760105,,dai-hoc\n"  # row 6: empty name, unknown level
        "760,Phòng GD&ĐT Quận 1,79760106,Trường E,thcs\n"  # fine
    )
    with pytest.raises(SchoolsListInvalid) as error:
        parse_schools(text, "schools.csv")
    detail = str(error.value.detail)
    assert "row 3: district_name" in detail
    assert "row 4: school_code: 79760101 appears twice" in detail
    assert "row 5: district_code" in detail
    assert "row 6: school_name" in detail and "row 6: school_level" in detail
    assert "row 7" not in detail


def test_wrong_header_and_wrong_encoding_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SchoolsListInvalid, match="header"):
        parse_schools("ma,ten\n1,a\n")
    latin = tmp_path / "schools.csv"
    latin.write_bytes(f"{HEADER}\n760,Ph\xf2ng,79760101,Tr\xfd,thpt\n".encode("latin-1"))
    with pytest.raises(SchoolsListInvalid, match="UTF-8"):
        load_schools(latin)
