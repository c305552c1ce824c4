"""Times shown to people: local (Asia/Ho_Chi_Minh) with the zone; machine text left as it is."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway_runtime.local_time import for_people


def test_a_utc_moment_is_shown_in_vietnam_time_with_its_zone() -> None:
    moment = datetime(2026, 12, 1, 17, 30, 5, tzinfo=UTC)
    assert for_people(moment) == "02/12/2026 00:30:05 (UTC+07:00)"


def test_iso_text_naive_and_z_forms_are_read_as_utc() -> None:
    assert for_people("2026-12-01T17:30:05Z") == "02/12/2026 00:30:05 (UTC+07:00)"
    assert for_people("2026-12-01T17:30:05+00:00") == "02/12/2026 00:30:05 (UTC+07:00)"
    assert for_people(datetime(2026, 12, 1, 17, 30, 5)) == "02/12/2026 00:30:05 (UTC+07:00)"


def test_nothing_and_non_times() -> None:
    assert for_people(None) == "-"
    assert for_people("") == "-"
    assert for_people("hôm qua") == "hôm qua"
