"""Personal data in the gateway's own records (Law 91/2025/QH15): the audit log and its exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.store import SqliteEventStore
from policies import evaluate_records
from policies.privacy_checks import RecordsObservation
from scanners.privacy import EXPORTS, scan_records

PERSONAL = frozenset({"full_name", "email", "citizen_id", "date_of_birth", "phone"})


def _event(target: dict[str, str]) -> AuditEvent:
    return AuditEvent.build(
        tag=EventTag.IDP_ACCOUNT_ISSUE,
        service="test",
        actor=Actor(name="account-issuing"),
        outcome=Outcome.SUCCESS,
        target=target,
    )


def test_the_audit_log_is_scanned_for_personal_fields_and_citizen_ids(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    digest = hashlib.sha256(b"079203001234").hexdigest()
    store.append(
        [
            _event({"username": "gv000001", "unit_code": "79760101"}),  # clean
            _event({"username": "gv000002", "document_sha256": digest}),  # hex: not an ID
            _event({"username": "gv000003", "note": "CCCD 079203001234 cấp lại"}),  # an ID
            _event({"username": "gv000004", "email": "lan@truong.vn"}),  # a personal field
            _event({"username": "gv000005", "serial": "1079203001234"}),  # 13 digits: not an ID
        ]
    )
    store.close()
    findings = scan_records(tmp_path / "events.sqlite3")
    by_rule = {(v.rule_id, v.subject) for v in findings}
    assert by_rule == {("PRIV-002", "audit event #3"), ("PRIV-001", "audit event #4")}
    assert all("079203001234" not in v.evidence for v in findings)
    assert next(v for v in findings if v.rule_id == "PRIV-001").evidence.endswith("target.email")


def test_records_emptied_by_retention_are_read_past(tmp_path: Path) -> None:
    """A log whose old records were archived and emptied (body NULL) is scanned, not crashed on."""
    import sqlite3

    store = SqliteEventStore(tmp_path / "events.sqlite3")
    store.append([_event({"username": "gv000001"}), _event({"email": "lan@truong.vn"})])
    store.close()
    db = sqlite3.connect(tmp_path / "events.sqlite3")
    db.execute("DROP TRIGGER events_no_update")  # as retention leaves a record, without a year
    db.execute("UPDATE events SET body = NULL, actor = '-', personal_digest = x'00' WHERE seq = 1")
    db.commit()
    db.close()
    findings = scan_records(tmp_path / "events.sqlite3")
    assert {(v.rule_id, v.subject) for v in findings} == {("PRIV-001", "audit event #2")}


def test_the_gateways_exports_are_minimised_and_a_personal_column_is_caught() -> None:
    clean = RecordsObservation(exports=EXPORTS, personal_fields=PERSONAL)
    assert evaluate_records(clean) == []
    leaky = RecordsObservation(
        exports={"staff list": ["username", "full_name", "unit_code"]}, personal_fields=PERSONAL
    )
    [finding] = evaluate_records(leaky)
    assert finding.rule_id == "PRIV-003" and "full_name" in finding.evidence


def test_an_unreadable_store_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from scanners.errors import ScanTargetUnreachable

    with pytest.raises(ScanTargetUnreachable, match="audit store"):
        scan_records(tmp_path / "missing.sqlite3")


def test_a_uuid_is_not_taken_for_a_citizen_id() -> None:
    """False positive found in CI: one UUID in ~280 ends in twelve decimal digits (Keycloak's user and
    session ids are UUIDs), which the scan read as a citizen ID. The same digits standing alone, or
    after a word and a hyphen, are still found."""
    from policies.privacy_checks import citizen_id_shaped

    assert not citizen_id_shaped('{"sub": "3f2a9c1e-7b4d-4e21-9a0b-079123456789"}')
    assert not citizen_id_shaped('{"sub": "3F2A9C1E-7B4D-4E21-9A0B-001185012345"}')
    assert citizen_id_shaped('{"note": "CCCD 079123456789"}')
    assert citizen_id_shaped('{"note": "CCCD-079123456789"}')
    assert citizen_id_shaped(
        '{"id": "079123456789", "sub": "3f2a9c1e-7b4d-4e21-9a0b-079123456789"}'
    )
    assert not citizen_id_shaped('{"note": "999123456789"}')  # no province 999
