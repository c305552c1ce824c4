"""The retention task inside the running audit service, for real: the service's own loop (not the
command line) moves events older than their class's retention into an archive, records the archive
as an audit event, and both the archive and the live log still verify against the checkpoints the
service signed in its token and had witnessed.

A year of history cannot be waited for, and retention is at least 365 days: the log is given a year
of history while the service is stopped (events dated 400 days ago, appended through the store as
the service would have stored them then), then the service runs with a retention task every two
seconds.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.store import EventSearch, open_store
from devstack import Stack, StackInfo
from devstack.process import ManagedProcess
from tests.audit_cli import run_audit_cli
from tests.audit_events import wait_for_events
from tests.conftest import TokenFactory

pytestmark = pytest.mark.keycloak

OLD_LOGINS = 30
OLD_SIGNATURES = 5


def _old(tag: EventTag, n: int, days_ago: int) -> AuditEvent:
    return AuditEvent.build(
        tag=tag,
        service="keycloak" if tag is EventTag.IDP_LOGIN_SUCCESS else "signing",
        actor=Actor(name=f"retention.case.{n}"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    ).model_copy(update={"time": datetime.now(UTC) - timedelta(days=days_ago)})


def _restart_audit(stack: Stack, retention_interval: float) -> None:
    ManagedProcess("audit", stack.folder).stop()
    stack.retention_interval = retention_interval
    stack.up()  # brings back only what is down: the audit service


def test_the_running_service_archives_expired_events_and_both_still_verify(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path
) -> None:
    store_path = stack.folder / "audit" / "events.sqlite3"
    ManagedProcess("audit", stack.folder).stop()
    store = open_store(store_path)
    try:
        before = store.count()
        store.append(
            [_old(EventTag.IDP_LOGIN_SUCCESS, n, 400) for n in range(OLD_LOGINS)]  # 365 days
            + [_old(EventTag.SIGNING_DOCUMENT_SIGN, n, 400) for n in range(OLD_SIGNATURES)]
        )
    finally:
        store.close()
    archives_before = set(stack.archive_dir.glob("*")) if stack.archive_dir.exists() else set()

    _restart_audit(stack, retention_interval=2.0)
    try:
        recorded = wait_for_events(
            stack_info, client_token("audit-reports"), timeout=90, tag="audit:log:archive"
        )
        assert recorded, "the retention task never archived (no audit:log:archive event)"
    finally:
        _restart_audit(stack, retention_interval=86400.0)

    [archive] = set(stack.archive_dir.glob("*")) - archives_before
    [event] = recorded
    target = event["target"]
    assert isinstance(target, dict)
    assert target["archive"] == archive.name and target["records"] == str(OLD_LOGINS)
    first, last = (int(p) for p in str(target["positions"]).split(".."))
    assert first in (before, before + 1) and last - first + 1 == OLD_LOGINS

    key = str(stack.checkpoint_public_key)
    checked = run_audit_cli("verify-archive", str(archive), "--public-key", key)
    assert checked.returncode == 0 and "VERIFIED" in checked.stdout, checked.stdout
    assert f"{OLD_LOGINS} archived records" in checked.stdout, checked.stdout
    copy = tmp_path / "events.sqlite3"
    source, target_db = sqlite3.connect(store_path), sqlite3.connect(copy)
    source.backup(target_db)
    source.close()
    target_db.close()
    whole = run_audit_cli("verify", "--store", str(copy), "--public-key", key)
    assert whole.returncode == 0 and "VERIFIED" in whole.stdout, whole.stdout
    # Checked against the live log it came from, too.
    against = run_audit_cli(
        "verify-archive", str(archive), "--public-key", key, "--store", str(copy)
    )
    assert against.returncode == 0, against.stdout + against.stderr

    # The live log answers without the expired logins; the year-old signatures (10 years) stay.
    live = open_store(copy)
    try:
        people = [f"retention.case.{n}" for n in range(OLD_LOGINS)]
        assert not any(live.search(EventSearch(actor=p, tag="idp:login:success")) for p in people)
        kept = live.search(EventSearch(tag="signing:document:sign"), limit=100_000)
        assert (
            sum(e.event["actor"]["name"].startswith("retention.case.") for e in kept)
            == OLD_SIGNATURES
        )
    finally:
        live.close()
