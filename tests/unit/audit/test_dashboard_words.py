"""The dashboard in words and in one language at a time: the language switch, what outcomes mean,
alert summaries said in Vietnamese, and alerts grouped by rule and subject."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.routes.dashboard.alerts import AlertCard, AlertFilter, alert_filter, group_alerts
from audit.routes.dashboard.language import (
    COOKIE,
    LanguageMiddleware,
    Text,
    _back_to,
    current,
    t,
)
from audit.routes.dashboard.wording import alert_summary, event_name, outcome_of, target_words
from audit.store import StoredEvent
from audit.triage import TriageState


def _in_language(language: str, read: Any) -> Any:
    """``read()`` as a request whose cookie chose ``language`` would run it."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(read())

    cookie = f"other=1; {COOKIE}={language}".encode()
    scope = {"type": "http", "headers": [(b"cookie", cookie)]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        pass

    asyncio.run(LanguageMiddleware(app, cookie=COOKIE)(scope, receive, send))
    return seen[0]


def test_vietnamese_unless_english_was_chosen() -> None:
    hello = Text("Xin chào", "Hello")
    assert str(hello) == "Xin chào" and current() == "vi"
    assert _in_language("en", lambda: (str(hello), t("Có", "Yes"), current())) == (
        "Hello",
        "Yes",
        "en",
    )
    # Anything else, or a broken cookie header, is Vietnamese.
    assert _in_language("fr", lambda: str(hello)) == "Xin chào"
    assert _in_language('"; bad', lambda: str(hello)) == "Xin chào"
    # The choice lasts for the request only.
    assert str(hello) == "Xin chào"


@pytest.mark.parametrize(
    ("referer", "back"),
    [
        (None, "/dashboard"),
        ("http://localhost:8702/dashboard/alerts?state=new", "/dashboard/alerts?state=new"),
        # Attack class: open redirect through the switch's way back.
        ("https://evil.example/dashboard", "/dashboard"),
        ("http://localhost:8702/v1/events", "/dashboard"),
        ("http://localhost:8702/dashboard/language?to=en", "/dashboard"),
        # A used authorization code is not replayed (the refusal page is the callback's).
        ("http://localhost:8702/dashboard/callback?state=s&code=c", "/dashboard"),
    ],
)
def test_the_switch_goes_back_only_to_a_dashboard_page(referer: str | None, back: str) -> None:
    assert _back_to(referer) == back


def test_a_failed_verification_is_not_shown_as_a_success() -> None:
    verdict = outcome_of("signing:document:verify", "success", {"indication": "TOTAL_FAILED"})
    assert (verdict.words, verdict.css) == ("không hợp lệ", "failure")
    passed = outcome_of("signing:document:verify", "success", {"indication": "TOTAL_PASSED"})
    assert passed.css == "success"
    unsure = outcome_of("signing:document:verify", "success", {"indication": "INDETERMINATE"})
    assert unsure.css == "warning"
    assert outcome_of("idp:login:failure", "failure", {}).words == "thất bại"
    assert outcome_of("audit:alert:raise", "failure", {}).words == "đã cảnh báo"


def test_events_alerts_and_targets_in_words() -> None:
    assert event_name("idp:login:failure") == "Đăng nhập thất bại"
    assert event_name("some:new:tag") == "some:new:tag"  # unnamed yet: as it is
    assert alert_summary("5 failed logins in 300 s") == "5 lần đăng nhập sai trong 300 giây"
    assert _in_language("en", lambda: alert_summary("5 failed logins in 300 s")) == (
        "5 failed logins in 300 s"
    )
    words = target_words({"indication": "TOTAL_FAILED", "document_sha256": "ab" * 32})
    assert words == "tài liệu: abababababab…; kết quả: không hợp lệ"


def _alert(n: int, rule: str, key: str, severity: str, minutes: int) -> StoredEvent:
    time = datetime(2026, 12, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    event = {
        "event_id": f"{n:032x}",
        "tag": "audit:alert:raise",
        "time": time.isoformat(),
        "actor": {"name": "admin"},
        "unit": "so-gddt",
        "target": {"rule": rule, "key": key, "severity": severity, "summary": "x"},
    }
    return StoredEvent(seq=n, chain_hash="", event=event)


def test_seventeen_identical_alerts_are_one_group_with_its_count() -> None:
    rows = [
        _alert(i, "admin_privilege_grant", "users/u1/role-mappings", "high", i) for i in range(17)
    ]
    rows += [_alert(100, "brute_force_account", "demo.giaovien", "medium", 500)]
    rows += [_alert(101, "unusual_hour_login", "demo.antt", "low", 600)]
    rows += [_alert(102, "brute_force_account", "demo.hieutruong", "medium", 700)]
    state = TriageState()
    groups = group_alerts(AlertCard.of(row, state) for row in rows)
    assert [(g.rule, g.subject, g.count) for g in groups] == [
        ("admin_privilege_grant", "users/u1/role-mappings", 17),
        ("brute_force_account", "demo.hieutruong", 1),  # same severity: the most recent first
        ("brute_force_account", "demo.giaovien", 1),
        ("unusual_hour_login", "demo.antt", 1),
    ]
    grants = groups[0]
    assert grants.alerts[0].moment > grants.alerts[-1].moment  # newest first within a group
    assert grants.first == "01/12/2026 10:00:00 (UTC+07:00)"
    assert grants.last == "01/12/2026 10:16:00 (UTC+07:00)"
    assert grants.states == {"new": 17} and grants.not_closed == 17


def test_the_alert_filter_takes_local_days_and_drops_what_does_not_fit() -> None:
    chosen = asyncio.run(alert_filter(
        severity="high", rule="admin_privilege_grant", state="new", since="2026-12-01",
        until="2026-12-01", subject="U1",
    ))  # fmt: skip
    search = chosen.search(None)
    # A day in Vietnam (UTC+7) starts at 17:00 UTC the day before.
    assert search.since == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert search.until == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    card = AlertCard.of(_alert(1, "admin_privilege_grant", "users/u1/x", "high", 0), TriageState())
    assert chosen.keeps(card)
    assert not AlertFilter(severity="low").keeps(card)
    bad = asyncio.run(
        alert_filter(
            severity="urgent", rule="x'; drop", state="any", since="1/12", until="", subject=""
        )
    )
    assert bad == AlertFilter(since="1/12")
    assert bad.search(None).since is None


def test_the_public_switch_goes_back_to_the_page_named_or_its_home() -> None:
    """Attack class: open redirect through the switch's ``back`` (the public pages send no
    Referer), answered with a path on this site only."""
    from gateway_runtime.language import back_to

    def back(value: str | None) -> str:
        return back_to(value, home="/verify", prefixes=("/verify",), avoid=("/verify/language",))

    assert back("/verify?ref=AB12") == "/verify?ref=AB12"
    assert back("https://evil.example/verify?ref=x") == "/verify?ref=x"
    assert back("//evil.example/verify") == "/verify"
    assert back("/dashboard/alerts") == "/verify"
    assert back("/verify/language?to=en") == "/verify"
    assert back(None) == "/verify"
