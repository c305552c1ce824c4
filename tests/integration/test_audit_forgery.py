"""Insiders and intruders writing history through Redis, with each service's real credentials (its
Redis ACL user), against the real audit service: forged events are quarantined and raise an alert,
each producer's user can only append, a replayed event is stored once, a future-dated one is
flagged and cannot silence a detection rule; failed logins of no known account are attributed
each to its own name, client or address."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.keycloak_events import pseudonym
from audit.producers import HmacSealer, Producer, decode_key
from audit.store import EventSearch, EventStore, QuarantinedEntry, open_store
from audit.trail import FIELD, MAC_FIELD, PRODUCER_FIELD, STREAM, stream_of
from devstack import Stack, StackInfo
from tests.conftest import AlertInbox, TokenFactory
from tests.keycloak_login import fail_login

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]


def _as(stack: Stack, info: StackInfo, user: str) -> redis.Redis:
    """A Redis connection with a service's own credentials (its ACL user)."""
    return redis.Redis.from_url(
        info.redis_url, username=user, password=stack.redis_password(user), socket_timeout=5
    )


def _xadd(connection: redis.Redis, user: str, fields: dict[str, Any]) -> str:
    """Append one entry to ``user``'s own audit stream; the entry's name in the quarantine
    (``signing/<entry id>``: ids are unique within a stream only)."""
    add: Any = connection.xadd  # redis-py types the fields narrowly
    return f"{user}/{add(stream_of(user), fields).decode()}"


def _command(connection: redis.Redis, *args: str) -> Any:
    run: Any = connection.execute_command
    return run(*args)


def _live_store(stack: Stack, tmp_path: Path) -> EventStore:
    """A consistent copy of the audit service's store, to read what it kept (and quarantined)."""
    source = sqlite3.connect(stack.folder / "audit" / "events.sqlite3")
    copy = tmp_path / f"copy-{time.monotonic_ns()}.sqlite3"
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return open_store(copy)


def _until(check: Callable[[], Any], seconds: float = 40) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("not reached in time")


def _events(info: StackInfo, reader: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{info.audit_url}/v1/events",
        params={"limit": "1000", **params},
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    ).json()["events"]
    return found


def _quarantined(stack: Stack, tmp_path: Path, entry_id: str) -> QuarantinedEntry | None:
    store = _live_store(stack, tmp_path)
    try:
        return next((q for q in store.quarantined(limit=10_000) if q.entry_id == entry_id), None)
    finally:
        store.close()


def _xadd_sealed(connection: redis.Redis, sealer: HmacSealer, event: AuditEvent) -> str:
    """An event XADDed as the signing service sends one: with its producer name and its seal."""
    payload = event.canonical_json().encode()
    return _xadd(
        connection,
        "signing",
        {FIELD: payload, PRODUCER_FIELD: "signing", MAC_FIELD: sealer.seal_one(payload).hex()},
    )


#: For each service's Redis user, an event it would profit from forging.
FORGERIES = {
    "signing": (EventTag.SIGNING_DOCUMENT_SIGN, "signing", {"document_sha256": "ab" * 32}),
    "accounts": (
        EventTag.IDP_ACCOUNT_ISSUE,
        "idp-config",
        {"username": "gv999", "change": "create"},
    ),
    "scanners": (EventTag.SCAN_FINDING_FIXED, "gateway-scan", {"rule": "IDP-008"}),
    "audit": (EventTag.IDP_LOGIN_SUCCESS, "keycloak", {"type": "LOGIN"}),
}


