"""A brute-force attempt on one account, through the real Keycloak: the alert lands in the audit log
and reaches the notification hook."""

from __future__ import annotations

import time

import httpx
import pytest

from devstack import StackInfo
from tests.conftest import AlertInbox, TokenFactory
from tests.keycloak_login import fail_login

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]


def test_brute_force_alert_is_audited_and_notified(
    stack_info: StackInfo, client_token: TokenFactory, alert_inbox: AlertInbox
) -> None:
    for _ in range(6):
        fail_login(stack_info.issuer, "demo.hieutruong")
    reader = {"Authorization": f"Bearer {client_token('audit-reports')}"}
    deadline = time.monotonic() + 40
    alerts: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        alerts = [
            e
            for e in httpx.get(
                f"{stack_info.audit_url}/v1/events",
                params={"tag": "audit:alert:raise"},
                headers=reader,
                timeout=10,
            ).json()["events"]
            if e["target"]["rule"] == "brute_force_account"
            and e["actor"]["name"] == "demo.hieutruong"
        ]
        if alerts:
            break
        time.sleep(0.5)
    assert len(alerts) == 1
    assert alerts[0]["event_class"] == "finding"
    assert any(
        a["target"]["rule"] == "brute_force_account" and a["actor"]["name"] == "demo.hieutruong"
        for a in alert_inbox.received
    )
