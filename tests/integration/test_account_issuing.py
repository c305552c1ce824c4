"""Issuing accounts from staff records checked against the population database, on the real Keycloak.

A small province: the population is a bulk extract of the simulator's citizens; the records list has
good rows, a name typed without diacritics, one citizen on two records, a malformed row, and then a
transfer, a leaver and a returning teacher. A crash half-way through a run, then a re-run, ends in the
same state as an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import csv
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import Stack, StackInfo
from idp_config import admin_client
from idp_config.accounts import (
    COLUMNS,
    Change,
    RowProblem,
    execute,
    parse_records,
    plan_accounts,
)
from idp_config.population.registry import BulkExtract, Reason
from idp_config.population.simulator import synthetic_province

pytestmark = [pytest.mark.keycloak]

PEOPLE = [p for p in synthetic_province(400, seed=11) if 1960 <= p.date_of_birth.year <= 2000][:8]


def _bare(name: str) -> str:
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("Đ", "D")


def _row(
    record_id: str,
    index: int,
    unit: str,
    role: str,
    status: str = "active",
    name: str | None = None,
) -> str:
    p = PEOPLE[index]
    return f"{record_id},{p.citizen_id},{name or p.full_name},{p.date_of_birth.isoformat()},{unit},{role},{status}"


ISSUED = [
    "gv100001",
    "gv100002",
    "gv100003",
    "ht100004",
    "gv100005",
    "nv200006",
    "nv200007",
    "nv300009",
]


@pytest.fixture(scope="module", autouse=True)
def remove_issued_accounts(stack: Stack, stack_info: StackInfo) -> Iterator[None]:
    """The accounts these tests issue are removed afterwards: other tests read the same realm."""
    yield
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    for username in ISSUED:
        user_id = admin.get_user_id(username)
        if user_id:
            admin.delete_user(user_id)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> BulkExtract:
    path = tmp_path_factory.mktemp("population") / "extract.csv"
    path.write_text(
        "citizen_id,full_name,date_of_birth,household_id\n"
        + "".join(
            f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}\n"
            for p in PEOPLE
        ),
        encoding="utf-8",
    )
    return BulkExtract.load(path)


def _run(
    stack: Stack,
    stack_info: StackInfo,
    registry: BulkExtract,
    text: str,
    *,
    crash_after: int | None = None,
) -> tuple[dict[str, int], list[tuple[str, Reason]], list[RowProblem]]:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    records, problems = parse_records(text, stack.realm_spec)
    plan = asyncio.run(plan_accounts(admin, stack.realm_spec, records, registry))
    done = 0

    def count(_: object) -> None:
        nonlocal done
        done += 1
        if crash_after is not None and done == crash_after:
            raise RuntimeError("crash injected")

    # Accounts are imported two at a time here, so that the crash falls between two imports.
    execute(admin, stack.realm_spec, plan, on_change=count, batch_size=2)
    return dict(plan.summary()), plan.review, problems


def test_issue_move_leave_return_and_survive_a_crash(
    stack: Stack, stack_info: StackInfo, registry: BulkExtract
) -> None:
    header = ",".join(COLUMNS)
    first = (
        "\n".join(
            [
                header,
                _row("GV100001", 0, "79760101", "teacher"),
                _row("GV100002", 1, "79760101", "homeroom-teacher"),
                _row("GV100003", 2, "79760102", "teacher"),
                _row("HT100004", 3, "79760102", "principal"),
                _row("GV100005", 4, "79769201", "teacher", name=_bare(PEOPLE[4].full_name)),
                _row("GV100006", 5, "79769201", "teacher"),
                _row("GV100007", 5, "79769202", "teacher"),  # the same citizen again
                "GV100008,07920300123,Lê Văn Lỗi,2003-01-01,79760101,teacher,active",  # 11 digits
            ]
        )
        + "\n"
    )
    # A crash after two accounts, then the same run again: everything ends up issued exactly once.
    with pytest.raises(RuntimeError, match="crash injected"):
        _run(stack, stack_info, registry, first, crash_after=2)
    summary, review, problems = _run(stack, stack_info, registry, first)
    assert summary.get("create") == 2  # the two the crash left undone
    reasons = {record_id: reason.en for record_id, reason in review}
    if _bare(PEOPLE[4].full_name) != PEOPLE[4].full_name:
        assert reasons["GV100005"] == "name matches only without diacritics"
    assert reasons["GV100006"] == reasons["GV100007"] == "one citizen on two records"
    assert (
        str(dict(review)["GV100006"]) == "một công dân trên hai hồ sơ / one citizen on two records"
    )
    assert len(problems) == 1 and (problems[0].row, problems[0].field) == (9, "citizen_id")

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    user_id = str(admin.get_user_id("gv100002"))
    groups = [g["path"] for g in admin.get_user_groups(user_id)]
    assert groups == ["/so-gddt/phong-760/79760101"]
    roles = {r["name"] for r in admin.get_realm_roles_of_user(user_id)}
    assert "homeroom-teacher" in roles
    assert admin.get_user_id("gv100006") is None and admin.get_user_id("gv100007") is None

    # Nothing changed: a second run changes nothing.
    again, _, _ = _run(stack, stack_info, registry, first)
    assert {k: v for k, v in again.items() if k != "review"} == {}

    # A transfer, a promotion, a leaver; then the leaver returns.
    changed = first.replace(
        _row("GV100001", 0, "79760101", "teacher"), _row("GV100001", 0, "79769202", "teacher")
    )
    changed = changed.replace(
        _row("GV100003", 2, "79760102", "teacher"),
        _row("GV100003", 2, "79760102", "vice-principal"),
    )
    changed = changed.replace(
        _row("HT100004", 3, "79760102", "principal"),
        _row("HT100004", 3, "79760102", "principal", "left"),
    )
    summary, _, _ = _run(stack, stack_info, registry, changed)
    assert (
        summary.get(Change.MOVE.value),
        summary.get(Change.ROLE.value),
        summary.get(Change.DISABLE.value),
    ) == (1, 1, 1)
    mover = str(admin.get_user_id("gv100001"))
    assert [g["path"] for g in admin.get_user_groups(mover)] == ["/so-gddt/phong-769/79769202"]
    assert admin.get_user(mover)["attributes"]["unit_code"] == ["79769202"]
    leaver = str(admin.get_user_id("ht100004"))
    assert admin.get_user(leaver)["enabled"] is False  # disabled, never deleted
    back, _, _ = _run(
        stack,
        stack_info,
        registry,
        first.replace(
            _row("GV100001", 0, "79760101", "teacher"), _row("GV100001", 0, "79769202", "teacher")
        ).replace(
            _row("GV100003", 2, "79760102", "teacher"),
            _row("GV100003", 2, "79760102", "vice-principal"),
        ),
    )
    assert back.get(Change.ENABLE.value) == 1
    assert admin.get_user(leaver)["enabled"] is True


def test_a_records_file_with_a_wrong_header_is_refused(stack: Stack) -> None:
    from idp_config import IdpConfigError

    with pytest.raises(IdpConfigError, match="header"):
        parse_records("id,name\n1,a\n", stack.realm_spec)
    _, problems = parse_records(
        ",".join(COLUMNS) + "\nGV1,079203001234,Tên,2003-02-30,79760101,teacher,active\n",
        stack.realm_spec,
    )
    assert any(p.field == "date_of_birth" for p in problems)


def test_issue_accounts_command_dry_run_then_real_run_is_audited(
    stack: Stack, stack_info: StackInfo, tmp_path: Path, client_token: Any
) -> None:
    import subprocess
    import sys
    import time

    import httpx

    extract = tmp_path / "extract.csv"
    extract.write_text(
        "citizen_id,full_name,date_of_birth,household_id\n"
        + "".join(
            f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}\n"
            for p in PEOPLE
        ),
        encoding="utf-8",
    )
    records = tmp_path / "records.csv"
    records.write_text(
        "\n".join(
            [
                ",".join(COLUMNS),
                _row("NV200006", 6, "79783301", "staff"),
                _row("NV200007", 7, "79783302", "staff", name="Ai Đó Khác"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "idp_config.cli",
        "issue-accounts",
        str(records),
        "--population",
        str(extract),
        "--stack",
        str(stack.folder),
        "--review-out",
        str(tmp_path / "review.csv"),
    ]
    dry = subprocess.run(
        [*command, "--dry-run"], capture_output=True, text=True, timeout=120, check=False
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "(dry run) created 1" in dry.stdout and "to review 1" in dry.stdout
    # Vietnamese first, then English, as a spreadsheet reads it.
    assert list(csv.reader((tmp_path / "review.csv").read_text().splitlines())) == [
        ["record_id", "reason", "reason_en"],
        [
            "NV200007",
            "họ tên khác Cơ sở dữ liệu quốc gia về dân cư",
            "name differs from the population database",
        ],
    ]
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    assert admin.get_user_id("nv200006") is None  # a dry run changes nothing
    real = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert real.returncode == 0 and "created 1" in real.stdout, real.stdout + real.stderr
    assert admin.get_user_id("nv200006") is not None
    reader = client_token("audit-reports")
    deadline = time.monotonic() + 30
    while True:
        events = httpx.get(
            f"{stack_info.audit_url}/v1/events",
            params={"tag": "idp:account:issue", "limit": "100"},
            headers={"Authorization": f"Bearer {reader}"},
            timeout=10,
        ).json()["events"]
        if any(e["target"]["username"] == "nv200006" for e in events):
            break
        assert time.monotonic() < deadline, "the account change never reached the audit log"
        time.sleep(0.3)
    assert all(PEOPLE[6].citizen_id not in str(e) for e in events)  # no citizen ID in the log
    # The same events in OCSF field names, for a SIEM: Account Change, Create, the user named.
    ocsf = httpx.get(
        f"{stack_info.audit_url}/v1/events",
        params={"tag": "idp:account:issue", "limit": "100", "format": "ocsf"},
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    ).json()["events"]
    created = next(e for e in ocsf if e.get("user", {}).get("name") == "nv200006")
    assert (created["class_uid"], created["activity_id"], created["type_uid"]) == (3001, 1, 300101)
    assert created["metadata"]["log_name"] == "idp:account:issue"


def test_issue_accounts_without_a_stack_changes_nothing_unless_its_changes_are_audited(
    stack: Stack, stack_info: StackInfo, tmp_path: Path, client_token: Any
) -> None:
    """Production runs the command against Keycloak from the environment, without a stack: with
    no audit trail configured (or one that cannot be reached) it refuses to change anything, a
    dry run still works, and with the trail (the ``accounts`` Redis user and producer key) every
    change is an audit event."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from audit.producers import Producer

    person = [p for p in synthetic_province(400, seed=11) if 1960 <= p.date_of_birth.year <= 2000][
        9
    ]
    extract = tmp_path / "extract.csv"
    extract.write_text(
        "citizen_id,full_name,date_of_birth,household_id\n"
        f"{person.citizen_id},{person.full_name},{person.date_of_birth.isoformat()},x\n",
        encoding="utf-8",
    )
    records = tmp_path / "records.csv"
    records.write_text(
        ",".join(COLUMNS) + f"\nNV300009,{person.citizen_id},{person.full_name},"
        f"{person.date_of_birth.isoformat()},79783301,staff,active\n",
        encoding="utf-8",
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("IDP_AUDIT_")}
    keycloak = {
        "KEYCLOAK_URL": stack_info.keycloak_url,
        "KEYCLOAK_ADMIN_USER": "admin",
        "KEYCLOAK_ADMIN_PASSWORD": stack.secrets.get("keycloak:admin"),
    }
    trail = {
        "IDP_AUDIT_REDIS_URL": stack_info.redis_url,
        "IDP_AUDIT_REDIS_USERNAME": "accounts",
        "IDP_AUDIT_REDIS_PASSWORD": stack.redis_password("accounts"),
        "IDP_AUDIT_MAC_KEY": stack.producer_key(Producer.ACCOUNTS),
    }
    command = [sys.executable, "-m", "idp_config.cli", "issue-accounts", str(records)]
    command += ["--population", str(extract)]

    def run(*extra: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**base, **keycloak, **env},
        )

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    untrailed = run(env={})
    assert untrailed.returncode == 1, untrailed.stdout + untrailed.stderr
    assert "IDP_AUDIT_REDIS_URL" in untrailed.stdout and "IDP_AUDIT_MAC_KEY" in untrailed.stdout
    assert admin.get_user_id("nv300009") is None  # nothing changed
    unreachable = run(env={**trail, "IDP_AUDIT_REDIS_PASSWORD": "not-the-password"})
    assert unreachable.returncode == 1, unreachable.stdout + unreachable.stderr
    assert "not-the-password" not in unreachable.stdout + unreachable.stderr
    assert admin.get_user_id("nv300009") is None
    dry = run("--dry-run", env={})
    assert dry.returncode == 0 and "(dry run) created 1" in dry.stdout, dry.stdout + dry.stderr
    real = run(env=trail)
    assert real.returncode == 0 and "created 1" in real.stdout, real.stdout + real.stderr
    assert admin.get_user_id("nv300009") is not None
    reader = client_token("audit-reports")
    deadline = time.monotonic() + 30
    while True:
        events = httpx.get(
            f"{stack_info.audit_url}/v1/events",
            params={"tag": "idp:account:issue", "limit": "100"},
            headers={"Authorization": f"Bearer {reader}"},
            timeout=10,
        ).json()["events"]
        issued = [e for e in events if e["target"]["username"] == "nv300009"]
        if issued:
            break
        assert time.monotonic() < deadline, "the account change never reached the audit log"
        time.sleep(0.3)
    assert issued[0]["target"]["change"] == "create" and issued[0]["unit"] == "79783301"


