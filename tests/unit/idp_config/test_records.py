"""Records files from school management software: every bad row named, the rest still processed."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp_config import load_realm
from idp_config.errors import IdpConfigError
from idp_config.model import DEFAULT_REALM_FILE
from idp_config.population.simulator import synthetic_province
from idp_config.records import (
    COLUMNS,
    STUDENT_COLUMNS,
    ProblemCode,
    RowProblem,
    parse_records,
    parse_student_records,
    read_records_file,
)

SPEC = load_realm(DEFAULT_REALM_FILE)
UNIT = SPEC.units[-1].code
PEOPLE = [p for p in synthetic_province(200, seed=5) if 1960 <= p.date_of_birth.year <= 1999][:3]


def _row(record_id: str, index: int, **change: str) -> list[str]:
    p = PEOPLE[index]
    fields = {
        "record_id": record_id,
        "citizen_id": p.citizen_id,
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "unit_code": UNIT,
        "role": "teacher",
        "status": "active",
        **change,
    }
    return [fields[c] for c in COLUMNS]


def _csv(rows: list[list[str]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def test_each_bad_row_is_named_and_the_good_ones_are_kept() -> None:
    good = PEOPLE[0]
    text = _csv(
        [
            _row("GV000001", 0),
            _row("GV000002", 1, citizen_id=PEOPLE[1].citizen_id[:11]),  # 11 digits
            _row("GV000003", 1, citizen_id=PEOPLE[1].citizen_id + "7"),  # 13 digits
            _row("GV000004", 2, date_of_birth="1990-02-30"),  # no such day
            _row("GV000005", 2, unit_code="99999999"),
            _row("GV000006", 2, role="hacker"),
            _row("GV000007", 2, status="maybe"),
            _row("GV00 0008", 2),
            _row("GV000001", 0),  # the same row again
        ]
    )
    records, problems = parse_records(text, SPEC)
    assert [r.record_id for r in records] == ["GV000001"]
    assert records[0].citizen_id == good.citizen_id
    by_row = {p.row: p for p in problems}
    assert by_row[3].field == "citizen_id"
    assert by_row[4].field == "citizen_id"
    assert "is not a date" in by_row[5].message
    assert "is not a unit of the realm" in by_row[6].message
    assert (by_row[7].field, by_row[7].message.split(" ")[0]) == ("role", "'hacker'")
    assert by_row[8].field == "status"
    assert by_row[9].field == "record_id"
    assert by_row[10].message == "appears twice (rows 2, 10): row 2 is used"
    # No problem message repeats a citizen ID.
    messages = [str(problem) for problem in problems]
    assert not any(p.citizen_id[:11] in message for p in PEOPLE for message in messages)


def test_a_citizen_id_contradicting_the_birth_year_is_refused_with_the_reason() -> None:
    other_year = PEOPLE[0].date_of_birth.replace(year=PEOPLE[0].date_of_birth.year - 10)
    _, problems = parse_records(
        _csv([_row("GV000001", 0, date_of_birth=other_year.isoformat())]), SPEC
    )
    assert len(problems) == 1 and "encodes birth year" in problems[0].message


def test_rows_with_extra_fields_and_names_with_commas() -> None:
    quoted = _row("GV000002", 1, full_name="Nguyễn, Văn A")
    text = (
        _csv([_row("GV000001", 0)])
        + "GV000009,1,2,3,4,5,6,7,8\n"
        + _csv([quoted]).split("\n", 1)[1]
    )
    records, problems = parse_records(text, SPEC)
    assert [r.record_id for r in records] == ["GV000001", "GV000002"]
    assert records[1].full_name == "Nguyễn, Văn A"
    assert problems == [
        RowProblem(3, None, ProblemCode.EXTRA_FIELDS, "more fields than the header has")
    ]


def test_a_wrong_header_is_refused() -> None:
    with pytest.raises(IdpConfigError, match="the header must be"):
        parse_records("id,name\n1,2\n", SPEC)


def test_a_field_over_the_csv_limit_is_a_clear_error() -> None:
    text = ",".join(COLUMNS) + '\n"' + "x" * 200_000 + '",1,2,3,4,5,6\n'
    with pytest.raises(IdpConfigError, match="row 2: unreadable CSV"):
        parse_records(text, SPEC)


def test_files_in_another_encoding_or_too_large_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "staff.csv"
    latin.write_bytes(
        (",".join(COLUMNS) + "\nGV1,1,Tr\xe2n,1990-01-01,1,teacher,active\n").encode("cp1258")
    )
    with pytest.raises(IdpConfigError, match="not UTF-8"):
        read_records_file(latin)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeff".encode() + _csv([_row("GV000001", 0)]).encode())
    records, _ = parse_records(read_records_file(bom), SPEC)
    assert len(records) == 1
    from idp_config import records as records_module

    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.truncate(records_module.MAX_RECORDS_BYTES + 1)
    with pytest.raises(IdpConfigError, match="limited to"):
        read_records_file(big)
    with pytest.raises(IdpConfigError, match="cannot read"):
        read_records_file(tmp_path / "missing.csv")


def test_student_rows_keep_their_numbers_around_a_malformed_one() -> None:
    child, parent = PEOPLE[0], PEOPLE[1]

    def line(record: str, parent_record: str, name: str = child.full_name) -> str:
        return ",".join(
            [
                record,
                child.citizen_id,
                f'"{name}"',
                child.date_of_birth.isoformat(),
                UNIT,
                parent_record,
                parent.citizen_id,
                parent.full_name,
                parent.date_of_birth.isoformat(),
            ]
        )

    text = "\n".join(
        [
            ",".join(STUDENT_COLUMNS),
            line("HS000001", "PH000001", name="Lê, Thị B"),
            line("HS000002", "PH000001") + ",extra",
            line("HS0 3", "PH000001"),
        ]
    )
    pairs, problems = parse_student_records(text + "\n", SPEC)
    assert [(s.record_id, p.record_id) for s, p in pairs] == [("HS000001", "PH000001")]
    assert pairs[0][0].full_name == "Lê, Thị B"
    assert str(problems[0]) == "row 3: more fields than the header has"
    assert any((p.row, p.field) == (4, "record_id") for p in problems)


def test_a_file_in_another_encoding_is_a_records_error_naming_the_file_row_and_field(
    tmp_path: Path,
) -> None:
    """Not the realm file's heading: the officer is told which file, row and column to fix."""
    from idp_config.errors import RecordsFileError

    staff = tmp_path / "staff.csv"
    # A good UTF-8 row, then one typed in a Windows code page (Vietnamese letters as one byte).
    staff.write_bytes(
        _csv([_row("GV000001", 0)]).encode("utf-8")
        + "GV000002,1,Tr\xe2n Th\xe1i,1990-01-01,1,teacher,active\n".encode("cp1258")
    )
    with pytest.raises(RecordsFileError) as refused:
        read_records_file(staff)
    message = refused.value.diagnostics()
    assert "Tệp hồ sơ không hợp lệ" in message and "The records file is not valid" in message
    assert "realm" not in message
    assert str(staff) in message and "row 3, field full_name" in message