@pytest.mark.parametrize("user", list(FORGERIES))
@pytest.mark.parametrize("seal", ["no-seal", "made-up-seal"])
def test_an_event_forged_with_a_services_redis_user_is_quarantined_and_alerted(
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    alert_inbox: AlertInbox,
    tmp_path: Path,
    user: str,
    seal: str,
) -> None:
    """Attack: forgery with the Redis password alone (each service's real Redis user, without its
    producer key): a schema-valid event XADDed to the stream."""
    tag, service, target = FORGERIES[user]
    marker = secrets.token_hex(8)
    forged = AuditEvent.build(
        tag=tag,
        service=service,
        actor=Actor(name="demo.hieutruong"),
        outcome=Outcome.SUCCESS,
        target=target,
        correlation_id=marker,
    )
    fields: dict[str, Any] = {FIELD: forged.canonical_json()}
    if seal == "made-up-seal":
        fields |= {PRODUCER_FIELD: user, MAC_FIELD: secrets.token_hex(32)}
    entry_id = _xadd(_as(stack, stack_info, user), user, fields)

    quarantined = _until(lambda: _quarantined(stack, tmp_path, entry_id))
    assert quarantined.reason == ("unsealed" if seal == "no-seal" else "bad-seal")
    assert quarantined.producer == (None if seal == "no-seal" else user)
    assert forged.event_id in quarantined.payload  # kept as evidence
    reader = client_token("audit-reports")
    assert _events(stack_info, reader, correlation_id=marker) == []  # not stored as genuine
    key = f"{user if seal == 'made-up-seal' else '-'}:{quarantined.reason}"
    alerts = _until(
        lambda: [
            a
            for a in _events(stack_info, reader, tag="audit:alert:raise")
            if a["target"]["rule"] == "unauthenticated_event" and a["target"]["key"] == key
        ]
    )
    assert alerts[0]["target"]["severity"] == "critical"
    assert any(
        a["target"].get("rule") == "unauthenticated_event" and a["target"].get("key") == key
        for a in alert_inbox.received
    )


def test_a_producers_key_cannot_write_another_producers_events(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path
) -> None:
    """Attack: a compromised signing service (its key and its Redis user) forging a failed login
    and an alert: a valid seal, but not a tag the signing service records."""
    sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
    connection = _as(stack, stack_info, "signing")
    entries = []
    for tag in (EventTag.IDP_LOGIN_FAILURE, EventTag.AUDIT_ALERT_RAISE):
        forged = AuditEvent.build(
            tag=tag, service="keycloak", actor=Actor(name="demo.antt"), outcome=Outcome.FAILURE
        )
        entries.append(_xadd_sealed(connection, sealer, forged))
    for entry_id in entries:
        quarantined = _until(lambda: _quarantined(stack, tmp_path, entry_id))  # noqa: B023 - used at once
        assert (quarantined.producer, quarantined.reason) == ("signing", "tag-not-allowed")


def test_an_oversized_sealed_event_is_quarantined_and_the_ingest_goes_on(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path
) -> None:
    """Attack: one huge event (a compromised producer, with its key) to stop the log — too many
    words for PostgreSQL's index would fail every insert of its batch, for ever. Refused at the
    door instead: quarantined as too large, and the next event is stored."""
    sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
    connection = _as(stack, stack_info, "signing")
    marker = secrets.token_hex(8)
    entries = []
    for words in (20_000, 3):
        event = AuditEvent.build(
            tag=EventTag.SIGNING_DOCUMENT_SIGN,
            service="signing",
            actor=Actor(name="client:demo-eoffice"),
            outcome=Outcome.SUCCESS,
            target={"note": " ".join(f"w{n}" for n in range(words))},
            correlation_id=f"{marker}{words}"[:64],
        )
        entries.append(_xadd_sealed(connection, sealer, event))
    quarantined = _until(lambda: _quarantined(stack, tmp_path, entries[0]))
    assert (quarantined.producer, quarantined.reason) == ("signing", "too-large")
    reader = client_token("audit-reports")
    assert _until(lambda: _events(stack_info, reader, correlation_id=f"{marker}3"))
    assert _events(stack_info, reader, correlation_id=f"{marker}20000") == []


