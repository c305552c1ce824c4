"""The production topology losing a signing replica, the Redis primary, or PostgreSQL for a while.

Attack classes: loss of a signing replica mid-batch (a document signed twice or never, audited twice
or never); loss of the Redis primary under signing traffic (audit events lost or doubled, callers
failing while a primary exists); a database restart under Keycloak and the audit ingestor (manual
steps needed to recover). Each failure is bounded in time; all traffic goes to loopback.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from devstack import redis_sentinel
from devstack.demo import transcript_pdf
from devstack.ha import HaStack
from devstack.layout import StackInfo
from devstack.process import ManagedProcess
from tests.conftest import TokenFactory
from tests.ha.conftest import kill

pytestmark = pytest.mark.ha


def _pdf(n: int) -> bytes:
    return transcript_pdf([f"HOC BA {n}", "Lop 12A3 - Nam hoc 2026-2027"], pages=1)


def _events(info: StackInfo, token: str, **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{info.audit_url}/v1/events",
        params={"limit": "1000", **params},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def _logged(stack: HaStack, replica: str, event: str, batch_id: str) -> bool:
    log = stack.folder / "logs" / f"{replica}.log"
    for line in log.read_text(errors="replace").splitlines():
        if batch_id in line and event in line:
            return True
    return False


def _reason(answer: httpx.Response) -> str:
    """A refusal as "<status> <code>" ("?" when the body is not the gateway's error envelope)."""
    try:
        code = answer.json().get("code", "?")
    except ValueError:
        code = "?"
    return f"{answer.status_code} {code}"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_batch_goes_on_on_the_other_replica_when_its_replica_dies(
    ha_stack: HaStack, ha_info: StackInfo, ha_token: TokenFactory
) -> None:
    token = ha_token("demo-eoffice")
    total = 160
    pdf = _pdf(0)
    answer = httpx.post(
        f"{ha_info.signing_url}/v1/batches",
        files=[("documents", (f"hs-{i:03d}.pdf", pdf, "application/pdf")) for i in range(total)],
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "ha-replica-loss"},
        timeout=120,
    )
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["batch_id"]

    def status() -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(
            f"{ha_info.signing_url}/v1/batches/{batch_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        return result

    _until(lambda: status()["signed"] >= 10, 60, "the batch started")
    holders = [
        name
        for name in ("signing-1", "signing-2")
        if _logged(ha_stack, name, "batch.processing", batch_id)
    ]
    assert len(holders) == 1, f"one replica holds the batch, not {holders}"
    [holder] = holders
    signed_before = status()["signed"]
    assert signed_before < total, "the batch finished before the replica could be killed"
    kill(ManagedProcess(holder, ha_stack.folder))

    # Through the balancer, the other replica answers; once the dead one's lock expires (15 s),
    # it takes the batch over.
    _until(lambda: status()["status"] == "completed", 180, "the batch completed")
    final = status()
    assert (final["signed"], final["failed"]) == (total, 0)
    other = "signing-2" if holder == "signing-1" else "signing-1"
    assert _logged(ha_stack, other, "batch.processing", batch_id), "taken over by the other"

    reader = ha_token("audit-reports")
    _until(
        lambda: (
            len(
                [
                    e
                    for e in _events(ha_info, reader, tag="signing:document:sign")
                    if e["target"].get("batch_id") == batch_id
                ]
            )
            >= total
        ),
        60,
        "every document's audit event stored",
    )
    events = [
        e
        for e in _events(ha_info, reader, tag="signing:document:sign")
        if e["target"].get("batch_id") == batch_id
    ]
    indexes = sorted(int(e["target"]["index"]) for e in events)
    assert indexes == list(range(total)), "every document audited exactly once"
    assert {e["target"]["signed_sha256"] for e in events} == {
        d["signed_sha256"] for d in final["documents"]
    }, "the audited signature is the one delivered: none signed twice"
    print(f"{holder} killed at {signed_before}/{total} signed; {other} finished the batch")

    process = ManagedProcess(holder, ha_stack.folder)
    process.relaunch()
    port = ha_stack.ha_ports.signing_replicas[int(holder[-1]) - 1]
    process.wait_ready(lambda: _healthy(f"http://127.0.0.1:{port}/health"), timeout=60)


def test_signing_rides_a_redis_failover_and_its_audit_events_arrive_once(
    ha_stack: HaStack, ha_info: StackInfo, ha_token: TokenFactory
) -> None:
    token = ha_token("demo-eoffice")
    sentinel_password = ha_stack.redis_password(redis_sentinel.SENTINEL_USER)
    view = redis_sentinel.sentinel_view(ha_stack.ha_ports.sentinels[0], sentinel_password)
    primary_port = int(view["port"])
    victim = ManagedProcess(
        f"redis-{ha_stack.ha_ports.redis_servers.index(primary_port) + 1}", ha_stack.folder
    )
    done: list[tuple[float, str]] = []  # (time, request id)
    failed: list[tuple[float, str]] = []
    stop = threading.Event()

    def sign(worker: int) -> None:
        n = worker
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                try:
                    answer = client.post(
                        f"{ha_info.signing_url}/v1/documents:sign",
                        content=_pdf(n),
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/pdf",
                        },
                    )
                except httpx.HTTPError as exc:
                    failed.append((time.monotonic(), type(exc).__name__))
                else:
                    if answer.status_code == 200:
                        done.append((time.monotonic(), answer.headers["x-request-id"]))
                    else:
                        failed.append((time.monotonic(), _reason(answer)))
                n += 3

    workers = [threading.Thread(target=sign, args=(w,)) for w in range(3)]
    for thread in workers:
        thread.start()
    time.sleep(4.0)
    killed = time.monotonic()  # requests under way fail from this instant
    kill(victim)
    time.sleep(12.0)
    victim.relaunch()  # as the supervisor would; the sentinels make it a replica
    time.sleep(3.0)
    stop.set()
    for thread in workers:
        thread.join(timeout=60)

    new_primary = int(
        redis_sentinel.sentinel_view(ha_stack.ha_ports.sentinels[0], sentinel_password)["port"]
    )
    assert new_primary != primary_port, "the sentinels did not fail over"
    window = [t - killed for t, _ in failed]
    print(
        f"signed {len(done)}, refused {len(failed)} between {min(window, default=0):.1f} s and "
        f"{max(window, default=0):.1f} s after the kill: {dict(Counter(why for _, why in failed))}"
    )
    assert [t for t, _ in failed if t < killed] == []
    # Each refusal says why, in the gateway's envelope (the service's own, or the balancer's).
    assert all(why.split()[0] in ("502", "503") and "?" not in why for _, why in failed)
    # Signing went on through the failover (its audit events spooled while no primary existed);
    # a refusal, if any, is within the failover, never after it.
    assert len([t for t, _ in done if killed < t < killed + 5.0]) >= 3, "signing stopped"
    assert all(t - killed < 10.0 for t, _ in failed)
    assert len([t for t, _ in done if t > killed + 10.0]) >= 3, "signing did not resume"

    wanted = {request_id for _, request_id in done}
    assert ha_stack.postgres is not None
    database = ha_stack.postgres.admin_url.rsplit("/", 1)[0] + "/audit"

    def stored() -> Counter[str]:
        # The store itself (the API answers the newest 1,000 events at most).
        with psycopg.connect(database) as connection:
            rows = connection.execute(
                "SELECT body::json ->> 'correlation_id' FROM events WHERE tag = %s",
                ("signing:document:sign",),
            ).fetchall()
        return Counter(str(correlation) for (correlation,) in rows)

    _until(lambda: wanted <= set(stored()), 60, "every signature's audit event stored")
    counts = stored()
    assert all(counts[request_id] == 1 for request_id in wanted), "an audit event stored twice"


