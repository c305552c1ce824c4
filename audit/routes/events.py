"""The API of the log, for readers with the ``read-events`` role: the events (in the gateway's
schema or OCSF 1.9), the signed checkpoints, consistency and inclusion proofs, and the chain check.

Every listing of events is itself an audit event, recorded before the answer leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse

from audit.checkpoints import prove_event
from audit.deps import AuditorDep, Reader, ServicesDep
from audit.errors import InvalidQuery, NotCheckpointed, ProofInvalid
from audit.events import EventTag
from audit.note import b64
from audit.ocsf import ocsf_records
from audit.routes.threads import read_in_thread
from audit.store import EventStore, RetentionRule
from audit.tree import StoredTree
from audit.witnessing import cosignature_lines, witness_status
from gateway_runtime.openapi import AUTHENTICATED, BEARER, ErrorEnvelope, error_responses

router = APIRouter(
    tags=["events"],
    responses=error_responses(*AUTHENTICATED, 404, 409, 422),
    dependencies=[Depends(BEARER)],
)


#: An ISO 8601 date and time (a number is not one: it was read as seconds since 1970).
_ISO_8601 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidQuery(f"since: {exc}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/v1/events")
async def list_events(
    _reader: Reader,
    services: ServicesDep,
    auditor: AuditorDep,
    tag: EventTag | None = None,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=_ISO_8601,
            description="ISO 8601 date and time, e.g. 2026-12-01T07:00:00+07:00 (UTC if no zone)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    correlation_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[str, Query(pattern="^(gateway|ocsf)$")] = "gateway",
) -> dict[str, Any]:
    """Events, newest first: in the gateway's schema, or with ``format=ocsf`` as OCSF 1.9
    records (Authentication, Account Change, API Activity, Compliance/Detection Finding),
    each with its place in the hash chain (the ``record_integrity`` profile)."""
    store = services.store
    rows = await read_in_thread(
        store.query,
        tag=tag.value if tag else None,
        actor=actor,
        since=_instant(since) if since else None,
        correlation_id=correlation_id,
        limit=limit,
    )
    # Reading the audit log is itself audited.
    await auditor.record(
        EventTag.AUDIT_EVENTS_QUERY,
        target={"filter_tag": tag.value if tag else "", "results": str(len(rows))},
    )
    if format == "ocsf":
        return {"events": await read_in_thread(ocsf_records, store, rows)}
    return {
        "events": [{"seq": r.seq, "chain_hash": r.chain_hash, **r.event} for r in rows],
    }


@router.get(
    "/v1/checkpoints/latest",
    response_model=None,
    responses={
        200: {
            "description": "The checkpoint (JSON), or with `format=note` the signed note (text)",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def latest_checkpoint(
    _reader: Reader,
    services: ServicesDep,
    format: Annotated[str, Query(pattern="^(json|note)$")] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """The latest signed checkpoint with the witnesses' cosignatures: as JSON (with
    ``witnessed``), or with ``format=note`` the C2SP signed note itself (the file an officer
    keeps, for ``gateway-audit verify --from-checkpoint``)."""
    store = services.store
    latest = await read_in_thread(store.latest_checkpoint)
    if latest is None:
        raise NotCheckpointed("no checkpoint yet")
    if not latest.is_note:
        return latest.to_json()
    lines, _ = await read_in_thread(cosignature_lines, store, latest, services.witnesses)
    note = latest.note(lines).render()
    if format == "note":
        return PlainTextResponse(note)
    status = await read_in_thread(
        witness_status, store, latest, services.witnesses, services.witness_quorum
    )
    return {**latest.to_json(), "note": note, "witnessed": status.to_json()}


@router.get(
    "/v1/checkpoints/consistency",
    responses={
        422: {
            "model": ErrorEnvelope,
            "description": "`from` after `to`, or `to` past the latest checkpoint (the sizes "
            "must satisfy from <= to <= the latest checkpoint's)",
        }
    },
)
async def consistency(
    _reader: Reader,
    services: ServicesDep,
    old_size: Annotated[int, Query(alias="from", ge=0)],
    new_size: Annotated[int | None, Query(alias="to", ge=0)] = None,
) -> dict[str, Any]:
    """The RFC 9162 consistency proof between two tree sizes (``to``: the latest checkpoint's),
    base64 hashes in order; check it with both signed roots."""
    store = services.store
    latest = await read_in_thread(store.latest_checkpoint)
    if latest is None:
        raise NotCheckpointed("no checkpoint yet")
    upper = latest.tree_size if new_size is None else new_size
    if not old_size <= upper <= latest.tree_size:
        raise ProofInvalid(
            f"sizes must satisfy from <= to <= {latest.tree_size} (the latest checkpoint)"
        )
    proof = await read_in_thread(_consistency_proof, store, old_size, upper)
    return {"from": old_size, "to": upper, "proof": [b64(h) for h in proof]}


def _consistency_proof(store: EventStore, old_size: int, new_size: int) -> list[bytes]:
    return StoredTree(store).consistency_proof(old_size, new_size)


@router.get("/v1/events/{event_id}/proof")
async def event_proof(
    _reader: Reader,
    services: ServicesDep,
    event_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
) -> dict[str, Any]:
    """The event's inclusion proof under the latest signed checkpoint that covers it."""
    proof = await read_in_thread(prove_event, services.store, event_id)
    if proof is None:
        raise NotCheckpointed("the event is unknown or not yet covered by a checkpoint")
    return proof


@router.get("/v1/chain")
async def verify_chain(_reader: Reader, services: ServicesDep) -> dict[str, Any]:
    """Walks the whole hash chain; a break is an error (``audit-chain-broken``), never a false.
    Emptied records are held to this deployment's retention, as ``gateway-audit verify`` holds them."""
    rule = RetentionRule(services.settings.retention())
    verified = await read_in_thread(services.store.verify_chain, rule)
    return {"verified_records": verified, "status": "intact"}