#: What a producer's user must not do to its own audit stream (``OWN``), to another producer's
#: (``OTHER``), to the stream all producers shared until 2026-12-04, or to Redis: each refused.
OWN, OTHER = "{own}", "{other}"
FORBIDDEN: list[tuple[str, ...]] = [
    ("XREADGROUP", "GROUP", "audit-store", "x", "COUNT", "1", "STREAMS", OWN, ">"),
    ("XREAD", "COUNT", "1", "STREAMS", OWN, "0"),
    ("XRANGE", OWN, "-", "+", "COUNT", "1"),
    ("XLEN", OWN),
    ("XDEL", OWN, "0-1"),
    ("XTRIM", OWN, "MAXLEN", "0"),
    ("XACK", OWN, "audit-store", "0-1"),
    ("XAUTOCLAIM", OWN, "audit-store", "x", "0", "0-0"),
    ("XGROUP", "DESTROY", OWN, "audit-store"),
    ("XGROUP", "SETID", OWN, "audit-store", "$"),
    ("DEL", OWN),
    ("RENAME", OWN, "elsewhere"),
    ("EXPIRE", OWN, "1"),
    # Another producer's events: neither added to nor trimmed (XADD's MAXLEN) with these credentials.
    ("XADD", OTHER, "*", "x", "y"),
    ("XADD", OTHER, "MAXLEN", "0", "*", "x", "y"),
    ("XADD", STREAM, "MAXLEN", "0", "*", "x", "y"),
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "SET", "appendfsync", "no"),
    ("ACL", "SETUSER", "signing", "+@all"),
    ("KEYS", "*"),
    ("EVAL", "return redis.call('DEL', 'audit:events')", "0"),
    ("SET", "keycloak-events:education:login:checkpoint", "{}"),
]


@pytest.mark.parametrize("user", ["signing", "accounts", "scanners"])
def test_a_producers_redis_user_may_append_and_nothing_else(
    stack: Stack, stack_info: StackInfo, user: str
) -> None:
    """Attack: a producer's Redis credentials used to read, trim, delete, flush or reconfigure —
    to lose events before the audit service has them, or to learn what others recorded."""
    connection = _as(stack, stack_info, user)
    other = stream_of("audit" if user == "signing" else "signing")
    refused = []
    for template in FORBIDDEN:
        command = tuple(
            stream_of(user) if a == OWN else other if a == OTHER else a for a in template
        )
        try:
            _command(connection, *command)
        except (NoPermissionError, ResponseError) as exc:
            message = str(exc)
            if "permission" in message.lower() or "can't access" in message:  # NOPERM, scripts
                refused.append(command[0])
                continue
            raise
    assert refused == [c[0] for c in FORBIDDEN]
    assert connection.ping()