def test_every_kind_of_bad_row_has_its_code() -> None:
    text = _csv(
        [
            _row("GV000001", 0),
            _row("GV000002", 1, citizen_id=PEOPLE[1].citizen_id[:11]),
            _row("GV000004", 2, date_of_birth="1990-02-30"),
            _row("GV000005", 2, unit_code="99999999"),
            _row("GV000006", 2, role="hacker"),
            _row("GV000007", 2, status="maybe"),
            _row("GV00 0008", 2),
            _row("GV000001", 0),
            _row("GV000009", 2, full_name=""),
        ]
    )
    _, problems = parse_records(text, SPEC)
    assert [(p.row, p.field, p.code) for p in problems] == [
        (3, "citizen_id", ProblemCode.INVALID_CITIZEN_ID),
        (4, "date_of_birth", ProblemCode.INVALID_DATE),
        (5, "unit_code", ProblemCode.UNKNOWN_UNIT),
        (6, "role", ProblemCode.UNKNOWN_ROLE),
        (7, "status", ProblemCode.INVALID_STATUS),
        (8, "record_id", ProblemCode.INVALID_RECORD_ID),
        (9, "record_id", ProblemCode.DUPLICATE_RECORD_ID),
        (10, "full_name", ProblemCode.INVALID_NAME),
    ]
    assert str(problems[2]) == "row 5: unit_code: '99999999' is not a unit of the realm"


