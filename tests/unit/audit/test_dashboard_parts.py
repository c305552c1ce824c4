"""Pieces of the dashboard that need no browser: CSV safety, charts, search and histograms."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.charts import Series, bar_chart
from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.exports import events_csv, safe_cell
from audit.reports import period_summary
from audit.store import EventSearch, SqliteEventStore


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\t=x", "'\t=x"),
        ("\r=x", "'\r=x"),
        ("Nguyễn Thị Hoa", "Nguyễn Thị Hoa"),
        ("a=b", "a=b"),
        # Split on ";" by a spreadsheet set for Vietnamese: each part is a cell of its own.
        ("Mozilla;=1+1;", "Mozilla;'=1+1;"),
        ("=a;@b;c=d", "'=a;'@b;c=d"),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_made_inert(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def _event(
    tag: EventTag, actor: str, outcome: Outcome, when: datetime, **target: str
) -> AuditEvent:
    event = AuditEvent.build(
        tag=tag, service="test", actor=Actor(name=actor), outcome=outcome, target=target
    )
    return event.model_copy(update={"time": when})


def test_csv_export_round_trips_and_neutralises_every_column() -> None:
    row = {
        "seq": 1,
        "time": "2026-11-29T01:00:00+00:00",
        "tag": "signing:document:verify",
        "actor": {"name": "=evil()", "client_id": "demo"},
        "outcome": "success",
        "user_agent": "@SUM(1)",
        "target": {"document_sha256": "ab" * 32},
        "event_id": "e" * 32,
        "chain_hash": "c" * 64,
    }
    parsed = list(csv.DictReader(io.StringIO(events_csv([row]))))
    assert parsed[0]["actor"] == "'=evil()"
    assert parsed[0]["user_agent"] == "'@SUM(1)"
    assert parsed[0]["target"] == "document_sha256=" + "ab" * 32


def test_bar_chart_is_well_formed_svg_with_one_bar_segment_per_value() -> None:
    svg = bar_chart(
        "Đăng nhập <test>",
        ["01h", "02h", "03h"],
        [Series("ok", [1, 0, 3], "#0a0"), Series("failed", [2, 0, 0], "#a00")],
        chart_id="c",
    )
    root = ET.fromstring(svg)  # noqa: S314 - the SVG under test is generated here, not untrusted
    rects = [
        r
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.find("{http://www.w3.org/2000/svg}title") is not None
    ]
    assert len(rects) == 3  # zero values draw nothing
    assert "Đăng nhập <test>" in (root.find("{http://www.w3.org/2000/svg}title").text or "")  # type: ignore[union-attr]


def test_search_binds_every_value_and_histogram_counts(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    store.append(
        [
            _event(EventTag.IDP_LOGIN_FAILURE, "lan", Outcome.FAILURE, now - timedelta(hours=2)),
            _event(EventTag.IDP_LOGIN_FAILURE, "lan", Outcome.FAILURE, now - timedelta(hours=2)),
            _event(EventTag.IDP_LOGIN_SUCCESS, "lan", Outcome.SUCCESS, now - timedelta(hours=1)),
            _event(
                EventTag.SIGNING_DOCUMENT_SIGN,
                "client:demo",
                Outcome.SUCCESS,
                now,
                document_sha256="ab" * 32,
            ),
        ]
    )
    assert len(store.search(EventSearch(actor="lan"))) == 3
    assert len(store.search(EventSearch(actor="lan", outcome="failure"))) == 2
    assert len(store.search(EventSearch(document="ab" * 32))) == 1
    # Hostile text is a value, not SQL.
    assert store.search(EventSearch(text="' OR 1=1 --")) == []
    assert len(store.search(EventSearch(since=now - timedelta(minutes=90)))) == 2
    counts = store.histogram(
        ["idp:login:failure", "idp:login:success"], since=now - timedelta(days=1), bucket="hour"
    )
    hour = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H")
    assert counts[(hour, "idp:login:failure", "failure")] == 2
    summary = period_summary(store, now - timedelta(days=1), now + timedelta(seconds=1))
    assert summary.total == 4 and summary.signatures == 1
    assert summary.failures_by_actor["lan"] == 2
    store.close()
