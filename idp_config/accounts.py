"""Issuing accounts from the sector's staff records, checked against the population database.

A records file (CSV: ``record_id,citizen_id,full_name,date_of_birth,unit_code,role,status``) lists the
staff of each unit as school management software exports it. Every row is checked (bad rows are named and
skipped, the rest processed). Every active person is verified with the population registry before an
account exists: mismatches, one citizen on two records, and IDs not found go to the review queue with
the reason, never to an account.

The run is a plan against the live realm, then its execution:
- **joiner**: a new record creates the account (user name = the sector's record id, never the citizen
  ID), with its role, its unit's group and its profile attributes;
- **mover**: a new unit moves the group; a new role replaces the managed role;
- **leaver** (``status=left``): the account is disabled (never deleted) and its sessions are ended;
- **returning**: a disabled account with an active record is enabled again.
Because the plan is recomputed from the live realm each time and user names are deterministic, a run
that crashed half-way and is run again ends in the same state, with no duplicate and nothing lost.
"""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError, raise_error_from_response

from idp_config.errors import IdpConfigError
from idp_config.model import RealmSpec
from idp_config.plan import group_tree
from idp_config.population.citizen_id import InvalidCitizenId, parse_citizen_id
from idp_config.population.registry import Decision, PopulationRegistry, decide

if TYPE_CHECKING:
    from audit.trail import TrailSettings

COLUMNS = ("record_id", "citizen_id", "full_name", "date_of_birth", "unit_code", "role", "status")
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


@dataclass(frozen=True)
class StaffRecord:
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


STUDENT_ROLES = frozenset({"student", "parent"})


#: The largest records file read (a province's staff is ~25,000 rows; students ~700,000).
MAX_RECORDS_BYTES = 256 * 1024 * 1024


def read_records_file(path: Path) -> str:
    """The text of a records file (UTF-8, with or without BOM), or a clear error."""
    try:
        size = path.stat().st_size
        if size > MAX_RECORDS_BYTES:
            raise IdpConfigError(
                f"{path}: {size // (1024 * 1024)} MiB; records files are limited to "
                f"{MAX_RECORDS_BYTES // (1024 * 1024)} MiB"
            )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IdpConfigError(
            f"{path}: not UTF-8 (byte {exc.start}); export the file as UTF-8 CSV"
        ) from exc
    except OSError as exc:
        raise IdpConfigError(f"{path}: cannot read ({exc.strerror})") from exc