def test_a_parents_problem_names_the_parents_column() -> None:
    child, parent = PEOPLE[0], PEOPLE[1]
    row = [
        "HS000001",
        child.citizen_id,
        child.full_name,
        child.date_of_birth.isoformat(),
        UNIT,
        "PH000001",
        parent.citizen_id[:11],  # the parent's citizen ID is one digit short
        parent.full_name,
        parent.date_of_birth.isoformat(),
    ]
    pairs, problems = parse_student_records(",".join(STUDENT_COLUMNS) + "\n" + ",".join(row), SPEC)
    assert pairs == []
    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "parent_citizen_id", ProblemCode.INVALID_CITIZEN_ID)
    ]


def test_a_mover_listed_by_both_schools_moves_and_is_not_disabled() -> None:
    """A merged export lists the mover at the old school (``left``) before the new one: the
    active row is used. (The first row used to win: the mover was disabled.)"""
    old_unit, new_unit = SPEC.units[-2].code, SPEC.units[-1].code
    records, problems = parse_records(
        _csv(
            [
                _row("GV000005", 0, unit_code=old_unit, status="left"),
                _row("GV000005", 0, unit_code=new_unit),
            ]
        ),
        SPEC,
    )
    assert [(r.record_id, r.unit_code, r.active) for r in records] == [("GV000005", new_unit, True)]
    assert [(p.row, p.code, p.message) for p in problems] == [
        (2, ProblemCode.DUPLICATE_RECORD_ID, "appears twice (rows 2, 3): row 3 is used")
    ]


def test_rows_of_one_record_id_that_disagree_leave_it_out() -> None:
    """Two active rows that disagree, or a bad active row beside a leaver's: no record, so the
    account is neither changed nor disabled on a guess; every row is named."""
    records, problems = parse_records(_csv([_row("GV000001", 0), _row("GV000001", 1)]), SPEC)
    assert records == []
    assert [(p.row, p.code) for p in problems] == [
        (2, ProblemCode.DUPLICATE_RECORD_ID),
        (3, ProblemCode.DUPLICATE_RECORD_ID),
    ]
    assert "with different values: none is used" in problems[0].message
    records, problems = parse_records(
        _csv([_row("GV000002", 1, status="left"), _row("GV000002", 1, role="hacker")]), SPEC
    )
    assert records == []
    assert {(p.row, p.field) for p in problems} == {(2, "record_id"), (3, "role"), (3, "record_id")}


def test_a_leaver_is_disabled_whatever_else_the_row_says() -> None:
    """A closed school's unit, a citizen ID a spreadsheet shortened: the leaver's account is still
    disabled (such rows were skipped as bad, and the accounts stayed enabled)."""
    records, problems = parse_records(
        _csv(
            [
                _row("GV000003", 2, unit_code="closedschool", status="left"),
                _row("GV000004", 1, citizen_id=PEOPLE[1].citizen_id[1:], status="left"),
                _row("GV 000005", 1, status="left"),  # but a record id it must have
            ]
        ),
        SPEC,
    )
    assert [(r.record_id, r.active) for r in records] == [
        ("GV000003", False),
        ("GV000004", False),
    ]
    assert [(p.row, p.field) for p in problems] == [(4, "record_id")]


def test_a_citizen_id_in_the_wrong_column_is_not_repeated() -> None:
    """Swapped columns put the citizen ID where a date, a unit or a role belongs: the problem
    names the column, never the number."""
    citizen = PEOPLE[0].citizen_id
    _, problems = parse_records(
        _csv(
            [
                _row("GV000001", 0, date_of_birth=citizen),
                _row("GV000002", 0, unit_code=citizen),
                _row("GV000003", 0, role=citizen),
            ]
        ),
        SPEC,
    )
    assert {p.field for p in problems} >= {"date_of_birth", "unit_code", "role"}
    assert not any(citizen[:9] in str(p) for p in problems), problems


def test_record_ids_with_spaces_around_still_pair_a_student_with_the_parent() -> None:
    """``"HS000003 "`` is the record HS000003: the student was silently left out (no pair, no
    problem)."""
    child, parent = PEOPLE[0], PEOPLE[1]
    row = [
        "HS000003 ",
        child.citizen_id,
        child.full_name,
        child.date_of_birth.isoformat(),
        UNIT,
        " PH000003",
        parent.citizen_id,
        parent.full_name,
        parent.date_of_birth.isoformat(),
    ]
    pairs, problems = parse_student_records(
        ",".join(STUDENT_COLUMNS) + "\n" + ",".join(row) + "\n", SPEC
    )
    assert problems == []
    assert [(s.record_id, p.record_id) for s, p in pairs] == [("HS000003", "PH000003")]