def test_a_producer_trimming_the_stream_through_xadd_is_alerted(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """Attack: what the ACL cannot refuse — ``XADD ... MAXLEN 0`` with a producer's credentials
    trims that producer's own stream, its unread events with it (the attacker's own entry, and
    whatever else of its own was still unread; another producer's stream it cannot reach:
    ``test_a_producers_redis_user_may_append_and_nothing_else``). The running audit service sees
    an entry removed before it read it, and names the stream."""
    reader = client_token("audit-reports")

    def tampered() -> list[dict[str, Any]]:
        return [
            a
            for a in _events(stack_info, reader, tag="audit:alert:raise")
            if a["target"]["rule"] == "stream_tampered"
        ]

    assert tampered() == []  # no false alarm from everything the tests recorded so far
    scanners = stream_of("scanners")
    _command(_as(stack, stack_info, "scanners"), "XADD", scanners, "MAXLEN", "0", "*", "x", "y")
    alerts = _until(tampered)
    summary = alerts[0]["target"]["summary"]
    # The attacker's own entry at least, and whatever of the scanners' was still unread: every
    # one of them lost, and counted.
    removed = re.search(r"(\d+) entries were removed", summary)
    assert removed is not None and int(removed.group(1)) >= 1, summary
    assert f"from the audit stream {scanners} before the audit service read them" in summary


def test_nobody_gets_in_without_a_user_of_their_own(stack: Stack, stack_info: StackInfo) -> None:
    """Attack: the shared password of old (the ``default`` user) — it is off."""
    with pytest.raises(AuthenticationError):
        redis.Redis.from_url(stack_info.redis_url, socket_timeout=5).ping()
    with pytest.raises(AuthenticationError):
        redis.Redis.from_url(
            stack_info.redis_url, password=stack.redis_password("audit"), socket_timeout=5
        ).ping()
    # Not even the audit service's own user may flush or reconfigure.
    audit = _as(stack, stack_info, "audit")
    for command in (("FLUSHALL",), ("CONFIG", "SET", "appendfsync", "no"), ("DEL", STREAM)):
        with pytest.raises(NoPermissionError):
            _command(audit, *command)


def test_a_replayed_event_is_stored_once(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """Attack: replay — a genuine sealed entry (same seal) appended again, three times."""
    sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
    marker = secrets.token_hex(8)
    genuine = AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_VERIFY,
        service="signing",
        actor=Actor(name="client:demo-eoffice"),
        outcome=Outcome.SUCCESS,
        correlation_id=marker,
    )
    payload = genuine.canonical_json().encode()
    fields = {FIELD: payload, PRODUCER_FIELD: "signing", MAC_FIELD: sealer.seal_one(payload).hex()}
    connection = _as(stack, stack_info, "signing")
    _xadd(connection, "signing", fields)
    reader = client_token("audit-reports")
    _until(lambda: _events(stack_info, reader, correlation_id=marker))
    for _ in range(3):
        _xadd(connection, "signing", fields)
    time.sleep(3)  # the replays are read and acknowledged within a batch or two
    stored = _events(stack_info, reader, correlation_id=marker)
    assert [e["event_id"] for e in stored] == [genuine.event_id]


def _fail_logins(info: StackInfo, username: str, times: int) -> None:
    for _ in range(times):
        fail_login(info.issuer, username)


def test_future_dated_failures_are_flagged_and_cannot_silence_brute_force_detection(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path
) -> None:
    """Attack: five failed logins dated 2099, sealed with a real producer key (a compromised
    producer), to push the brute-force window and its alert suppression past any real attempt."""
    name = f"ghost{secrets.token_hex(4)}"  # no such account: attributed to its pseudonym
    actor = pseudonym(name, stack.secrets.get("audit:pseudonym-key").encode())
    sealer = HmacSealer(Producer.AUDIT, decode_key(stack.producer_key(Producer.AUDIT)))
    connection = _as(stack, stack_info, "audit")
    forged = []
    for n in range(5):
        event = AuditEvent.build(
            tag=EventTag.IDP_LOGIN_FAILURE,
            service="keycloak",
            actor=Actor(name=actor, client_id="admin-cli"),
            outcome=Outcome.FAILURE,
            reason="user_not_found",
        ).model_copy(update={"time": datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=n)})
        payload = event.canonical_json().encode()
        _xadd(
            connection,
            "audit",
            {FIELD: payload, PRODUCER_FIELD: "audit", MAC_FIELD: sealer.seal_one(payload).hex()},
        )
        forged.append(event.event_id)
    reader = client_token("audit-reports")
    skew = _until(
        lambda: [
            a
            for a in _events(stack_info, reader, tag="audit:alert:raise")
            if a["target"]["rule"] == "event_time_skew" and a["target"]["trigger_event"] in forged
        ]
    )
    assert skew[0]["actor"]["name"] == actor
    store = _live_store(stack, tmp_path)
    try:
        stored = [
            store.search(EventSearch(tag="idp:login:failure", text=event_id), limit=2)
            for event_id in forged
        ]
    finally:
        store.close()
    # Stored (they are sealed), each with the time it was received: flagged, and shown so.
    assert all(len(found) == 1 and found[0].received_at is not None for found in stored)

    _fail_logins(stack_info, name, 6)  # real attempts now, through Keycloak and its collector
    brute = _until(
        lambda: [
            a
            for a in _events(stack_info, reader, tag="audit:alert:raise")
            if a["target"]["rule"] == "brute_force_account" and a["actor"]["name"] == actor
        ]
    )
    assert len(brute) == 1
    assert brute[0]["time"] < "2099"  # raised at the real attempts' time


