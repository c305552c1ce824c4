"""Which account a Keycloak admin event is about (its unit is that account's): only a user id in
``users/<id>/...``, never the realm's user profile (``users/profile``), whose answer is no account."""

from __future__ import annotations

import pytest

from audit.keycloak_events import _administered_user

USER = "4d334fc9-e77f-4956-b822-7af187c5b41a"


@pytest.mark.parametrize(
    ("path", "account"),
    [
        (f"users/{USER}", USER),
        (f"users/{USER}/role-mappings/realm", USER),
        (f"users/{USER}/groups/9b2c7f1e-1111-2222-3333-444455556666", USER),
        ("users/profile", None),
        ("users", None),
        ("clients/3f9a0c2e-0000-1111-2222-333344445555", None),
        ("users/../clients", None),
        ("", None),
    ],
)
def test_the_administered_account_is_read_from_the_path(path: str, account: str | None) -> None:
    assert _administered_user({"resourcePath": path}) == account
