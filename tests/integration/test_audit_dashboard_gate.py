"""The dashboard's one gate (``audit.deps.CurrentOfficer``), against the running audit service.

Every page of the dashboard is asked without a session, with parameters and a body that would not
validate: each sends to the login page the same way, before anything is read (attack class: a
page that forgot its login check, or that validates input before checking who asks). Then
sessions signed with the service's own key (an insider holding it, or a session outliving a
change of role or of the schools list) that name a non-officer or an unknown unit are turned away,
the session ended and the refusal audited; an expired or tampered session goes to the login; an
officer of a known unit gets in (the control: the sessions above are refused for what they say,
not for their form).
"""

from __future__ import annotations

import json
import time
import uuid
from base64 import b64encode
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from audit.routes.dashboard import ROUTERS
from devstack import Stack, StackInfo
from tests.conftest import TokenFactory
from tests.dashboard_session import COOKIE, officer, session_cookie

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]

#: The language switch sets a preference cookie and reads nothing of the log (tested on its own).
UNGATED = {"/dashboard/login", "/dashboard/callback", "/dashboard/logout", "/dashboard/language"}
#: Values no route accepts: a gate that ran after validation would answer 422.
INVALID_QUERY = {"page": "-1", "period": "year", "document": "not-a-hash"}


def _gated_requests() -> list[tuple[str, str]]:
    requests: list[tuple[str, str]] = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.path in UNGATED:
                continue
            path = route.path.replace("{alert_id}", "0" * 32)
            requests.extend((method, path) for method in sorted(route.methods or ()))
    return requests


def test_every_page_without_a_session_goes_to_the_login_before_reading_anything(
    stack_info: StackInfo,
) -> None:
    requests = _gated_requests()
    assert len(requests) >= 11
    with httpx.Client(base_url=stack_info.audit_url, timeout=10) as client:
        for method, path in requests:
            body = {"csrf": ""} if method == "POST" else None  # no action: would not validate
            answer = client.request(method, path, params=INVALID_QUERY, data=body)
            assert (answer.status_code, answer.headers.get("location")) == (
                303,
                "/dashboard/login",
            ), f"{method} {path}: {answer.status_code}"


def _refusals(stack_info: StackInfo, token: str, actor: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events: list[dict[str, Any]] = httpx.get(
            f"{stack_info.audit_url}/v1/events",
            params={"tag": "audit:dashboard:login", "actor": actor},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["events"]
        if events:
            return events
        time.sleep(0.5)
    return []


@pytest.mark.parametrize(
    ("changes", "english", "reason"),
    [
        ({"roles": []}, "Only security officers", "missing realm role security-officer"),
        ({"unit": "00000000"}, "has no unit", "the officer's unit is missing or unknown"),
        ({"unit": None}, "has no unit", "the officer's unit is missing or unknown"),
    ],
    ids=["not-an-officer", "unknown-unit", "no-unit"],
)
def test_a_signed_session_of_a_non_officer_or_an_unknown_unit_is_refused_and_audited(
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    changes: dict[str, Any],
    english: str,
    reason: str,
) -> None:
    actor = f"gate.{uuid.uuid4().hex[:12]}"
    cookie = session_cookie(stack, officer(actor, **changes))
    answer = httpx.get(
        f"{stack_info.audit_url}/dashboard/events",
        cookies={COOKIE: cookie, "edu_audit_lang": "en"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert english in answer.text and 'id="events"' not in answer.text
    assert f"{COOKIE}=null" in answer.headers.get("set-cookie", "")  # the session ends
    refusals = _refusals(stack_info, client_token("audit-reports"), actor)
    assert [(e["outcome"], e["reason"]) for e in refusals] == [("failure", reason)]


@pytest.mark.parametrize("attack", ["expired", "tampered"])
def test_an_expired_or_tampered_session_goes_to_the_login(
    stack: Stack, stack_info: StackInfo, attack: str
) -> None:
    if attack == "expired":
        cookie = session_cookie(stack, officer("gate.expired", until=time.time() - 1))
    else:
        # The same officer, with a unit of the whole sector written over a district's.
        genuine = session_cookie(stack, officer("gate.tampered", unit="760"))
        payload, _, signature = genuine.partition(".")
        forged = b64encode(json.dumps({"officer": officer("gate.tampered")}).encode()).decode()
        cookie = f"{forged}.{signature}"
        assert payload != forged
    answer = httpx.get(f"{stack_info.audit_url}/dashboard", cookies={COOKIE: cookie}, timeout=10)
    assert (answer.status_code, answer.headers.get("location")) == (303, "/dashboard/login")


def test_an_officer_of_a_known_unit_gets_in(stack: Stack, stack_info: StackInfo) -> None:
    cookie = session_cookie(stack, officer("gate.officer"))
    answer = httpx.get(f"{stack_info.audit_url}/dashboard", cookies={COOKIE: cookie}, timeout=10)
    assert answer.status_code == 200
    assert "Cán bộ thử nghiệm" in answer.text and 'id="chart-logins"' in answer.text
