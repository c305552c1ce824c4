"""Account rules over accounts as the hygiene scanner reads them."""

from __future__ import annotations

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
