from __future__ import annotations

from audit.scope import UnitTree
from organisation import parse_schools

SCHOOLS = (
    "district_code,district_name,school_code,school_name,school_level\n"
    "760,Phòng GD&ĐT Quận 1,79760101,Trường A,thpt\n"
    "760,Phòng GD&ĐT Quận 1,79760102,Trường B,thcs\n"
    "769,Phòng GD&ĐT Thủ Đức,79769201,Trường C,thpt\n"
)
TREE = UnitTree(parse_schools(SCHOOLS))


def test_the_department_sees_everything() -> None:
    scope = TREE.scope_of({"unit_code": ["so-gddt"]})
    assert scope.whole_sector and scope.allows(None) and scope.allows("79769201")


def test_a_district_sees_its_office_and_schools_only() -> None:
    scope = TREE.scope_of({"unit_code": ["phong-760"]})
    assert scope.units == frozenset({"phong-760", "79760101", "79760102"})
    assert scope.name == "Phòng GD&ĐT Quận 1"
    assert not scope.allows("79769201") and not scope.allows(None)


def test_a_school_sees_itself() -> None:
    assert TREE.scope_of({"unit_code": "79760102"}).units == frozenset({"79760102"})


def test_no_unknown_or_ambiguous_unit_sees_nothing() -> None:
    cases: list[dict[str, object]] = [
        {},
        {"unit_code": []},
        {"unit_code": ["x-999"]},
        {"unit_code": ["phong-760", "so-gddt"]},
    ]
    for claims in cases:
        scope = TREE.scope_of(claims)
        assert scope.units == frozenset() and not scope.allows("79760101")
