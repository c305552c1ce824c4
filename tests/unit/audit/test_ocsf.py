"""Stored events projected onto OCSF 1.3 classes, for SIEMs."""

from __future__ import annotations

from typing import Any

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