def test_a_producer_cannot_take_the_id_of_an_alert_still_to_come(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """Attack: a compromised signing service stores a harmless event under the id the audit service
    will give the alert about its next, future-dated event (ids were the SHA-256 of a name anyone
    could form): the alert, arriving second, was dropped as a duplicate and never shown. Alert ids
    are now keyed with a secret of the audit service."""
    sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
    connection = _as(stack, stack_info, "signing")
    future = AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_VERIFY,
        service="signing",
        actor=Actor(name="client:demo-eoffice"),
        outcome=Outcome.SUCCESS,
    ).model_copy(update={"time": datetime(2099, 6, 1, tzinfo=UTC)})
    foreseen = hashlib.sha256(f"alert:event_time_skew:{future.event_id}".encode()).hexdigest()
    marker = secrets.token_hex(8)
    squatter = AuditEvent.build(
        tag=EventTag.SIGNING_DOCUMENT_VERIFY,
        service="signing",
        actor=Actor(name="client:demo-eoffice"),
        outcome=Outcome.SUCCESS,
        correlation_id=marker,
    ).model_copy(update={"event_id": foreseen[:32]})
    _xadd_sealed(connection, sealer, squatter)
    reader = client_token("audit-reports")
    _until(lambda: _events(stack_info, reader, correlation_id=marker))
    _xadd_sealed(connection, sealer, future)
    alerts = _until(
        lambda: [
            a
            for a in _events(stack_info, reader, tag="audit:alert:raise")
            if a["target"].get("trigger_event") == future.event_id
        ]
    )
    assert alerts[0]["target"]["rule"] == "event_time_skew"
    assert alerts[0]["event_id"] != foreseen[:32]


def test_failed_logins_of_no_known_account_are_attributed_each_to_its_own_name_or_client(
    stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """Failures naming no account (``user_not_found``) and with no user at all (``invalid_client``)
    are not lumped under one ``unknown`` actor (which raised a false brute-force alert mixing
    unrelated attempts): each is attributed to the name typed (pseudonymised), or the client."""
    key = stack.secrets.get("audit:pseudonym-key").encode()
    first, second = f"nobody{secrets.token_hex(3)}", f"noone{secrets.token_hex(3)}"
    client = f"no-such-client-{secrets.token_hex(3)}"
    _fail_logins(stack_info, first, 3)
    _fail_logins(stack_info, second, 3)
    for _ in range(3):
        httpx.post(
            f"{stack_info.issuer}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials", "client_id": client, "client_secret": "x"},
            timeout=10,
        )
    reader = client_token("audit-reports")
    expected = {pseudonym(first, key), pseudonym(second, key), f"client:{client}"}

    def attributed() -> dict[str, int]:
        counts: dict[str, int] = {}
        for event in _events(stack_info, reader, tag="idp:login:failure"):
            if event["actor"]["name"] in expected:
                counts[event["actor"]["name"]] = counts.get(event["actor"]["name"], 0) + 1
        return counts if len(counts) == 3 and min(counts.values()) >= 3 else {}

    counts = _until(attributed)
    assert counts == dict.fromkeys(expected, 3)
    failures = _events(stack_info, reader, tag="idp:login:failure")
    text = json.dumps(failures)
    assert first not in text and second not in text  # the names typed are pseudonymised
    assert all(
        e["target"].get("account") == "unknown" for e in failures if e["actor"]["name"] in expected
    )
    time.sleep(3)  # detection runs on each stored batch: give it the batch after the last one
    alerts = _events(stack_info, reader, tag="audit:alert:raise")
    assert not [
        a
        for a in alerts
        if a["target"]["rule"] == "brute_force_account"
        and (a["actor"]["name"] in expected or a["actor"]["name"] == "unknown")
    ]


def test_the_token_seals_as_the_audit_service_checks(stack: Stack) -> None:
    """The signing service seals with its key in the token (never out of it): the seal is the one
    the audit service computes with the key it holds."""
    from devstack import softhsm
    from devstack.stack import SIGNING_AUDIT_MAC_KEY, TOKEN_LABEL
    from gateway_runtime.keystore import TokenKeystore

    keystore = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    try:
        message = b"edu-gateway/audit-event/v1\nsigning\n{}"
        [in_token] = keystore.hmac_sha256(SIGNING_AUDIT_MAC_KEY, [message])
    finally:
        keystore.close()
    sealer = HmacSealer(Producer.SIGNING, decode_key(stack.producer_key(Producer.SIGNING)))
    assert in_token == sealer.seal_one(b"{}")
