"""The organisation tree: the department (Sở GD&ĐT), its district offices (Phòng GD&ĐT) and their
schools, as Keycloak groups generated from a schools list.

The list is a CSV file (UTF-8, header ``district_code,district_name,school_code,school_name,school_level``)
as the sector's school management software exports it. Every row is checked; all the problems of a file
are reported together, each with its row number and field, and nothing is applied while any remains.

Groups are named by their codes (stable paths such as ``/so-gddt/phong-760/79760101``), and carry the
Vietnamese name, the code and the level as attributes.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from organisation.errors import SchoolsListInvalid

ROOT_CODE = "so-gddt"
ROOT_NAME = "Sở Giáo dục và Đào tạo"
SCHOOL_LEVELS = frozenset({"mam-non", "tieu-hoc", "thcs", "thpt", "lien-cap", "gdtx"})
COLUMNS = ("district_code", "district_name", "school_code", "school_name", "school_level")
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{1,30}$")
MAX_ROWS = 100_000


class Unit(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: tuple[str, ...]
    name: str
    level: str  # department, district, or a school level

    @property
    def code(self) -> str:
        return self.path[-1]

    @property
    def address(self) -> str:
        return "/" + "/".join(self.path)

    def attributes(self) -> dict[str, list[str]]:
        return {"display_name": [self.name], "unit_code": [self.code], "unit_level": [self.level]}


def parse_schools(text: str, source: str = "schools") -> list[Unit]:
    """The units of a schools list, parents before children; :class:`SchoolsListInvalid` lists every
    bad row (row number, field, reason) if any."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise SchoolsListInvalid(f"{source}: the header must be {','.join(COLUMNS)}")
    problems: list[str] = []
    districts: dict[str, str] = {}
    schools: dict[str, tuple[str, str, str]] = {}
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS:
            problems.append(f"row {number}: more than {MAX_ROWS} rows")
            break
        values = {k: unicodedata.normalize("NFC", (row.get(k) or "").strip()) for k in COLUMNS}
        row_problems = []
        for field in ("district_code", "school_code"):
            if not _CODE.match(values[field]):
                row_problems.append(
                    f"{field}: {values[field][:40]!r} is not a code (letters, digits, -)"
                )
        for field in ("district_name", "school_name"):
            if not values[field] or len(values[field]) > 150:
                row_problems.append(f"{field}: empty or longer than 150 characters")
        if values["school_level"] not in SCHOOL_LEVELS:
            row_problems.append(
                f"school_level: {values['school_level'][:20]!r} is not one of {', '.join(sorted(SCHOOL_LEVELS))}"
            )
        if row_problems:
            problems.extend(f"row {number}: {p}" for p in row_problems)
            continue
        known = districts.setdefault(values["district_code"], values["district_name"])
        if known != values["district_name"]:
            problems.append(
                f"row {number}: district_name: district {values['district_code']} is also named {known!r}"
            )
        if values["school_code"] in schools:
            problems.append(f"row {number}: school_code: {values['school_code']} appears twice")
            continue
        schools[values["school_code"]] = (
            values["district_code"],
            values["school_name"],
            values["school_level"],
        )
    if problems:
        shown = "; ".join(problems[:50])
        more = f" (and {len(problems) - 50} more)" if len(problems) > 50 else ""
        raise SchoolsListInvalid(f"{source}: {shown}{more}")
    units = [Unit(path=(ROOT_CODE,), name=ROOT_NAME, level="department")]
    units += [
        Unit(path=(ROOT_CODE, f"phong-{code}"), name=name, level="district")
        for code, name in sorted(districts.items())
    ]
    units += [
        Unit(path=(ROOT_CODE, f"phong-{district}", code), name=name, level=level)
        for code, (district, name, level) in sorted(schools.items())
    ]
    return units


def load_schools(path: Path) -> list[Unit]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchoolsListInvalid(f"{path}: not UTF-8 text (export the list as UTF-8 CSV)") from exc
    except OSError as exc:
        raise SchoolsListInvalid(f"{path}: cannot read ({type(exc).__name__})") from exc
    return parse_schools(text, str(path))
