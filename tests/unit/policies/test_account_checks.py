"""Account rules over accounts as the hygiene scanner reads them."""

from __future__ import annotations

from pathlib import Path

from policies import evaluate_accounts


def _account(username: str, citizen: str | None = None, enabled: bool = True) -> dict[str, object]:
    return {
        "username": username,
        "enabled": enabled,
        "roles": [],
        "credential_types": [],
        "citizen_id": citizen,
    }


def test_one_person_with_two_enabled_accounts_is_found_without_the_number() -> None:
    findings = [
        v
        for v in evaluate_accounts(
            [
                _account("gv1", "079203001234"),
                _account("gv2", "079203001234"),
                _account("gv3", "079203001234", enabled=False),
                _account("gv4", "079203009999"),
            ]
        )
        if v.rule_id == "IDP-009"
    ]
    assert [f.subject for f in findings] == ["users gv1, gv2"]
    assert "079203001234" not in findings[0].evidence + findings[0].subject


def test_shared_office_accounts_are_found_but_personal_ones_are_not() -> None:
    found = {
        v.subject
        for v in evaluate_accounts(
            [
                _account("vanphong"),
                _account("ketoan.truong1"),
                _account("demo.giaovien"),
                _account("admin"),
            ]
        )
        if v.rule_id == "IDP-010"
    }
    assert found == {"user vanphong", "user ketoan.truong1", "user admin"}


DAY = 86400.0
NOW = 1_800_000_000.0


def _seen(username: str, **fields: object) -> dict[str, object]:
    return {**_account(username), "roles": ["teacher"], "now": NOW, **fields}


def test_inactive_accounts_counted_from_the_last_login_or_from_creation() -> None:
    accounts = [
        _seen("active", last_login=NOW - 10 * DAY, created=NOW - 400 * DAY),
        _seen("idle", last_login=NOW - 120 * DAY, created=NOW - 400 * DAY),
        _seen("never", last_login=None, created=NOW - 95 * DAY),
        _seen("new", last_login=None, created=NOW - 5 * DAY),
        _seen("idle-but-disabled", enabled=False, last_login=NOW - 300 * DAY),
        {**_account("unknown-clock"), "last_login": NOW - 300 * DAY},  # no "now": not judged
    ]
    found = {v.subject: v.evidence for v in evaluate_accounts(accounts) if v.rule_id == "IDP-013"}
    assert set(found) == {"user idle", "user never"}
    assert "last login 120 days ago" in found["user idle"]
    assert "never logged in" in found["user never"]


def test_accounts_without_a_record_are_orphans_only_when_records_were_given() -> None:
    accounts = [
        _seen("gv000001", has_record=True),
        _seen("gv000002", has_record=False),
        _seen("made.by.hand", has_record=False),
        _seen("left.disabled", has_record=False, enabled=False),
        {**_seen("robot", has_record=False), "roles": ["it-admin"]},  # not a person's role
        _seen("no-records-given", has_record=None),
    ]
    found = {v.subject for v in evaluate_accounts(accounts) if v.rule_id == "IDP-014"}
    assert found == {"user gv000002", "user made.by.hand"}


def test_record_ids_from_staff_and_student_files(tmp_path: Path) -> None:
    from scanners.account_hygiene import record_ids

    staff = tmp_path / "staff.csv"
    staff.write_text(
        "record_id,citizen_id,full_name,date_of_birth,unit_code,role,status\n"
        "GV000001,x,A,1990-01-01,u,teacher,active\n"
        "GV000002,x,B,1990-01-01,u,teacher,left\n",
        encoding="utf-8",
    )
    students = tmp_path / "students.csv"
    students.write_text(
        "record_id,citizen_id,full_name,date_of_birth,unit_code,parent_record_id,"
        "parent_citizen_id,parent_full_name,parent_date_of_birth\n"
        "HS000001,x,C,2010-01-01,u,PH000001,y,D,1980-01-01\n",
        encoding="utf-8",
    )
    assert record_ids([staff, students]) == {"gv000001", "hs000001", "ph000001"}
