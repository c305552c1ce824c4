"""The sector's records files: staff lists and class lists, as school management software exports
them, read into typed records.

A file that cannot be read as a whole (not UTF-8, too large, a wrong header, unreadable CSV) is a
:class:`~idp_config.errors.RecordsFileError` naming the file, the row and the field. A bad row of a
readable file is a :class:`RowProblem` (its number, the field, a code and a message): it is
skipped and the other rows are kept. Problems never repeat a citizen ID.

Staff: ``record_id,citizen_id,full_name,date_of_birth,unit_code,role,status``. Students, one
parent each: ``record_id,citizen_id,full_name,date_of_birth,unit_code,parent_record_id,
parent_citizen_id,parent_full_name,parent_date_of_birth``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from idp_config.errors import RecordsFileError
from idp_config.model import RealmSpec
from idp_config.population.citizen_id import InvalidCitizenId, parse_citizen_id

COLUMNS = ("record_id", "citizen_id", "full_name", "date_of_birth", "unit_code", "role", "status")
STUDENT_COLUMNS = (
    "record_id",
    "citizen_id",
    "full_name",
    "date_of_birth",
    "unit_code",
    "parent_record_id",
    "parent_citizen_id",
    "parent_full_name",
    "parent_date_of_birth",
)
#: The realm roles account issuing gives staff, and students and parents.
MANAGED_ROLES = frozenset(
    {
        "teacher",
        "homeroom-teacher",
        "principal",
        "vice-principal",
        "staff",
        "district-officer",
        "department-officer",
    }
)
STUDENT_ROLES = frozenset({"student", "parent"})

_LONG_NUMBER = re.compile(r"\d{9,}")
#: The largest records file read (a province's staff is ~25,000 rows; students ~700,000).
MAX_RECORDS_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class StaffRecord:
    """One person of the records (a member of staff, a student or a parent), validated."""

    record_id: str
    citizen_id: str
    full_name: str
    date_of_birth: date
    unit_code: str
    role: str
    active: bool

    @property
    def username(self) -> str:
        return self.record_id.lower()


class ProblemCode(StrEnum):
    EXTRA_FIELDS = "extra-fields"
    INVALID_RECORD_ID = "invalid-record-id"
    DUPLICATE_RECORD_ID = "duplicate-record-id"
    INVALID_DATE = "invalid-date"
    INVALID_CITIZEN_ID = "invalid-citizen-id"
    INVALID_NAME = "invalid-name"
    UNKNOWN_UNIT = "unknown-unit"
    UNKNOWN_ROLE = "unknown-role"
    INVALID_STATUS = "invalid-status"


@dataclass(frozen=True)
class RowProblem:
    """Why one row was skipped: its number in the file (the header is row 1), the column at
    fault (``None``: the row as a whole), a stable code and a message for the officer."""

    row: int
    field: str | None
    code: ProblemCode
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}: {self.field}: " if self.field else f"row {self.row}: "
        return where + self.message


def read_records_file(path: Path) -> str:
    """The text of a records file (UTF-8, with or without BOM), or a clear error."""
    try:
        size = path.stat().st_size
        if size > MAX_RECORDS_BYTES:
            raise RecordsFileError(
                f"{path}: {size // (1024 * 1024)} MiB; records files are limited to "
                f"{MAX_RECORDS_BYTES // (1024 * 1024)} MiB"
            )
        data = path.read_bytes()
        # Line ends as ``Path.read_text`` gives them (universal newlines).
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise RecordsFileError(
            f"{path}: not UTF-8 ({_position(exc.object, exc.start)}, byte {exc.start}); "
            "export the file as UTF-8 CSV"
        ) from exc
    except OSError as exc:
        raise RecordsFileError(f"{path}: cannot read ({exc.strerror})") from exc


def _position(data: bytes, offset: int) -> str:
    """``row N, field NAME`` of the byte at ``offset`` (fields counted by commas outside
    quotes; the header, row 1, names them)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    row = data.count(b"\n", 0, offset) + 1
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip().split(",")
    index, quoted = 0, False
    for byte in data[line_start:offset]:
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord(",") and not quoted:
            index += 1
    name = header[index] if index < len(header) else f"column {index + 1}"
    return f"row {row}, field {name}"


