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


def test_future_dated_failures_are_flagged_and_do_not_silence_brute_force(
    detector: Detector,
) -> None:
    """Attack: five failures dated 2099 (an event time chosen by whoever wrote them) must not move
    the window or the alert suppression ahead of the real attempts that follow."""
    from audit.detection import time_flags

    received = T0
    forged = [
        _event(EventTag.IDP_LOGIN_FAILURE, "hmac:victim", 0).model_copy(
            update={"time": datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=i)}
        )
        for i in range(5)
    ]
    flags = time_flags(forged, received, detector.config.event_time_skew)
    assert set(flags) == {e.event_id for e in forged}
    alerts = detector.observe(forged, flagged=flags)
    assert [a.target["rule"] for a in alerts] == ["event_time_skew"]  # one, not five
    assert alerts[0].target["trigger_event"] == forged[0].event_id
    real = [_event(EventTag.IDP_LOGIN_FAILURE, "hmac:victim", i * 10) for i in range(6)]
    assert time_flags(real, T0 + timedelta(seconds=60), detector.config.event_time_skew) == {}
    assert [a.target["rule"] for a in detector.observe(real)] == ["brute_force_account"]


def test_without_flags_a_future_time_would_have_silenced_the_rule(detector: Detector) -> None:
    """The control for the test above: the same forged events, not flagged, do silence it — so
    the flags are what protects the rule."""
    forged = [
        _event(EventTag.IDP_LOGIN_FAILURE, "hmac:victim", 0).model_copy(
            update={"time": datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=i)}
        )
        for i in range(5)
    ]
    assert [a.target["rule"] for a in detector.observe(forged)] == ["brute_force_account"]
    real = [_event(EventTag.IDP_LOGIN_FAILURE, "hmac:victim", i * 10) for i in range(6)]
    assert detector.observe(real) == []


def test_a_late_event_takes_its_place_in_the_window_and_suppression_never_goes_back(
    detector: Detector,
) -> None:
    on_time = [_event(EventTag.IDP_LOGIN_FAILURE, "u", 100 + i) for i in range(4)]
    assert detector.observe(on_time) == []
    late = _event(EventTag.IDP_LOGIN_FAILURE, "u", 90)  # ten seconds late, within the window
    assert [a.target["rule"] for a in detector.observe([late])] == ["brute_force_account"]
    much_older = _event(EventTag.IDP_LOGIN_FAILURE, "u", -1000)  # outside the window: not counted
    assert detector.observe([much_older]) == []
    more = [_event(EventTag.IDP_LOGIN_FAILURE, "u", 150 + i) for i in range(5)]
    assert detector.observe(more) == []  # still inside the first alert's suppression


def test_quarantined_entries_raise_one_alert_per_producer_and_reason_per_minute(
    detector: Detector,
) -> None:
    from audit.store import QuarantinedEntry

    def entry(n: int, producer: str | None, reason: str, at: datetime) -> QuarantinedEntry:
        return QuarantinedEntry(f"{n}-0", at.isoformat(), producer, reason, "{}")

    batch = [entry(i, "signing", "bad-seal", T0) for i in range(50)] + [
        entry(100, None, "unsealed", T0)
    ]
    alerts = detector.quarantined(batch)
    assert sorted(a.target["key"] for a in alerts) == ["-:unsealed", "signing:bad-seal"]
    assert all(a.target["severity"] == "critical" for a in alerts)
    signing = next(a for a in alerts if a.target["key"] == "signing:bad-seal")
    assert signing.target["summary"].startswith("50 stream entries")
    assert (
        detector.quarantined([entry(200, "signing", "bad-seal", T0 + timedelta(seconds=30))]) == []
    )
    later = detector.quarantined([entry(300, "signing", "bad-seal", T0 + timedelta(minutes=2))])
    assert [a.target["quarantine_entry"] for a in later] == ["300-0"]
