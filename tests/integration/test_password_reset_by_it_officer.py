"""A teacher without an e-mail address gets a new password from their school's IT officer, audited;
nobody else can give one (``idp-config reset-password`` against the real Keycloak and audit log).

Attack classes: privilege across units (an IT officer of another school or district), privilege by
role (an account that is no IT officer), a reset that bypasses the mail path (an account with an
address), and password disclosure (the one-time password in the audit log).
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import httpx
import pytest
from keycloak import KeycloakAdmin

from devstack import Stack, StackInfo
from tests.audit_events import wait_for_events
from tests.conftest import TokenFactory
from tests.keycloak_accounts import People
from tests.keycloak_login import _submit_login_form

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]

SCHOOL = "79760101"  # THPT Bùi Thị Xuân, district 760
OTHER_SCHOOL = "79769201"  # another district (769)


def _reset(stack: Stack, username: str, operator: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "idp_config.cli", "reset-password", username,
            "--operator", operator, "--reason", "Giáo viên quên mật khẩu, không có email",
            "--stack", str(stack.folder),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _after_password(info: StackInfo, username: str, password: str) -> str:
    """What Keycloak's login page answers to ``password``: ``app`` (logged in), ``update`` (must
    choose a new password first) or ``refused``."""
    app = f"{info.issuer}/account/"
    with httpx.Client(timeout=15, follow_redirects=False) as browser:
        answer = _submit_login_form(
            browser, info.issuer, "account-console", app, "openid",
            secrets.token_urlsafe(16), secrets.token_urlsafe(48), username, password,
        )  # fmt: skip
        location = answer.headers.get("location", "")
        if answer.status_code == 302 and location.startswith(app):
            return "app"
        if answer.status_code == 302:  # to a required action first
            cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies.jar)
            answer = browser.get(location, headers={"cookie": cookies})
    if "kc-passwd-update-form" in answer.text:
        return "update"
    return "refused"


def test_a_school_it_officer_gives_a_one_time_password_that_is_audited(
    stack: Stack,
    stack_info: StackInfo,
    admin: KeycloakAdmin,
    people: People,
    client_token: TokenFactory,
) -> None:
    teacher, old_password = people.add("gv.khongemail", SCHOOL, "teacher")
    officer, _ = people.add("cntt.truong", SCHOOL, "it-admin")
    district_officer, _ = people.add("cntt.phong", "phong-760", "it-admin")
    stranger, _ = people.add("cntt.khac", OTHER_SCHOOL, "it-admin")
    colleague, _ = people.add("gv.dongnghiep", SCHOOL, "teacher")
    with_mail, _ = people.add(
        "gv.coemail", SCHOOL, "teacher", email=f"gv.{people.tag}@thpt-btx.example.vn"
    )

    refusals = {
        "another school's IT officer": (
            _reset(stack, teacher, stranger),
            "is not an IT officer of",
        ),
        "no IT officer": (_reset(stack, teacher, colleague), "is not an IT officer (it-admin)"),
        "has an e-mail": (_reset(stack, with_mail, officer), "Forgot password"),
        "unknown operator": (_reset(stack, teacher, f"nobody.{people.tag}"), "has no account"),
    }
    for case, (result, reason) in refusals.items():
        assert result.returncode == 1, case
        assert reason in result.stdout + result.stderr, (case, result.stdout, result.stderr)
    # Refused, nothing changed: the old password still logs in.
    assert _after_password(stack_info, teacher, old_password) == "app"

    done = _reset(stack, teacher, officer)
    assert done.returncode == 0, done.stdout + done.stderr
    one_time = done.stdout.splitlines()[1].strip()
    assert len(one_time) >= 12
    assert _after_password(stack_info, teacher, old_password) == "refused"
    assert _after_password(stack_info, teacher, one_time) == "update"
    # The district's IT officer may help the school's people too.
    assert _reset(stack, teacher, district_officer).returncode == 0

    reader = client_token("audit-reports")
    events = wait_for_events(
        stack_info,
        reader,
        tag="idp:account:issue",
        limit="200",
        where=lambda e: e["target"].get("username") == teacher,
    )
    resets = [e for e in events if e["target"]["change"] == "password-reset"]
    assert {e["actor"]["name"] for e in resets} >= {officer}
    first = next(e for e in resets if e["actor"]["name"] == officer)
    assert first["unit"] == SCHOOL and first["target"]["operator_unit"] == SCHOOL
    assert "không có email" in first["target"]["reason"]
    assert all(one_time not in str(e) for e in events)  # never the password
