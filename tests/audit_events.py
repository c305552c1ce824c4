"""Reading the running audit service's log in tests, as a reader client does (``GET /v1/events``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from devstack import StackInfo

Event = dict[str, Any]


def audit_events(info: StackInfo, token: str, **params: str) -> list[Event]:
    """The events the audit service answers with for ``params`` (tag, correlation_id, limit…)."""
    response = httpx.get(
        f"{info.audit_url}/v1/events",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    events: list[Event] = response.json()["events"]
    return events


def wait_for_events(
    info: StackInfo,
    token: str,
    *,
    timeout: float = 10.0,
    where: Callable[[Event], bool] = lambda event: True,
    **params: str,
) -> list[Event]:
    """The events for ``params`` that ``where`` keeps, once there is one (or ``[]`` after
    ``timeout`` seconds): events reach the log through Redis and the ingestor, not at once."""
    deadline = time.monotonic() + timeout
    while True:
        events = [e for e in audit_events(info, token, **params) if where(e)]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.2)
