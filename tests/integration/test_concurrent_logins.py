"""Logins of one account at the same instant, with the right password, against the realm as configured.

Keycloak's brute-force detector refuses a login of an account while another login of the same account
is under way (keycloak/keycloak#48272; the server option
``spi-brute-force-protector--default-brute-force-detector--allow-concurrent-requests`` is off): the
person sees "invalid user name or password" and the event says ``user_temporarily_disabled``. The
realm keeps that default — parallel guesses cannot outrun the failure count — and this test holds the
behaviour the documentation describes (docs/sso.md): some of the parallel logins are refused, none of
them is a lockout, and the next login alone succeeds. The production topology's login wave gives each
browser its own accounts for this reason (tests/ha/test_keycloak_node_loss.py).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from keycloak import KeycloakAdmin

from devstack import StackInfo
from tests.keycloak_accounts import People
from tests.keycloak_login import login

pytestmark = pytest.mark.keycloak


def test_parallel_logins_of_one_account_are_refused_but_never_lock_it(
    stack_info: StackInfo, people: People, admin: KeycloakAdmin
) -> None:
    username, password = people.add("song.song", "79760101", "teacher")
    user_id = str(admin.get_user_id(username))
    issuer = stack_info.issuer
    started = time.time()

    def once(_: int) -> str:
        try:
            login(
                issuer,
                client_id="account-console",
                client_secret=None,
                redirect_uri=f"{issuer}/account/",
                username=username,
                password=password,
            )
        except AssertionError:
            return "refused"
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as browsers:
        outcomes = Counter(browsers.map(once, range(12)))
    assert outcomes["ok"] >= 1 and outcomes["refused"] >= 1, outcomes
    # Each refusal is the concurrent-request guard, not a wrong password.
    events = admin.get_events(query={"type": "LOGIN_ERROR", "user": user_id, "max": 100})
    recent = [e for e in events if e.get("time", 0) / 1000 >= started - 1]
    assert recent and {e.get("error") for e in recent} == {"user_temporarily_disabled"}
    assert admin.get_user(user_id)["enabled"]  # no permanent lockout

    # Alone, the account logs in: a person who clicked twice is not locked out.
    assert once(0) == "ok"
