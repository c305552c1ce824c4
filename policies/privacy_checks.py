"""The tests behind the personal-data rules (Law 91/2025/QH15): what the audit log and its exports hold.

They read records as the privacy scanner collects them: audit events (JSON bodies) and the column names
of every export, and look for personal data that minimisation should have kept out: fields named after
personal data (``policies/privacy.yaml``), and anything shaped like a citizen ID number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str]

#: 12 digits standing alone (not inside a longer number or a hex digest): the shape of a citizen ID.
_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{3})([0-9])([0-9]{2})([0-9]{6})(?![0-9A-Za-z])")
#: What comes before the last group of a UUID (``8-4-4-4-``): that group is 12 hex digits, all of them
#: decimal in one UUID of ~280 — Keycloak's user and session ids, event ids — and is no citizen ID.
_UUID_HEAD = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-$")


def citizen_id_shaped(text: str) -> bool:
    """Whether ``text`` holds a 12-digit number shaped like a citizen ID (a province code 001 to 096
    first), not counting the last group of a UUID."""
    for match in _CITIZEN_ID.finditer(text):
        if not 1 <= int(match.group(1)) <= 96:
            continue
        if _UUID_HEAD.search(text, max(0, match.start() - 24), match.start()):
            continue
        return True
    return False


@dataclass(frozen=True)
class RecordsObservation:
    #: Audit events, as stored (newest first), each with its sequence number.
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    #: Each export the gateway offers, by name, with its column names.
    exports: dict[str, list[str]] = field(default_factory=dict)
    #: Personal fields (basic and sensitive) from ``policies/privacy.yaml``.
    personal_fields: frozenset[str] = frozenset()


RecordsCheck = Callable[[RecordsObservation, dict[str, Any]], Iterator[Finding]]
RECORDS_CHECKS: dict[str, RecordsCheck] = {}


def records_check(function: RecordsCheck) -> RecordsCheck:
    RECORDS_CHECKS[function.__name__] = function
    return function


def _keys(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{prefix}{key}"
            yield from _keys(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item, prefix)


@records_check
def no_personal_fields_in_audit_events(
    observation: RecordsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    allowed = set(params.get("allowed", []))
    limit = int(params.get("max_findings", 20))
    reported = 0
    for seq, event in observation.events:
        named = {
            key
            for key in _keys(event)
            if key.rsplit(".", 1)[-1] in observation.personal_fields and key not in allowed
        }
        if named and reported < limit:
            reported += 1
            yield f"audit event #{seq}", f"personal field(s) {', '.join(sorted(named))}"


@records_check
def no_citizen_id_in_audit_events(
    observation: RecordsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    limit = int(params.get("max_findings", 20))
    reported = 0
    for seq, event in observation.events:
        if reported < limit and citizen_id_shaped(json.dumps(event, ensure_ascii=False)):
            reported += 1
            # The evidence says where, never the number itself.
            yield f"audit event #{seq}", "a 12-digit number shaped like a citizen ID"


@records_check
def exports_minimised(observation: RecordsObservation, params: dict[str, Any]) -> Iterator[Finding]:
    for name, columns in sorted(observation.exports.items()):
        personal = sorted(set(columns) & observation.personal_fields)
        if personal:
            yield f"export {name}", f"columns {', '.join(personal)} are personal data"
