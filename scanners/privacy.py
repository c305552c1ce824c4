"""Scanner: personal data in the gateway's own records (Law 91/2025/QH15): the audit log's recent events
and the columns of every export, against the ``records`` rules (``policies/rules/privacy.yaml``).

It reads the audit store read-only (SQLite ``mode=ro``), newest events first, up to ``limit``;
findings name the event's sequence number, never the personal data found in it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from audit.exports import CSV_COLUMNS
from policies import Violation, evaluate_records
from policies.privacy import default_privacy_policy
from policies.privacy_checks import RecordsObservation
from scanners.errors import ScanTargetUnreachable

#: What the gateway exports, by name, with its columns (the dashboard's CSV; the PDF reports carry
#: counts and account names only).
EXPORTS = {"dashboard events CSV": list(CSV_COLUMNS)}


def scan_records(store: Path, *, limit: int = 20_000) -> list[Violation]:
    policy = default_privacy_policy()
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            rows = db.execute(
                # A record emptied by retention (archived) has no body left to hold personal data.
                "SELECT seq, body FROM events WHERE body IS NOT NULL ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
    except sqlite3.Error as exc:
        raise ScanTargetUnreachable(f"audit store: {type(exc).__name__}") from exc
    observation = RecordsObservation(
        events=[(int(seq), json.loads(body)) for seq, body in rows],
        exports=EXPORTS,
        personal_fields=frozenset(
            [*policy.basic_personal_fields, *policy.sensitive_personal_fields]
        ),
    )
    return evaluate_records(observation)
