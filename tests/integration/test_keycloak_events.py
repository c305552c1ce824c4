"""Keycloak's own events reach the audit log: logins, failures and admin changes, with citizen IDs
pseudonymised, once each, across a restart of the audit service."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from devstack import Stack, StackInfo
from devstack.process import ManagedProcess
from tests.audit_events import audit_events, wait_for_events
from tests.conftest import TokenFactory
from tests.keycloak_login import fail_login

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]

CITIZEN_ID = "001203004567"


def _events(info: StackInfo, token: str, tag: str) -> list[dict[str, Any]]:
    return audit_events(info, token, tag=tag, limit="1000")


def _wait_for(info: StackInfo, token: str, tag: str, predicate: Any) -> list[dict[str, Any]]:
    return wait_for_events(info, token, timeout=30, where=predicate, tag=tag, limit="1000")


def test_failed_login_with_a_citizen_id_is_audited_pseudonymised_once(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    # A person typing their CCCD number into the login page, with a wrong password.
    page = fail_login(stack_info.issuer, CITIZEN_ID, "wrong-password")
    assert "kc-form-login" in page
    expected = (
        "hmac:"
        + hmac.new(
            stack.secrets.get("audit:pseudonym-key").encode(), CITIZEN_ID.encode(), hashlib.sha256
        ).hexdigest()[:16]
    )
    reader = client_token("audit-reports")
    failures = _wait_for(
        stack_info, reader, "idp:login:failure", lambda e: e["actor"]["name"] == expected
    )
    assert len(failures) == 1, "collected once"
    failure = failures[0]
    assert failure["outcome"] == "failure"
    assert failure["event_class"] == "authentication"
    assert failure["service"] == "keycloak"
    assert CITIZEN_ID not in str(failure)

    # Restart the audit service: the checkpoint in Redis means nothing is taken twice.
    ManagedProcess("audit", stack.folder).stop()
    stack.up()
    time.sleep(3)
    again = [
        e
        for e in _events(stack_info, reader, "idp:login:failure")
        if e["actor"]["name"] == expected
    ]
    assert len(again) == 1


def test_client_logins_and_admin_changes_are_collected(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    reader = client_token("audit-reports")
    client_token("demo-eoffice")  # a fresh CLIENT_LOGIN
    issued = _wait_for(
        stack_info,
        reader,
        "idp:token:issue",
        lambda e: e["actor"].get("client_id") == "demo-eoffice",
    )
    assert issued
    admin_changes = _wait_for(stack_info, reader, "idp:admin:change", lambda e: True)
    assert any(e["target"]["resource_type"] == "CLIENT" for e in admin_changes)


def test_an_admin_change_to_an_account_carries_that_account_unit(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """A district's officer sees the administration of its own people: the change of an account
    is recorded with the unit of the account changed (not of the administrator)."""
    from idp_config import admin_client

    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    unit = "79760101"  # a school of district 760
    user_id = admin.create_user(
        {
            "username": f"gv.admin-event.{int(time.time())}",
            "enabled": True,
            "firstName": "Giáo",
            "lastName": "Viên",
            "attributes": {"unit_code": [unit]},
        }
    )
    try:
        admin.update_user(user_id, {"firstName": "Giáo viên", "attributes": {"unit_code": [unit]}})
        reader = client_token("audit-reports")
        changes = _wait_for(
            stack_info,
            reader,
            "idp:admin:change",
            lambda e: (
                e["target"]["resource_path"] == f"users/{user_id}"
                and e["target"]["operation"] == "UPDATE"
            ),
        )
        assert {e.get("unit") for e in changes} == {unit}
        # The administrator (the master realm's) is named as such, not by a bare id.
        names = {e["actor"]["name"] for e in changes}
        assert len(names) == 1 and next(iter(names)).startswith("admin:"), names
        assert all(e["actor"]["subject"] not in names for e in changes)
    finally:
        admin.delete_user(user_id)
