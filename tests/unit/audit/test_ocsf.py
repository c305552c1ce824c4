"""Stored events projected onto OCSF 1.3 classes, for SIEMs."""

from __future__ import annotations

from typing import Any

import pytest

from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.ocsf import OCSF_VERSION, to_ocsf

BASE = {"class_uid", "category_uid", "activity_id", "type_uid", "time", "severity_id", "metadata"}


def _stored(tag: EventTag, outcome: Outcome, **fields: Any) -> dict[str, Any]:
    event = AuditEvent.build(
        tag=tag,
        service=fields.pop("service", "test"),
        actor=fields.pop(
            "actor", Actor(name="Nguyễn Thị Lan", client_id="e-office", subject="u-1")
        ),
        outcome=outcome,
        **fields,
    )
    return event.model_dump(mode="json")


def test_a_failed_login_is_an_ocsf_authentication_logon() -> None:
    stored = _stored(
        EventTag.IDP_LOGIN_FAILURE,
        Outcome.FAILURE,
        reason="invalid_user_credentials",
        source={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
        target={"username": "gv000001"},
    )
    record = to_ocsf(stored, seq=42)
    assert record.keys() >= BASE
    assert (record["class_uid"], record["category_uid"], record["activity_id"]) == (3002, 3, 1)
    assert record["type_uid"] == 300201
    assert record["status_id"] == 2 and record["status_detail"] == "invalid_user_credentials"
    assert record["src_endpoint"] == {"ip": "203.0.113.7"}
    assert record["http_request"] == {"user_agent": "Mozilla/5.0"}
    assert record["user"] == {"name": "gv000001"}
    assert record["actor"]["user"] == {"name": "Nguyễn Thị Lan", "uid": "u-1"}
    assert record["actor"]["app_name"] == "e-office"
    assert record["metadata"]["version"] == OCSF_VERSION
    assert record["metadata"]["uid"] == stored["event_id"]
    assert record["metadata"]["sequence"] == 42
    assert record["metadata"]["log_name"] == "idp:login:failure"
    assert record["time"] > 1_700_000_000_000  # epoch milliseconds


def test_account_issuing_signing_and_findings_map_to_their_classes() -> None:
    issued = to_ocsf(
        _stored(EventTag.IDP_ACCOUNT_ISSUE, Outcome.SUCCESS, target={"username": "gv1"})
    )
    assert (issued["class_uid"], issued["activity_id"]) == (3001, 1)
    signed = to_ocsf(
        _stored(EventTag.SIGNING_DOCUMENT_SIGN, Outcome.SUCCESS, target={"sha256": "ab" * 32})
    )
    assert (signed["class_uid"], signed["category_uid"], signed["activity_id"]) == (6003, 6, 1)
    assert signed["unmapped"] == {"sha256": "ab" * 32}
    verified = to_ocsf(_stored(EventTag.SIGNING_DOCUMENT_VERIFY, Outcome.SUCCESS))
    assert verified["activity_id"] == 2  # Read
    finding = to_ocsf(
        _stored(
            EventTag.SCAN_FINDING_OPEN,
            Outcome.FAILURE,
            target={"rule": "IDP-008", "severity": "high", "fingerprint": "f1", "evidence": "x"},
        )
    )
    assert (finding["class_uid"], finding["severity_id"]) == (2003, 4)
    assert finding["finding_info"] == {"uid": "f1", "title": "IDP-008", "desc": "x"}
    alert = to_ocsf(
        _stored(EventTag.AUDIT_ALERT_RAISE, Outcome.FAILURE, target={"severity": "critical"})
    )
    assert (alert["class_uid"], alert["severity_id"]) == (2004, 5)


def test_every_tag_projects() -> None:
    for tag in EventTag:
        record = to_ocsf(_stored(tag, Outcome.SUCCESS))
        assert record.keys() >= BASE, tag
        assert record["type_uid"] == record["class_uid"] * 100 + record["activity_id"]


def _siem_checks_chain(records: list[dict[str, Any]]) -> None:
    """What a SIEM does with the ``record_integrity`` profile: each record's leaf is its raw data's,
    each fingerprint chains over the previous one, and each record names the one before it."""
    import hashlib

    from audit.records import leaf_of_body

    previous: dict[str, Any] | None = None
    for record in sorted(records, key=lambda r: r["metadata"]["sequence"]):
        assert "record_integrity" in record["metadata"]["profiles"]
        [attestation] = record["attestation_list"]
        received = (record.get("unmapped") or {}).get("received_at")
        leaf = leaf_of_body(record["raw_data"], received)
        assert attestation["uid"] == leaf.hex(), "raw data does not give the leaf"
        assert attestation["fingerprint"]["algorithm_id"] == 3  # SHA-256
        link = attestation.get("prev_event")
        before = bytes.fromhex(link["fingerprint"]["value"]) if link else bytes(32)
        assert attestation["fingerprint"]["value"] == hashlib.sha256(before + leaf).hexdigest()
        if previous is not None:
            assert link is not None and link["uid"] == previous["metadata"]["uid"]
            assert link["fingerprint"] == previous["attestation_list"][0]["fingerprint"]
            assert link["type_uid"] == previous["type_uid"]
        previous = record


def test_records_carry_their_place_in_the_chain_and_a_siem_can_check_it(tmp_path: Any) -> None:
    """OCSF 1.9's record_integrity profile, checked as a SIEM would — and attacked: a record's
    data altered, a record left out, a fingerprint replaced; each fails the SIEM's check."""
    import copy

    from audit.ocsf import ocsf_records
    from audit.store import EventSearch, open_store

    store = open_store(tmp_path / "events.sqlite3")
    events = [
        AuditEvent.build(
            tag=tag,
            service="test",
            actor=Actor(name=f"gv{n}"),
            outcome=Outcome.SUCCESS,
        )
        for n, tag in enumerate(
            [EventTag.IDP_LOGIN_SUCCESS, EventTag.SIGNING_DOCUMENT_SIGN, EventTag.IDP_ACCOUNT_ISSUE]
        )
    ]
    store.append(events, received_at={events[1].event_id: "2026-11-29T00:00:00+00:00"})
    records = ocsf_records(store, store.search(EventSearch(), limit=10))
    assert store.chain_id() and {r["attestation_list"][0]["chain_uid"] for r in records} == {
        store.chain_id()
    }
    store.close()
    assert OCSF_VERSION == "1.9.0"
    first = next(r for r in records if r["metadata"]["sequence"] == 1)
    assert "prev_event" not in first["attestation_list"][0]
    _siem_checks_chain(records)

    altered = copy.deepcopy(records)
    altered[0]["raw_data"] = altered[0]["raw_data"].replace("gv2", "gv9")
    with pytest.raises(AssertionError, match="leaf"):
        _siem_checks_chain(altered)
    with pytest.raises(AssertionError):
        _siem_checks_chain([r for r in records if r["metadata"]["sequence"] != 2])
    replaced = copy.deepcopy(records)
    replaced[1]["attestation_list"][0]["fingerprint"]["value"] = "00" * 32
    with pytest.raises(AssertionError):
        _siem_checks_chain(replaced)