FAMILY = list(synthetic_province(60, seed=23))


def _family_extract(folder: Path) -> Path:
    """The population extract of FAMILY (households included), as the bulk adapter reads it."""
    extract = folder / "extract.csv"
    extract.write_text(
        "citizen_id,full_name,date_of_birth,household_id\n"
        + "".join(
            f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}\n"
            for p in FAMILY
        ),
        encoding="utf-8",
    )
    return extract


def test_parents_are_linked_only_to_children_of_their_household(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    from idp_config.accounts import (
        STUDENT_COLUMNS,
        execute_family,
        parse_student_records,
        plan_family_accounts,
    )

    by_household: dict[str, list[Any]] = {}
    for person in FAMILY:
        by_household.setdefault(str(person.household_id), []).append(person)
    homes = [members for members in by_household.values() if len(members) >= 2][:2]
    (parent_a, child_a), (_, child_b) = homes[0][:2], homes[1][:2]
    extract = _family_extract(tmp_path)
    registry = BulkExtract.load(extract)

    def line(record: str, child: Any, parent_record: str, parent: Any) -> str:
        return ",".join(
            [
                record,
                child.citizen_id,
                child.full_name,
                child.date_of_birth.isoformat(),
                "79760101",
                parent_record,
                parent.citizen_id,
                parent.full_name,
                parent.date_of_birth.isoformat(),
            ]
        )

    text = (
        "\n".join(
            [
                ",".join(STUDENT_COLUMNS),
                line("HS300001", child_a, "PH300101", parent_a),  # same household: linked
                line("HS300002", child_b, "PH300102", parent_a),  # another household: review
            ]
        )
        + "\n"
    )
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    pairs, problems = parse_student_records(text, stack.realm_spec)
    assert problems == []
    # The command line says the same in a dry run (and changes nothing).
    import subprocess
    import sys

    records = tmp_path / "students.csv"
    records.write_text(text, encoding="utf-8")
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "idp_config.cli",
            "issue-accounts",
            str(records),
            "--students",
            "--population",
            str(extract),
            "--stack",
            str(stack.folder),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "ph300101 -> hs300001" in dry.stdout
    assert "(dry run) created 2" in dry.stdout and "parents linked 1" in dry.stdout
    assert "to review 1" in dry.stdout
    admin.change_current_realm("education")
    assert admin.get_user_id("hs300001") is None
    try:
        plan = asyncio.run(plan_family_accounts(admin, stack.realm_spec, pairs, registry))
        links = {link.parent.record_id: link.children for link in plan.parents}
        assert links == {"PH300101": ("hs300001",)}
        assert [(r, why.en) for r, why in plan.review] == [
            ("PH300102", "relationship to HS300002 not confirmed by household data")
        ]
        execute_family(admin, stack.realm_spec, plan)
        admin.change_current_realm("education")
        parent = admin.get_user(str(admin.get_user_id("ph300101")))
        assert parent["attributes"]["children"] == ["hs300001"]
        assert {r["name"] for r in admin.get_realm_roles_of_user(parent["id"])} >= {"parent"}
        # The parent's app (a public client, PKCE) asks for `family` and learns only this child.
        import base64
        import json

        from tests.keycloak_login import login

        password = "Phu-huynh-2026-thu"
        admin.set_user_password(parent["id"], password, temporary=False)
        tokens = login(
            stack_info.issuer,
            client_id="citizen-app-contact-book",
            client_secret=None,
            redirect_uri="vn.gov.congdan.soll:/oauth2/callback",
            username="ph300101",
            password=password,
            scope="openid family",
        )
        payload = tokens["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["children"] == ["hs300001"]
        assert "citizen_id" not in claims
        again = asyncio.run(plan_family_accounts(admin, stack.realm_spec, pairs, registry))
        assert again.students.actions == []  # idempotent
    finally:
        admin.change_current_realm("education")
        for username in ("hs300001", "hs300002", "ph300101", "ph300102"):
            user_id = admin.get_user_id(username)
            if user_id:
                admin.delete_user(user_id)


def test_one_person_one_account_and_no_child_for_a_stranger(
    stack: Stack, stack_info: StackInfo, tmp_path: Path
) -> None:
    """Attack class: identity collision. Records name people by the sector's record ids; the
    account must stay the person's. Before, existing accounts were matched by user name only: a
    teacher listed again under a new record id got a second account (and national-ID login then
    refused them both), a record id given to someone else moved the first person's account, and a
    parent row naming an existing teacher's record id linked the child to that teacher — whose
    parents' app then showed a stranger's child."""
    from idp_config.accounts import (
        STUDENT_COLUMNS,
        execute_family,
        parse_student_records,
        plan_family_accounts,
    )
    from idp_config.keycloak_accounts import CitizenDirectory, read_accounts

    by_household: dict[str, list[Any]] = {}
    for person in FAMILY:
        by_household.setdefault(str(person.household_id), []).append(person)
    parent, child = [m for m in by_household.values() if len(m) >= 2][2][:2]
    teacher = next(p for p in FAMILY if p.household_id != parent.household_id)
    extract = _family_extract(tmp_path)
    registry = BulkExtract.load(extract)
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))

    def staff(record_id: str, person: Any, unit: str) -> str:
        return (
            ",".join(COLUMNS)
            + f"\n{record_id},{person.citizen_id},{person.full_name},"
            + f"{person.date_of_birth.isoformat()},{unit},teacher,active\n"
        )

    def plan_and_run(text: str) -> Any:
        records, problems = parse_records(text, stack.realm_spec)
        assert problems == []
        plan = asyncio.run(plan_accounts(admin, stack.realm_spec, records, registry))
        execute(admin, stack.realm_spec, plan)
        return plan

    try:
        assert plan_and_run(staff("GV400001", teacher, "79760101")).summary()["create"] == 1
        admin.change_current_realm("education")
        live = read_accounts(admin, stack.realm_spec)
        for expected in (0, 1_000_000):  # a query per question; one listing of every user
            directory = CitizenDirectory(admin, stack.realm_spec, live, expected)
            assert directory.holders(teacher.citizen_id) == {"gv400001"}
            assert directory.holders(teacher.citizen_id[:-1]) == set()  # exact, not a prefix
            assert directory.citizen_of("gv400001") == teacher.citizen_id
            assert directory.citizen_of("gv400002") is None
        # The same teacher under a new record id (a new school's software): no second account.
        plan = plan_and_run(staff("GV400002", teacher, "79760102"))
        assert plan.actions == []
        assert [(r, str(why)) for r, why in plan.review] == [
            (
                "GV400002",
                "người này đã có tài khoản gv400001 / the person already has the account gv400001",
            )
        ]
        admin.change_current_realm("education")
        assert admin.get_user_id("gv400002") is None
        # The teacher's record id given to someone else, in another unit: the account is not moved.
        plan = plan_and_run(staff("GV400001", parent, "79760102"))
        assert plan.actions == []
        assert [(r, why.en) for r, why in plan.review] == [
            ("GV400001", "the account gv400001 belongs to another person")
        ]
        admin.change_current_realm("education")
        teachers = str(admin.get_user_id("gv400001"))
        assert [g["path"] for g in admin.get_user_groups(teachers)] == [
            "/so-gddt/phong-760/79760101"
        ]
        # A class list whose parent row names the teacher's record id: no child for the teacher.
        row = [
            "HS400001",
            child.citizen_id,
            child.full_name,
            child.date_of_birth.isoformat(),
            "79760101",
            "GV400001",
            parent.citizen_id,
            parent.full_name,
            parent.date_of_birth.isoformat(),
        ]
        pairs, problems = parse_student_records(
            ",".join(STUDENT_COLUMNS) + "\n" + ",".join(row) + "\n", stack.realm_spec
        )
        assert problems == [] and len(pairs) == 1
        family = asyncio.run(plan_family_accounts(admin, stack.realm_spec, pairs, registry))
        assert family.parents == []
        assert [(r, why.en) for r, why in family.review] == [
            ("GV400001", "the account gv400001 belongs to another person")
        ]
        execute_family(admin, stack.realm_spec, family)
        admin.change_current_realm("education")
        assert "children" not in (admin.get_user(teachers).get("attributes") or {})
        # The same parent under their own record id: linked (the household agrees).
        row[5] = "PH400001"
        pairs, _ = parse_student_records(
            ",".join(STUDENT_COLUMNS) + "\n" + ",".join(row) + "\n", stack.realm_spec
        )
        family = asyncio.run(plan_family_accounts(admin, stack.realm_spec, pairs, registry))
        assert [(p.parent.record_id, p.children) for p in family.parents] == [
            ("PH400001", ("hs400001",))
        ]
    finally:
        admin.change_current_realm("education")
        for username in ("gv400001", "gv400002", "hs400001", "ph400001"):
            user_id = admin.get_user_id(username)
            if user_id:
                admin.delete_user(user_id)
