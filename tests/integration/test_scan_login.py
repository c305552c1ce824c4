"""The scanning account logs in to the dashboard through the real SSO, second factor included
(:mod:`scanners.sso_login`), as ``gateway-scan`` does before the dashboard's logged-in dynamic scan.

Attack classes: a stolen password without the second factor, a wrong or foreign second factor, a
replayed one-time code, an account without the officer role, and secrets leaking into errors.
"""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from keycloak import KeycloakAdmin

from devstack import StackInfo
from scanners.own_services import DASHBOARD_SESSION_COOKIE
from scanners.sso_login import ScanAccount, SsoLoginFailed, login
from tests.keycloak_accounts import People

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]

SCHOOL = "79760101"
#: Two failures closer than this lock the account for a minute (Keycloak's quick-login check).
QUICK_LOGIN_CHECK = 1.2


def _dashboard(stack_info: StackInfo, cookies: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{stack_info.audit_url}/dashboard", cookies=cookies, timeout=15)


def _login(stack_info: StackInfo, account: ScanAccount) -> dict[str, str]:
    return login(
        f"{stack_info.audit_url}/dashboard/login", account, session_cookie=DASHBOARD_SESSION_COOKIE
    )


def _otp_devices(admin: KeycloakAdmin, username: str) -> list[dict[str, object]]:
    user_id = str(admin.get_user_id(username))
    return [c for c in admin.get_credentials(user_id) if c["type"] == "otp"]


def test_the_scanner_enrols_its_second_factor_then_logs_in_with_it(
    stack_info: StackInfo, people: People, admin: KeycloakAdmin, tmp_path: Path
) -> None:
    username, password = people.add("quet", SCHOOL, "security-officer")
    account = ScanAccount(username, password, tmp_path / "totp.json", stack_info.keycloak_url)

    # First login: the dashboard asks for a second factor (privileged), Keycloak has the account
    # set one up; the scanner keeps the secret in its own 0600 file.
    first = _login(stack_info, account)
    assert _dashboard(stack_info, first).status_code == 200
    kept = json.loads(account.totp_file.read_text())
    assert stat.S_IMODE(account.totp_file.stat().st_mode) == 0o600
    assert len(_otp_devices(admin, username)) == 1
    # Second login (a code not used before: it waits for the next time step if it must).
    second = _login(stack_info, account)
    assert second != first
    page = _dashboard(stack_info, second)
    assert page.status_code == 200 and "/dashboard/logout" in page.text
    assert json.loads(account.totp_file.read_text())["secret"] == kept["secret"]


def test_a_stolen_password_or_a_wrong_second_factor_does_not_log_in(
    stack_info: StackInfo, people: People, tmp_path: Path
) -> None:
    username, password = people.add("quet", SCHOOL, "security-officer")
    genuine = ScanAccount(username, password, tmp_path / "genuine.json", stack_info.keycloak_url)
    _login(stack_info, genuine)  # enrolled

    # A wrong password: refused by Keycloak, and the error does not carry it.
    with pytest.raises(SsoLoginFailed, match="user name or the password") as refused:
        _login(
            stack_info,
            ScanAccount(
                username, "Sai-mat-khau-1", tmp_path / "genuine.json", stack_info.keycloak_url
            ),
        )
    assert "Sai-mat-khau-1" not in str(refused.value)
    time.sleep(QUICK_LOGIN_CHECK)

    # The password without the second factor: another authenticator's secret is refused, and no
    # new device can be enrolled over the existing one.
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"secret": pyotp.random_base32(), "last_step": None}))
    with pytest.raises(SsoLoginFailed, match="refused the one-time code") as refused:
        _login(stack_info, ScanAccount(username, password, foreign, stack_info.keycloak_url))
    assert password not in str(refused.value)
    time.sleep(QUICK_LOGIN_CHECK)
    with pytest.raises(SsoLoginFailed, match="no second factor enrolled"):
        _login(
            stack_info,
            ScanAccount(username, password, tmp_path / "missing.json", stack_info.keycloak_url),
        )

    # A code replayed in the same time step (Keycloak accepts a code once): refused. The genuine
    # login is made early in a time step, so that the replay falls in the same one.
    if time.time() % 30 > 15:
        time.sleep(30 - time.time() % 30 + 0.5)
    assert _dashboard(stack_info, _login(stack_info, genuine)).status_code == 200
    used = json.loads((tmp_path / "genuine.json").read_text())
    replayed = tmp_path / "replayed.json"
    replayed.write_text(json.dumps({"secret": used["secret"], "last_step": None}))
    with pytest.raises(SsoLoginFailed, match="refused the one-time code"):
        _login(stack_info, ScanAccount(username, password, replayed, stack_info.keycloak_url))
    assert int(time.time() // 30) == used["last_step"], "the replay left the time step"


def test_an_account_that_is_no_officer_is_turned_away(
    stack_info: StackInfo, people: People, tmp_path: Path
) -> None:
    username, password = people.add("quet", SCHOOL, "homeroom-teacher")
    with pytest.raises(SsoLoginFailed, match="HTTP 403"):
        _login(
            stack_info,
            ScanAccount(username, password, tmp_path / "totp.json", stack_info.keycloak_url),
        )


def test_the_settings_name_the_account_and_never_show_its_password(tmp_path: Path) -> None:
    account = ScanAccount(
        "quet.dast", "Mat-khau-bi-mat-9", tmp_path / "t.json", "http://localhost:8080"
    )
    assert "Mat-khau-bi-mat-9" not in repr(account)
    with pytest.raises(SsoLoginFailed):
        ScanAccount("quet.dast", "", tmp_path / "t.json", "http://localhost:8080")
    with pytest.raises(SsoLoginFailed, match="identity provider"):
        ScanAccount("quet.dast", "Mat-khau-bi-mat-9", tmp_path / "t.json", "")
