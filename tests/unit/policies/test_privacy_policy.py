"""Law 91/2025/QH15, Article 23: the breach-notification deadline, and how the dashboard shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.routes.dashboard.alerts import breach_line as _breach_line
from policies.errors import PolicyFileError
from policies.privacy import default_privacy_policy, load_privacy_policy


def test_deadline_is_72_hours_after_the_declaration() -> None:
    declared = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert default_privacy_policy().breach_deadline(declared) == declared + timedelta(hours=72)
    assert "citizen_id" in default_privacy_policy().basic_personal_fields


def test_dashboard_line_counts_down_then_reports_overdue_or_met() -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    deadline = (now + timedelta(hours=10)).isoformat()
    assert "còn 10 giờ" in _breach_line(
        {"breach_deadline": deadline, "action": "declare-breach"}, now
    )
    late = _breach_line(
        {"breach_deadline": deadline, "action": "declare-breach"}, now + timedelta(hours=13)
    )
    assert "QUÁ HẠN 3 giờ" in late and "sev-critical" in late
    assert "đã thông báo" in _breach_line(
        {"breach_deadline": deadline, "action": "breach-notified"}, now
    )
    assert _breach_line(None) == ""


def test_bad_privacy_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "privacy.yaml"
    path.write_text(
        "breach_notification_hours: 0\nbasic_personal_fields: [a]\nsensitive_personal_fields: [b]\n"
    )
    with pytest.raises(PolicyFileError, match="breach_notification_hours"):
        load_privacy_policy(path)
