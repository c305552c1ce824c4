"""Retention against both databases: expired events leave the live log for archives, and both the
log and each archive still verify against the signed checkpoints."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import Actor, AuditEvent, ChainBroken, EventTag, Outcome
from audit.checkpoints import Checkpointer, MemoryCheckpointSigner
from audit.errors import ProofInvalid
from audit.retention import apply_retention, verify_archive
from audit.store import EventSearch, EventStore, open_store
from audit.verification import verify_log
from tests.audit_cli import run_audit_cli
from tests.raw_database import Raw

pytestmark = [pytest.mark.postgres]

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
POLICY = {"authentication": 365, "api_activity": 3650, "account_change": 1825, "finding": 1095}


def _event(tag: EventTag, n: int, days_ago: float) -> AuditEvent:
    return AuditEvent.build(
        tag=tag,
        service="test",
        actor=Actor(name=f"user{n}"),
        outcome=Outcome.SUCCESS,
        target={"n": str(n)},
    ).model_copy(update={"time": NOW - timedelta(days=days_ago)})


@pytest.fixture
def store(store_location: str) -> Iterator[EventStore]:
    opened = open_store(store_location)
    yield opened
    opened.close()


def _fill(store: EventStore) -> None:
    events = []
    for n in range(60):
        events.append(_event(EventTag.IDP_LOGIN_SUCCESS, n, 400 if n % 3 else 10))  # 40 expired
        events.append(_event(EventTag.SIGNING_DOCUMENT_SIGN, n, 400))  # 10 years: kept
    store.append(events)


def test_expired_events_move_to_archives_that_verify_and_the_log_still_verifies(
    store: EventStore, tmp_path: Path
) -> None:
    signer = MemoryCheckpointSigner()
    _fill(store)
    Checkpointer(store, signer).checkpoint()
    store.append([_event(EventTag.IDP_LOGIN_FAILURE, 999, 500)])  # expired, not yet signed over

    run = apply_retention(store, POLICY, tmp_path / "archives", now=NOW)

    assert run.archived == 40 and run.waiting == 1
    [archive] = run.archives
    assert verify_log(store, signer.public_key_pem).records == 121
    proven = verify_archive(archive.path, signer.public_key_pem)
    assert proven.records == 40 and proven.checkpoint.tree_size == 120
    assert verify_archive(archive.path, signer.public_key_pem, store=store).records == 40
    # The live log answers without them; the signatures (10 years) are all still there.
    logins = store.search(EventSearch(tag="idp:login:success"), limit=1000)
    assert len(logins) == 20
    assert len(store.search(EventSearch(tag="signing:document:sign"), limit=1000)) == 60
    assert store.search(EventSearch(actor="user1", tag="idp:login:success")) == []
    # A second run finds nothing new to archive; a new checkpoint lets the waiting one go.
    assert apply_retention(store, POLICY, tmp_path / "archives", now=NOW).archived == 0
    Checkpointer(store, signer).checkpoint()
    again = apply_retention(store, POLICY, tmp_path / "archives", now=NOW)
    assert again.archived == 1 and again.waiting == 0
    assert verify_log(store, signer.public_key_pem).records == 121
    assert verify_archive(again.archives[0].path, signer.public_key_pem).records == 1


def _rewrite(path: Path, change: object) -> Path:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    changed = change(lines)  # type: ignore[operator]
    out = path.with_name("tampered-" + path.name)
    out.write_bytes(gzip.compress(("\n".join(changed) + "\n").encode()))
    return out


def test_an_archive_altered_or_cut_short_fails_and_the_log_names_the_record(
    store: EventStore, tmp_path: Path
) -> None:
    signer = MemoryCheckpointSigner()
    _fill(store)
    Checkpointer(store, signer).checkpoint()
    [archive] = apply_retention(store, POLICY, tmp_path, now=NOW).archives

    def alter(lines: list[str]) -> list[str]:
        record = json.loads(lines[3])
        record["body"] = record["body"].replace('"success"', '"failure"')
        return [*lines[:3], json.dumps(record), *lines[4:]]

    def drop(lines: list[str]) -> list[str]:
        return [lines[0].replace('"records": 40', '"records": 39'), *lines[1:3], *lines[4:]]

    altered = _rewrite(archive.path, alter)
    with pytest.raises(ProofInvalid, match="do not give the root"):
        verify_archive(altered, signer.public_key_pem)
    altered_seq = json.loads(gzip.decompress(archive.path.read_bytes()).splitlines()[3])["seq"]
    with pytest.raises(ChainBroken, match=f"archived record seq {altered_seq} was altered"):
        verify_archive(altered, signer.public_key_pem, store=store)
    with pytest.raises(ProofInvalid):
        verify_archive(_rewrite(archive.path, drop), signer.public_key_pem)
    with pytest.raises(ProofInvalid, match="not this one"):
        verify_archive(archive.path, MemoryCheckpointSigner().public_key_pem)

    # Attack class: records made up, "proven" by a subtree covering them — the root of the whole
    # tree, copied from the genuine signed checkpoint in the header, as the archive's only node.
    def made_up(lines: list[str]) -> list[str]:
        header = json.loads(lines[0])
        size, root = header["checkpoint"]["tree_size"], header["checkpoint"]["root_hash"]
        records = [json.loads(line) for line in lines[1:] if '"seq"' in line]
        for record in records:
            record["body"] = record["body"].replace('"success"', '"failure"')
        return [lines[0], *map(json.dumps, records), json.dumps({"node": [0, size, root]})]

    with pytest.raises(ProofInvalid, match="not exactly those the records leave out"):
        verify_archive(_rewrite(archive.path, made_up), signer.public_key_pem)
    bomb = tmp_path / "bomb.jsonl.gz"  # 64 MiB of one line, 64 KiB on disk
    bomb.write_bytes(gzip.compress(b"[" * (64 * 1024 * 1024)))
    with pytest.raises(ProofInvalid, match="longer than"):
        verify_archive(bomb, signer.public_key_pem)
    garbage = tmp_path / "garbage.jsonl.gz"
    garbage.write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(ProofInvalid, match="not a readable archive"):
        verify_archive(garbage, signer.public_key_pem)


def test_nothing_is_archived_from_a_log_that_no_longer_matches_its_checkpoint(
    store: EventStore, store_location: str, tmp_path: Path
) -> None:
    signer = MemoryCheckpointSigner()
    _fill(store)
    Checkpointer(store, signer).checkpoint()
    raw = Raw(store_location)
    raw.drop_guards()
    raw.run("UPDATE events SET leaf_hash = chain_hash WHERE seq = 7")
    raw.close()
    with pytest.raises(ChainBroken, match="no longer matches"):
        apply_retention(store, POLICY, tmp_path / "archives", now=NOW)
    assert list((tmp_path / "archives").iterdir()) == []
    assert len(store.search(EventSearch(), limit=1000)) == 120


def test_the_command_line_archives_and_verifies(store_location: str, tmp_path: Path) -> None:
    """The same commands on both databases; PostgreSQL's URL comes from the environment (never on
    the command line, where other users of the machine would see its password)."""
    signer = MemoryCheckpointSigner()
    store = open_store(store_location)
    _fill(store)
    Checkpointer(store, signer).checkpoint()
    store.close()
    key = tmp_path / "checkpoint.pem"
    key.write_bytes(signer.public_key_pem)
    where = (
        {"AUDIT_DATABASE_URL": store_location}
        if store_location.startswith("postgresql://")
        else {"AUDIT_STORE_PATH": store_location}
    )

    def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_audit_cli(*args, env={**where, **(env or {})})

    # Retention is a year at least: a shorter setting is refused, nothing archived.
    short = cli(
        "retain", "--archive-dir", str(tmp_path / "a"),
        env={"AUDIT_RETENTION_DAYS": '{"authentication": 30}'},
    )  # fmt: skip
    assert short.returncode != 0 and "365" in short.stdout + short.stderr
    typo = cli(
        "retain", "--archive-dir", str(tmp_path / "a"),
        env={"AUDIT_RETENTION_DAYS": '{"authentification": 400}'},
    )  # fmt: skip
    assert typo.returncode != 0 and "authentication" in typo.stdout + typo.stderr
    assert not (tmp_path / "a").exists()
    done = cli("retain", "--archive-dir", str(tmp_path / "a"))
    assert done.returncode == 0, done.stdout + done.stderr
    # The real clock: the fixture's events are 400 days old, the policy's logins 365.
    assert "40 records archived" in done.stdout
    [archive] = (tmp_path / "a").iterdir()
    checked = cli("verify-archive", str(archive), "--public-key", str(key))
    assert checked.returncode == 0 and "VERIFIED" in checked.stdout, checked.stdout
    whole = cli("verify", "--public-key", str(key))
    assert whole.returncode == 0 and "120 records" in whole.stdout, whole.stdout
    assert store_location.split("@")[0] not in whole.stdout + whole.stderr