def parse_records(
    text: str,
    spec: RealmSpec,
    *,
    roles: frozenset[str] = MANAGED_ROLES,
    unique: bool = True,
) -> tuple[list[StaffRecord], list[str]]:
    """The valid records, and one message per bad row (its number, field and reason)."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise IdpConfigError(f"records: the header must be {','.join(COLUMNS)}")
    units = {u.code for u in spec.units}
    records: list[StaffRecord] = []
    problems: list[str] = []
    seen: set[str] = set()
    rows = enumerate(reader, start=2)
    number = 1
    while True:
        try:
            number, row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over the csv module's limit, a NUL byte...
            raise IdpConfigError(f"records: row {number + 1}: unreadable CSV ({exc})") from exc
        if None in row:
            problems.append(f"row {number}: more fields than the header has")
            continue
        values = {k: unicodedata.normalize("NFC", (row.get(k) or "").strip()) for k in COLUMNS}
        errors = []
        if not values["record_id"].isalnum() or not 3 <= len(values["record_id"]) <= 30:
            errors.append("record_id: letters and digits, 3 to 30")
        elif unique and values["record_id"].lower() in seen:
            errors.append("record_id: appears twice")
        try:
            born = date.fromisoformat(values["date_of_birth"])
        except ValueError:
            errors.append(
                f"date_of_birth: {values['date_of_birth'][:20]!r} is not a date (YYYY-MM-DD)"
            )
            born = date.min
        try:
            parse_citizen_id(
                values["citizen_id"], birth_year=born.year if born != date.min else None
            )
        except InvalidCitizenId as exc:
            errors.append(f"citizen_id: {exc.detail}")
        if not values["full_name"] or len(values["full_name"]) > 120:
            errors.append("full_name: empty or too long")
        if values["unit_code"] not in units:
            errors.append(f"unit_code: {values['unit_code'][:30]!r} is not a unit of the realm")
        if values["role"] not in roles:
            errors.append(f"role: {values['role'][:30]!r} is not one of {', '.join(sorted(roles))}")
        if values["status"] not in {"active", "left"}:
            errors.append("status: active or left")
        if errors:
            problems.extend(f"row {number}: {e}" for e in errors)
            continue
        if values["record_id"].lower() in seen:
            continue  # the same parent on several rows: one record
        seen.add(values["record_id"].lower())
        records.append(
            StaffRecord(
                record_id=values["record_id"],
                citizen_id="".join(values["citizen_id"].split()),
                full_name=values["full_name"],
                date_of_birth=born,
                unit_code=values["unit_code"],
                role=values["role"],
                active=values["status"] == "active",
            )
        )
    return records, problems


class Change(StrEnum):
    CREATE = "create"
    MOVE = "move"
    ROLE = "role"
    DISABLE = "disable"
    ENABLE = "enable"


@dataclass(frozen=True)
class AccountAction:
    change: Change
    record: StaffRecord
    detail: str = ""


@dataclass
class IssuePlan:
    actions: list[AccountAction] = field(default_factory=list)
    review: list[tuple[str, str]] = field(default_factory=list)  # (record_id, reason)

    def summary(self) -> Counter[str]:
        counts = Counter(a.change.value for a in self.actions)
        counts["review"] = len(self.review)
        return counts


#: Users per page when reading the realm, and per partial import when creating accounts. At
#: python-keycloak's default page (100) a province's 25,000 accounts took 250 requests to read.
PAGE_SIZE = 2000
IMPORT_BATCH = 500


def _pages(admin: KeycloakAdmin, url: str, **query: Any) -> Iterator[dict[str, Any]]:
    first = 0
    while True:
        page = raise_error_from_response(
            admin.connection.raw_get(url, first=first, max=PAGE_SIZE, **query), KeycloakGetError
        )
        if not isinstance(page, list):
            raise IdpConfigError(f"{url}: unexpected answer from Keycloak")
        yield from page
        if len(page) < PAGE_SIZE:
            return
        first += PAGE_SIZE


def _live_users(admin: KeycloakAdmin) -> dict[str, dict[str, Any]]:
    # Brief: Keycloak then reads no attributes, which cost one query per user on a cold cache
    # (25,000 accounts: 89 s with attributes; the units come from group membership instead).
    url = f"admin/realms/{admin.connection.realm_name}/users"
    return {u["username"]: u for u in _pages(admin, url, briefRepresentation=True)}


def _units_held(admin: KeycloakAdmin, spec: RealmSpec) -> dict[str, set[str]]:
    """The units (groups of the organisation tree) each user is a member of, by user id."""
    tree = group_tree(admin)
    held: dict[str, set[str]] = {}
    for unit in spec.units:
        group = tree.get(unit.address)
        if group is None:
            continue
        url = f"admin/realms/{admin.connection.realm_name}/groups/{group['id']}/members"
        for user in _pages(admin, url, briefRepresentation=True):
            held.setdefault(user["id"], set()).add(unit.code)
    return held


def _managed_roles(admin: KeycloakAdmin) -> dict[str, set[str]]:
    """The managed realm roles each user holds directly, by user id: one paged read per role,
    not one request per user."""
    held: dict[str, set[str]] = {}
    for role in sorted(MANAGED_ROLES | STUDENT_ROLES):
        url = f"admin/realms/{admin.connection.realm_name}/roles/{role}/users"
        for user in _pages(admin, url, briefRepresentation=True):
            held.setdefault(user["id"], set()).add(role)
    return held


async def plan_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    records: list[StaffRecord],
    registry: PopulationRegistry,
) -> IssuePlan:
    admin.change_current_realm(spec.realm)
    live = _live_users(admin)
    roles_held = _managed_roles(admin)
    units_held = _units_held(admin, spec)
    plan = IssuePlan()
    citizens = Counter(r.citizen_id for r in records if r.active)
    for record in records:
        user = live.get(record.username)
        if not record.active:
            if user is not None and user.get("enabled", True):
                plan.actions.append(AccountAction(Change.DISABLE, record, "left"))
            continue
        if citizens[record.citizen_id] > 1:
            plan.review.append((record.record_id, "one citizen on two records"))
            continue
        if user is None:
            verdict = await decide(
                registry, record.citizen_id, record.full_name, record.date_of_birth
            )
            if verdict.decision is Decision.LINK:
                plan.actions.append(AccountAction(Change.CREATE, record))
            else:
                plan.review.append((record.record_id, verdict.reason))
            continue
        if not user.get("enabled", True):
            plan.actions.append(AccountAction(Change.ENABLE, record, "returning"))
        if units_held.get(user["id"], set()) != {record.unit_code}:
            plan.actions.append(AccountAction(Change.MOVE, record, f"-> {record.unit_code}"))
        if roles_held.get(user["id"], set()) != {record.role}:
            plan.actions.append(AccountAction(Change.ROLE, record, f"-> {record.role}"))
    return plan


def _user_body(record: StaffRecord, **attributes: list[str]) -> dict[str, Any]:
    """The account of a verified person: given name last in Vietnamese order, as Keycloak splits it."""
    family, _, given = record.full_name.rpartition(" ")
    return {
        "username": record.username,
        "firstName": given or record.full_name,
        "lastName": family or "-",
        "enabled": True,
        "attributes": {
            "citizen_id": [record.citizen_id],
            "date_of_birth": [record.date_of_birth.isoformat()],
            **attributes,
        },
    }


def _create_user(admin: KeycloakAdmin, record: StaffRecord, **attributes: list[str]) -> str:
    return str(admin.create_user(_user_body(record, **attributes), exist_ok=True))


def _import_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    actions: list[AccountAction],
    groups: dict[str, str],
    on_change: Callable[[AccountAction], None],
    batch_size: int,
) -> None:
    """Create accounts through Keycloak's partial import, ``IMPORT_BATCH`` at a time, each with its
    profile attributes, unit group and role in the same request (five admin calls per account
    otherwise). Partial import skips Keycloak's user-profile validation: every field was validated
    by :func:`parse_records` first. An account that already exists (a re-run after a crash) is
    skipped, so a run can be repeated; ``on_change`` is called for each account actually added."""
    for start in range(0, len(actions), batch_size):
        batch = actions[start : start + batch_size]
        users = [
            {
                **_user_body(
                    a.record,
                    unit_code=[a.record.unit_code],
                    personal_identifier=[a.record.record_id],
                ),
                "groups": [groups[a.record.unit_code]],
                "realmRoles": [a.record.role],
            }
            for a in batch
        ]
        result = admin.partial_import_realm(
            spec.realm, {"ifResourceExists": "SKIP", "users": users}
        )
        added = {
            r.get("resourceName")
            for r in result.get("results", [])
            if r.get("action") == "ADDED" and r.get("resourceType") == "USER"
        }
        for action in batch:
            if action.record.username in added:
                on_change(action)


def execute(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    plan: IssuePlan,
    *,
    on_change: Callable[[AccountAction], None] = lambda action: None,
    batch_size: int = IMPORT_BATCH,
) -> None:
    """Carry out ``plan``; ``on_change`` is called after each change (audit, progress). New
    accounts are created ``batch_size`` at a time (partial import); the other changes one by one."""
    admin.change_current_realm(spec.realm)
    groups = {u.code: u.address for u in spec.units}

    def group_id(code: str) -> str:
        return str(admin.get_group_by_path(groups[code])["id"])

    creations = [a for a in plan.actions if a.change is Change.CREATE]
    _import_accounts(admin, spec, creations, groups, on_change, batch_size)
    for action in plan.actions:
        record = action.record
        if action.change is Change.CREATE:
            continue
        else:
            user_id = str(admin.get_user_id(record.username))
            user = admin.get_user(user_id)
            if action.change is Change.DISABLE:
                admin.update_user(user_id, {**user, "enabled": False})
                admin.user_logout(user_id)
            elif action.change is Change.ENABLE:
                admin.update_user(user_id, {**user, "enabled": True})
            elif action.change is Change.MOVE:
                for group in admin.get_user_groups(user_id):
                    admin.group_user_remove(user_id, group["id"])
                admin.group_user_add(user_id, group_id(record.unit_code))
                attributes = {**(user.get("attributes") or {}), "unit_code": [record.unit_code]}
                admin.update_user(user_id, {**user, "attributes": attributes})
            elif action.change is Change.ROLE:
                held = [
                    r for r in admin.get_realm_roles_of_user(user_id) if r["name"] in MANAGED_ROLES
                ]
                if held:
                    admin.delete_realm_roles_of_user(user_id, held)
                admin.assign_realm_roles(user_id, [admin.get_realm_role(record.role)])
        on_change(action)


class AccountAuditTrail:
    """Records each account change as an ``idp:account:issue`` audit event (without the citizen
    ID), sealed with the ``accounts`` producer key, through one Redis connection kept for the run;
    a change that cannot be recorded raises, which stops the run (fail closed)."""

    def __init__(self, settings: TrailSettings) -> None:
        from audit.producers import Producer

        self._loop = asyncio.new_event_loop()
        self._client = settings.client()
        self._trail = settings.trail(self._client, Producer.ACCOUNTS)

    def check(self) -> None:
        """Reach Redis as the configured user now (before any change), or raise AuditUnavailable."""
        from redis.exceptions import RedisError

        from audit.errors import AuditUnavailable

        try:
            self._loop.run_until_complete(self._client.ping())
        except (RedisError, OSError) as exc:
            raise AuditUnavailable(
                f"the audit trail cannot be reached ({type(exc).__name__})"
            ) from exc

    def record(self, action: AccountAction) -> None:
        from audit.events import Actor, AuditEvent, EventTag, Outcome

        event = AuditEvent.build(
            tag=EventTag.IDP_ACCOUNT_ISSUE,
            service="idp-config",
            actor=Actor(name="account-issuing"),
            outcome=Outcome.SUCCESS,
            target={
                "username": action.record.username,
                "change": action.change.value,
                "unit_code": action.record.unit_code,
                "role": action.record.role,
            },
            unit=action.record.unit_code,
        )
        self._loop.run_until_complete(self._trail.record(event))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


# -- students and their parents ------------------------------------------------------------------
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


@dataclass(frozen=True)
class ParentLink:
    parent: StaffRecord
    children: tuple[str, ...]  # the children's user names


@dataclass
class FamilyPlan:
    students: IssuePlan
    parents: list[ParentLink] = field(default_factory=list)
    review: list[tuple[str, str]] = field(default_factory=list)


def parse_student_records(
    text: str, spec: RealmSpec
) -> tuple[list[tuple[StaffRecord, StaffRecord]], list[str]]:
    """Pairs of (student, parent) records; bad rows named with their number and field."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != STUDENT_COLUMNS:
        raise IdpConfigError(f"student records: the header must be {','.join(STUDENT_COLUMNS)}")
    rows: list[dict[Any, Any]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise IdpConfigError(
            f"student records: row {len(rows) + 2}: unreadable CSV ({exc})"
        ) from exc
    parent_unit = spec.units[0].code if spec.units else "so-gddt"
    student_out, parent_out = io.StringIO(), io.StringIO()
    student_csv, parent_csv = csv.writer(student_out), csv.writer(parent_out)
    student_csv.writerow(COLUMNS)
    parent_csv.writerow(COLUMNS)
    malformed: list[str] = []
    for number, row in enumerate(rows, start=2):
        if None in row:
            # Kept as an empty row, so that the rows after it keep their numbers.
            malformed.append(f"row {number}: more fields than the header has")
            student_csv.writerow([""] * len(COLUMNS))
            parent_csv.writerow([""] * len(COLUMNS))
            continue
        student_csv.writerow(
            [
                row["record_id"],
                row["citizen_id"],
                row["full_name"],
                row["date_of_birth"],
                row["unit_code"],
                "student",
                "active",
            ]
        )
        parent_csv.writerow(
            [
                row["parent_record_id"],
                row["parent_citizen_id"],
                row["parent_full_name"],
                row["parent_date_of_birth"],
                parent_unit,
                "parent",
                "active",
            ]
        )
    students, student_problems = parse_records(student_out.getvalue(), spec, roles=STUDENT_ROLES)
    parents, parent_problems = parse_records(
        parent_out.getvalue(), spec, roles=STUDENT_ROLES, unique=False
    )
    by_student = {s.record_id: s for s in students}
    by_parent = {p.record_id: p for p in parents}
    pairs = [
        (by_student[row["record_id"]], by_parent[row["parent_record_id"]])
        for row in rows
        if row["record_id"] in by_student and row["parent_record_id"] in by_parent
    ]
    blank = {m.split(":", 1)[0] for m in malformed}
    problems = (
        malformed
        + [p for p in student_problems if p.split(":", 1)[0] not in blank]
        + [
            p.replace(":", ": parent", 1)
            for p in parent_problems
            if p.split(":", 1)[0] not in blank
        ]
    )
    return pairs, problems


async def plan_family_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    pairs: list[tuple[StaffRecord, StaffRecord]],
    registry: PopulationRegistry,
) -> FamilyPlan:
    """Students get accounts as staff do; a parent is linked to a child only when the population
    database puts both in the same household; otherwise the link goes to review."""
    students = await plan_accounts(admin, spec, [s for s, _ in pairs], registry)
    plan = FamilyPlan(students)
    reviewed = {record_id for record_id, _ in students.review}
    children: dict[str, list[str]] = {}
    parents: dict[str, StaffRecord] = {}
    for student, parent in pairs:
        if student.record_id in reviewed:
            continue
        child = await decide(registry, student.citizen_id, student.full_name, student.date_of_birth)
        adult = await decide(registry, parent.citizen_id, parent.full_name, parent.date_of_birth)
        if adult.decision is not Decision.LINK:
            plan.review.append((parent.record_id, adult.reason))
        elif not child.household_id or child.household_id != adult.household_id:
            plan.review.append(
                (
                    parent.record_id,
                    f"relationship to {student.record_id} not confirmed by household data",
                )
            )
        else:
            parents[parent.record_id] = parent
            children.setdefault(parent.record_id, []).append(student.username)
    plan.parents = [ParentLink(parents[k], tuple(sorted(v))) for k, v in sorted(children.items())]
    return plan


def execute_family(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    plan: FamilyPlan,
    *,
    on_change: Callable[[AccountAction], None] = lambda action: None,
) -> None:
    execute(admin, spec, plan.students, on_change=on_change)
    for link in plan.parents:
        record = link.parent
        user_id = admin.get_user_id(record.username)
        if user_id is None:
            user_id = _create_user(admin, record, children=list(link.children))
            admin.assign_realm_roles(user_id, [admin.get_realm_role("parent")])
            on_change(AccountAction(Change.CREATE, record, "parent"))
            continue
        user = admin.get_user(user_id)
        attributes = user.get("attributes") or {}
        if sorted(attributes.get("children", [])) != list(link.children):
            admin.update_user(
                user_id, {**user, "attributes": {**attributes, "children": list(link.children)}}
            )
            on_change(AccountAction(Change.ROLE, record, "children"))