def test_postgres_restarts_under_keycloak_and_the_audit_ingestor(
    ha_stack: HaStack, ha_info: StackInfo, ha_token: TokenFactory
) -> None:
    assert ha_stack.postgres is not None
    token = ha_token("demo-eoffice")
    ha_stack.postgres.halt()
    try:
        # The database is gone: signing does not need it, and its audit event waits in Redis.
        answer = httpx.post(
            f"{ha_info.signing_url}/v1/documents:sign",
            content=_pdf(999),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        request_id = answer.headers["x-request-id"]
        time.sleep(3.0)
    finally:
        ha_stack.postgres.resume()
    restarted = time.monotonic()

    # Neither Keycloak nor the audit service needs a hand. Keycloak's pool still holds connections
    # of the stopped server for a moment (each fails once): recovered is ten tokens in a row.
    refused: list[str] = []
    in_a_row = 0

    def tokens_issued() -> bool:
        nonlocal in_a_row
        try:
            ha_token("audit-reports")
        except httpx.HTTPError as exc:
            refused.append(type(exc).__name__)
            in_a_row = 0
            return False
        in_a_row += 1
        return in_a_row >= 10

    _until(tokens_issued, 90, "Keycloak issues tokens again")
    print(f"Keycloak: {len(refused)} token requests refused after PostgreSQL came back")
    reader = ha_token("audit-reports")

    def event_stored() -> bool:
        try:
            return bool(_events(ha_info, reader, correlation_id=request_id))
        except httpx.HTTPError:
            return False

    _until(event_stored, 60, "the audit event of the outage is stored")
    print(f"recovered {time.monotonic() - restarted:.1f} s after PostgreSQL came back")
    [event] = _events(ha_info, reader, correlation_id=request_id)
    assert event["tag"] == "signing:document:sign"
