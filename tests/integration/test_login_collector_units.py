"""Whose logins an officer reads follows the person: the login collector takes each person's unit
from the realm, and a move between schools (account issuing) is seen within a minute.

Attack class (stale scope): the collector cached each person's unit until it restarted, so after a
move the old school's and district's officers kept reading the person's logins (time, address,
application) and alerts, and the new school's saw none."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from audit import keycloak_events
from audit.keycloak_events import KeycloakEventCollector
from devstack import Stack, StackInfo
from idp_config import admin_client

pytestmark = [pytest.mark.keycloak]


def test_a_person_moved_to_another_school_is_the_new_schools_within_a_minute(
    stack: Stack, stack_info: StackInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    username = f"gv.move{secrets.token_hex(3)}"
    user_id = admin.create_user(
        {"username": username, "enabled": True, "attributes": {"unit_code": ["79760101"]}}
    )
    monkeypatch.setattr(keycloak_events, "PERSON_SECONDS", 0.5)  # a minute, made short
    collector = KeycloakEventCollector(
        keycloak_url=stack_info.keycloak_url,
        realm="education",
        client_id="audit-collector",
        client_secret=stack.client_secret("audit-collector"),
        trail=None,  # type: ignore[arg-type]  # only the realm is read here
        redis=None,  # type: ignore[arg-type]
        pseudonym_key=b"test",
    )

    async def unit() -> str | None:
        return (await collector._person(user_id))[0]

    async def scenario() -> tuple[str | None, str | None, str | None]:
        try:
            before = await unit()
            user = admin.get_user(user_id)
            admin.update_user(user_id, {**user, "attributes": {"unit_code": ["79769201"]}})
            at_once = await unit()  # cached: a read a second ago stands
            await asyncio.sleep(0.6)
            return before, at_once, await unit()
        finally:
            await collector._http.aclose()

    try:
        before, at_once, after = asyncio.run(scenario())
    finally:
        admin.delete_user(user_id)
    assert (before, at_once, after) == ("79760101", "79760101", "79769201")
