from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.detection import DEFAULT_CONFIG, Detector, load_detection_config
from audit.errors import AuditError

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội


def _event(tag: EventTag, actor: str, seconds: int, **extra: object) -> AuditEvent:
    fields: dict[str, object] = {
        "tag": tag,
        "event_class": tag.event_class,
        "time": T0 + timedelta(seconds=seconds),
        "service": "keycloak",
        "actor": Actor(name=actor),
        "outcome": Outcome.FAILURE,
    }
    fields.update(extra)
    return AuditEvent.model_validate(fields)


@pytest.fixture
def detector() -> Detector:
    return Detector(load_detection_config())


def test_brute_force_on_one_account_raises_one_alert(detector: Detector) -> None:
    failures = [_event(EventTag.IDP_LOGIN_FAILURE, "hmac:abc", i * 10) for i in range(12)]
    alerts = detector.observe(failures)
    assert [a.target["rule"] for a in alerts] == ["brute_force_account"]
    assert alerts[0].target["severity"] == "high"
    assert alerts[0].tag is EventTag.AUDIT_ALERT_RAISE


def test_failures_spread_over_time_raise_nothing(detector: Detector) -> None:
    failures = [_event(EventTag.IDP_LOGIN_FAILURE, "u", i * 400) for i in range(10)]
    assert detector.observe(failures) == []


def test_password_spraying_from_one_address(detector: Detector) -> None:
    attempts = [
        _event(EventTag.IDP_LOGIN_FAILURE, f"user{i}", i, source_ip="203.0.113.7")
        for i in range(10)
    ]
    assert [a.target["rule"] for a in detector.observe(attempts)] == ["password_spraying"]


def test_login_at_night_in_vietnam_is_unusual(detector: Detector) -> None:
    night = _event(EventTag.IDP_LOGIN_SUCCESS, "demo.hieutruong", 16 * 3600, outcome="success")
    day = _event(EventTag.IDP_LOGIN_SUCCESS, "demo.giaovien", 0, outcome="success")
    assert [a.target["rule"] for a in detector.observe([day, night])] == ["unusual_hour_login"]


def test_repeated_failed_verification_of_one_document(detector: Detector) -> None:
    events = [
        _event(
            EventTag.SIGNING_DOCUMENT_VERIFY,
            "anonymous",
            i,
            target={"document_sha256": "ab" * 32, "indication": "TOTAL_FAILED"},
        )
        for i in range(3)
    ]
    assert [a.target["rule"] for a in detector.observe(events)] == ["verification_failures"]


def test_role_grant_through_the_admin_api(detector: Detector) -> None:
    grant = _event(
        EventTag.IDP_ADMIN_CHANGE,
        "admin-id",
        0,
        target={
            "resource_type": "REALM_ROLE_MAPPING",
            "operation": "CREATE",
            "resource_path": "users/x/role-mappings/realm",
        },
    )
    assert [a.target["rule"] for a in detector.observe([grant])] == ["admin_privilege_grant"]


def test_bad_threshold_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "detection.yaml"
    path.write_text(DEFAULT_CONFIG.read_text().replace("threshold: 5,", "threshold: -1,"))
    with pytest.raises(AuditError, match=r"brute_force_account\.threshold"):
        load_detection_config(path)