def _rows(text: str, columns: tuple[str, ...], source: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """The rows of ``text`` with their numbers, once the header is checked."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise RecordsFileError(f"{source}: row 1: the header must be {','.join(columns)}")
    rows = enumerate(reader, start=2)
    number = 1
    while True:
        try:
            number, row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over the csv module's limit, a NUL byte...
            raise RecordsFileError(f"{source}: row {number + 1}: unreadable CSV ({exc})") from exc
        yield number, row


def _shown(value: str, limit: int) -> str:
    """A field's value as a problem quotes it — unless it holds a run of nine digits or more, which
    may be a citizen ID in the wrong column (swapped columns): problems never repeat one."""
    if _LONG_NUMBER.search(value):
        return "the value (a long number)"
    return repr(value[:limit])


def _check(
    number: int, values: dict[str, str], units: set[str], roles: frozenset[str]
) -> tuple[date, list[RowProblem]]:
    """The date of birth and the problems of one row's values (uniqueness aside).

    A leaver's row (``status=left``) needs only its record id: the account is disabled whatever
    else the row says (a closed school's unit, a citizen ID shortened by a spreadsheet)."""
    problems: list[RowProblem] = []

    def problem(name: str, code: ProblemCode, message: str) -> None:
        problems.append(RowProblem(number, name, code, message))

    if not values["record_id"].isalnum() or not 3 <= len(values["record_id"]) <= 30:
        problem("record_id", ProblemCode.INVALID_RECORD_ID, "letters and digits, 3 to 30")
    born = date.min
    if values["status"] == "left":
        with contextlib.suppress(ValueError):
            born = date.fromisoformat(values["date_of_birth"])
        return born, problems
    try:
        born = date.fromisoformat(values["date_of_birth"])
    except ValueError:
        problem(
            "date_of_birth",
            ProblemCode.INVALID_DATE,
            f"{_shown(values['date_of_birth'], 20)} is not a date (YYYY-MM-DD)",
        )
    try:
        birth_year = born.year if born != date.min else None
        parse_citizen_id(values["citizen_id"], birth_year=birth_year)
    except InvalidCitizenId as exc:
        problem("citizen_id", ProblemCode.INVALID_CITIZEN_ID, str(exc.detail))
    if not values["full_name"] or len(values["full_name"]) > 120:
        problem("full_name", ProblemCode.INVALID_NAME, "empty or too long")
    if values["unit_code"] not in units:
        problem(
            "unit_code",
            ProblemCode.UNKNOWN_UNIT,
            f"{_shown(values['unit_code'], 30)} is not a unit of the realm",
        )
    if values["role"] not in roles:
        problem(
            "role",
            ProblemCode.UNKNOWN_ROLE,
            f"{_shown(values['role'], 30)} is not one of {', '.join(sorted(roles))}",
        )
    if values["status"] not in {"active", "left"}:
        problem("status", ProblemCode.INVALID_STATUS, "active or left")
    return born, problems


def parse_records(
    text: str,
    spec: RealmSpec,
    *,
    roles: frozenset[str] = MANAGED_ROLES,
    unique: bool = True,
    source: str = "records",
) -> tuple[list[StaffRecord], list[RowProblem]]:
    """The valid records, and the problems of the bad rows (each row's in the order of its
    columns). ``unique``: a record id on two rows is a problem (else one record: the same parent
    on several rows). ``source`` names the file in errors."""
    units = {u.code for u in spec.units}
    problems: list[RowProblem] = []
    rows: list[tuple[int, dict[str, str], date, list[RowProblem]]] = []
    for number, row in _rows(text, COLUMNS, source):
        if None in row:
            problems.append(
                RowProblem(
                    number, None, ProblemCode.EXTRA_FIELDS, "more fields than the header has"
                )
            )
            continue
        values = {k: unicodedata.normalize("NFC", (row.get(k) or "").strip()) for k in COLUMNS}
        born, errors = _check(number, values, units, roles)
        rows.append((number, values, born, errors))
    used = _rows_used(rows) if unique else _first_valid_rows(rows)
    records: list[StaffRecord] = []
    for number, values, born, errors in rows:
        problems.extend(errors)
        if number not in used:
            continue
        duplicate = used[number]
        if duplicate is not None:
            problems.append(duplicate)
            continue
        records.append(
            StaffRecord(
                record_id=values["record_id"],
                citizen_id="".join(values["citizen_id"].split()),
                full_name=values["full_name"],
                date_of_birth=born,
                unit_code=values["unit_code"],
                role=values["role"],
                active=values["status"] != "left",
            )
        )
    problems.sort(key=lambda p: p.row)  # stable: a row's own problems stay in column order
    return records, problems


_Row = tuple[int, dict[str, str], date, list[RowProblem]]


def _first_valid_rows(rows: list[_Row]) -> dict[int, RowProblem | None]:
    """One record per record id, from its first valid row (the same parent on several rows)."""
    used: dict[int, RowProblem | None] = {}
    seen: set[str] = set()
    for number, values, _, errors in rows:
        key = values["record_id"].lower()
        if not errors and key not in seen:
            seen.add(key)
            used[number] = None
    return used


def _rows_used(rows: list[_Row]) -> dict[int, RowProblem | None]:
    """Which row each record id's record comes from (``None``), and the duplicate problem of every
    other row of that id (a :class:`RowProblem`).

    A record id on several rows: a merged export lists a mover at the old school (``left``) and at
    the new one (``active``) — the active row is used, the account moves and is not disabled; the
    same row twice gives one record. Active rows that disagree, or an active row that is not valid,
    leave the id out of this run (every row of it named): the account is then neither changed nor
    disabled on a guess."""
    by_id: dict[str, list[_Row]] = {}
    for row in rows:
        number, values, _, errors = row
        if not any(e.field == "record_id" for e in errors):
            by_id.setdefault(values["record_id"].lower(), []).append(row)
    used: dict[int, RowProblem | None] = {}
    for group in by_id.values():
        if len(group) == 1:
            if not group[0][3]:
                used[group[0][0]] = None
            continue
        active = [r for r in group if r[1]["status"] != "left"]
        chosen: _Row | None
        if active:
            versions = {tuple(r[1].values()) for r in active}
            chosen = active[0] if len(versions) == 1 and not any(r[3] for r in active) else None
        else:
            chosen = next((r for r in group if not r[3]), None)
        rows_named = ", ".join(str(r[0]) for r in group)
        for number, values, _, errors in group:
            if chosen is not None and number == chosen[0]:
                used[number] = None
            elif chosen is not None:
                why = (
                    f"appears twice (rows {rows_named}): row {chosen[0]} is used"
                    if values["status"] == "left" or not errors
                    else f"appears twice (rows {rows_named})"
                )
                used[number] = RowProblem(number, "record_id", ProblemCode.DUPLICATE_RECORD_ID, why)
            else:
                used[number] = RowProblem(
                    number,
                    "record_id",
                    ProblemCode.DUPLICATE_RECORD_ID,
                    f"appears twice (rows {rows_named}) with different values: none is used",
                )
    return used


def parse_student_records(
    text: str, spec: RealmSpec, *, source: str = "student records"
) -> tuple[list[tuple[StaffRecord, StaffRecord]], list[RowProblem]]:
    """Pairs of (student, parent) records, and the problems of the bad rows; a parent's problem
    names the parent's column (``parent_citizen_id``)."""
    rows = list(_rows(text, STUDENT_COLUMNS, source))
    parent_unit = spec.units[0].code if spec.units else "so-gddt"
    student_out, parent_out = io.StringIO(), io.StringIO()
    student_csv, parent_csv = csv.writer(student_out), csv.writer(parent_out)
    student_csv.writerow(COLUMNS)
    parent_csv.writerow(COLUMNS)
    malformed: list[RowProblem] = []
    for number, row in rows:
        # Every row, in order, into both files: a row of the students' file keeps its number.
        if None in row:
            malformed.append(
                RowProblem(
                    number, None, ProblemCode.EXTRA_FIELDS, "more fields than the header has"
                )
            )
            student_csv.writerow([""] * len(COLUMNS))
            parent_csv.writerow([""] * len(COLUMNS))
            continue
        student_csv.writerow([*(row[c] for c in COLUMNS[:5]), "student", "active"])
        parent_csv.writerow(
            [*(row[f"parent_{c}"] for c in COLUMNS[:4]), parent_unit, "parent", "active"]
        )
    students, student_problems = parse_records(
        student_out.getvalue(), spec, roles=STUDENT_ROLES, source=source
    )
    parents, parent_problems = parse_records(
        parent_out.getvalue(), spec, roles=STUDENT_ROLES, unique=False, source=source
    )
    by_student = {s.record_id.lower(): s for s in students}
    by_parent = {p.record_id.lower(): p for p in parents}

    def record_id(row: dict[Any, Any], column: str) -> str:
        # As parse_records keys a record (" HS3 " in the file is HS3), or the student vanished.
        return unicodedata.normalize("NFC", (row.get(column) or "").strip()).lower()

    pairs = [
        (by_student[record_id(row, "record_id")], by_parent[record_id(row, "parent_record_id")])
        for _, row in rows
        if None not in row
        and record_id(row, "record_id") in by_student
        and record_id(row, "parent_record_id") in by_parent
    ]
    blank = {p.row for p in malformed}
    problems = [
        *malformed,
        *(p for p in student_problems if p.row not in blank),
        *(
            replace(p, field=f"parent_{p.field}" if p.field else None)
            for p in parent_problems
            if p.row not in blank
        ),
    ]
    return pairs, problems
