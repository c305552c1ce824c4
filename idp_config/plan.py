"""``plan`` and ``drift``: the difference between the realm files and the live realm.

Both compare the same two states, resource by resource and field by field, on the fields the files
manage (Keycloak fills in many others). ``plan`` reads it as what ``apply`` would do; ``drift`` reads it
as what someone changed in the admin console. Objects that exist in Keycloak but in no file are reported
as unmanaged (never deleted), Keycloak's built-in clients and roles excepted. People's accounts are
not part of the files: ``issue-accounts`` manages them from the sector's records, so only the users the
files declare are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from keycloak import KeycloakAdmin

from idp_config.errors import keycloak_errors
from idp_config.model import RealmSpec
from idp_config.resources import KINDS, LiveRead, State, group_tree

__all__ = [
    "Action",
    "Change",
    "FieldChange",
    "State",
    "desired_state",
    "diff",
    "group_tree",
    "live_state",
    "plan",
    "render",
]

#: List fields whose order Keycloak does not keep.
_UNORDERED = {
    "redirectUris",
    "webOrigins",
    "supportedLocales",
    "roles",
    "optional",
    "composites",
}
#: Fields never compared or shown (secrets are set on creation, not diffed).
_IGNORED = {"secret"}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNMANAGED = "unmanaged"


@dataclass(frozen=True)
class FieldChange:
    name: str
    live: Any
    desired: Any


@dataclass(frozen=True)
class Change:
    action: Action
    address: str
    fields: list[FieldChange] = field(default_factory=list)

    def render(self) -> str:
        symbol = {Action.CREATE: "+", Action.UPDATE: "~", Action.UNMANAGED: "?"}[self.action]
        lines = [f"  {symbol} {self.address}"]
        for change in self.fields:
            lines.append(f"      {change.name}: {change.live!r} -> {change.desired!r}")
        return "\n".join(lines)


def _normalise(name: str, value: Any) -> Any:
    if name in _UNORDERED and isinstance(value, list):
        return sorted(value)
    return value


def desired_state(spec: RealmSpec) -> State:
    """What the files declare, kind by kind (:data:`~idp_config.resources.KINDS`)."""
    return {want.address: want.fields for kind in KINDS for want in kind.desired(spec)}


def live_state(admin: KeycloakAdmin, spec: RealmSpec) -> State:
    """The live realm, read through the admin API, in the shape of :func:`desired_state`."""
    with keycloak_errors(f"reading realm {spec.realm!r}"):
        admin.change_current_realm("master")
        if spec.realm not in {r["realm"] for r in admin.get_realms()}:
            return {}
        admin.change_current_realm(spec.realm)
        read = LiveRead(admin, spec)
        return {address: fields for kind in KINDS for address, fields in kind.live(read)}


def diff(desired: State, live: State) -> list[Change]:
    changes: list[Change] = []
    for address, wanted in desired.items():
        current = live.get(address)
        if current is None:
            changes.append(Change(Action.CREATE, address))
            continue
        fields: list[FieldChange] = []
        for name, value in wanted.items():
            if name in _IGNORED:
                continue
            if isinstance(value, dict):
                have = current.get(name) or {}
                for key, sub in value.items():
                    if have.get(key) != sub:
                        fields.append(FieldChange(f"{name}.{key}", have.get(key), sub))
            elif _normalise(name, current.get(name)) != _normalise(name, value):
                fields.append(FieldChange(name, current.get(name), value))
        if fields:
            changes.append(Change(Action.UPDATE, address, fields))
    for address in live.keys() - desired.keys():
        changes.append(Change(Action.UNMANAGED, address))
    return sorted(changes, key=lambda c: (c.address.split("/")[0] != "realm", c.address))


def plan(admin: KeycloakAdmin, spec: RealmSpec) -> list[Change]:
    return diff(desired_state(spec), live_state(admin, spec))


def render(changes: list[Change]) -> str:
    if not changes:
        return "Không có thay đổi / No changes: the live realm matches the files."
    counts = {action: sum(c.action is action for c in changes) for action in Action}
    body = "\n".join(change.render() for change in changes)
    return (
        f"{body}\n\nPlan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.UNMANAGED]} unmanaged (left as they are)."
    )
