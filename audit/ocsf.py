"""Audit events in OCSF field names (Open Cybersecurity Schema Framework 1.9), for SIEMs.

The gateway's own schema stays what the hash chain covers; this is a projection of a stored event onto
OCSF's classes: Authentication (3002) and Account Change (3001) in Identity & Access Management, API
Activity (6003) in Application Activity, and, for scan findings and detection alerts, Compliance Finding
(2003) and Detection Finding (2004). Fields OCSF has no place for go to ``unmapped``, as OCSF prescribes.
The event's own id, tag and chain position are kept in ``metadata`` so that an OCSF record can be
traced back to the record ``gateway-audit verify`` proves.

With its place in the chain, a record carries OCSF 1.9's ``record_integrity`` profile: one entry in
``attestation_list`` whose ``fingerprint`` is the record's chain hash (SHA-256), whose ``prev_event``
names the previous record (its event id and OCSF type) with *its* chain hash, whose ``uid`` is the
record's leaf hash (RFC 9162), and whose ``chain_uid`` names this log; ``raw_data`` is the event
exactly as stored (and ``unmapped.received_at`` the receipt time of a flagged one). OCSF's
attestation chains each fingerprint over the previous one; so does ours, in the gateway's own
serialisation rather than over the OCSF record: a SIEM checks, record after record, that
``uid`` is the leaf of ``raw_data`` (``audit/records.py``: ``leaf_of_body``), that
``fingerprint == SHA-256(prev_event.fingerprint || uid)`` (32 zero bytes before the first record),
and that each record's ``prev_event.fingerprint`` is the fingerprint of the record it names. No
``signatures``: the log's signatures are over checkpoints (Merkle roots), not per record
(``gateway-audit prove`` gives a proof of any event under a signed checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.store import EventStore, StoredEvent

OCSF_VERSION = "1.9.0"
_SHA256 = {"algorithm_id": 3, "algorithm": "SHA-256"}


@dataclass(frozen=True)
class ChainLink:
    """Where a stored record sits in the chain: what the ``record_integrity`` profile carries."""

    chain_id: str
    leaf_hash: str
    chain_hash: str
    #: The previous record's event id, tag and chain hash (hex); None for the first record.
    previous: tuple[str, str, str] | None
    #: The event exactly as stored (the leaf is computed from it), and its receipt time if flagged.
    body: str = ""
    received_at: str | None = None


#: (class_uid, class_name, category_uid, category_name) of each of the gateway's event classes.
_CLASSES = {
    "authentication": (3002, "Authentication", 3, "Identity & Access Management"),
    "account_change": (3001, "Account Change", 3, "Identity & Access Management"),
    "api_activity": (6003, "API Activity", 6, "Application Activity"),
}
_FINDING_CLASSES = {
    "scan": (2003, "Compliance Finding", 2, "Findings"),
    "audit": (2004, "Detection Finding", 2, "Findings"),
}
#: activity_id by the last part of the tag (``source:subject:action``), per OCSF class.
_ACTIVITIES: dict[int, dict[str, tuple[int, str]]] = {
    3002: {"success": (1, "Logon"), "failure": (1, "Logon"), "login": (1, "Logon")},
    3001: {
        "issue": (1, "Create"),
        "enrol": (1, "Create"),
        "register": (1, "Create"),
        "change": (99, "Other"),
        "event": (99, "Other"),
    },
    6003: {
        "sign": (1, "Create"),
        "create": (1, "Create"),
        "request": (1, "Create"),
        "verify": (2, "Read"),
        "query": (2, "Read"),
        "export": (2, "Read"),
        "complete": (3, "Update"),
        "refused": (99, "Other"),
    },
    2003: {"open": (1, "Create"), "fixed": (3, "Close"), "complete": (2, "Update")},
    2004: {"raise": (1, "Create"), "triage": (2, "Update")},
}
_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def _epoch_ms(value: Any) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int(moment.timestamp() * 1000)


def _classify(tag: str, event_class: str) -> tuple[int, str, int, str, int, str]:
    """(class uid and name, category uid and name, activity id and name) of a tag."""
    source = tag.split(":", 1)[0]
    action = tag.rsplit(":", 1)[-1]
    if event_class == "finding":
        class_uid, class_name, category_uid, category_name = _FINDING_CLASSES.get(
            source, _FINDING_CLASSES["audit"]
        )
    else:
        class_uid, class_name, category_uid, category_name = _CLASSES[event_class]
    activity_id, activity_name = _ACTIVITIES.get(class_uid, {}).get(action, (99, "Other"))
    return class_uid, class_name, category_uid, category_name, activity_id, activity_name


def type_uid_of(tag: str) -> int:
    """The OCSF ``type_uid`` a record of ``tag`` gets."""
    from audit.events import EventTag

    class_uid, _, _, _, activity_id, _ = _classify(tag, EventTag(tag).event_class.value)
    return class_uid * 100 + activity_id


def _attestation(link: ChainLink) -> dict[str, Any]:
    attestation: dict[str, Any] = {
        "uid": link.leaf_hash,
        "authority_uid": "edu-gateway/audit",
        "chain_uid": link.chain_id,
        "fingerprint": {**_SHA256, "value": link.chain_hash},
    }
    if link.previous is not None:
        event_id, tag, chain_hash = link.previous
        attestation["prev_event"] = {
            "uid": event_id,
            "type_uid": type_uid_of(tag),
            "fingerprint": {**_SHA256, "value": chain_hash},
        }
    return attestation


def to_ocsf(
    event: dict[str, Any], *, seq: int | None = None, link: ChainLink | None = None
) -> dict[str, Any]:
    """One stored event (the gateway's schema, as JSON) as an OCSF record; with ``link``, its
    place in the chain as the ``record_integrity`` profile."""
    tag = str(event["tag"])
    class_uid, class_name, category_uid, category_name, activity_id, activity_name = _classify(
        tag, str(event.get("event_class"))
    )
    target = dict(event.get("target") or {})
    actor = event.get("actor") or {}
    success = event.get("outcome") == "success"
    record: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "time": _epoch_ms(event["time"]),
        "severity_id": _SEVERITY.get(str(target.get("severity", "")).lower(), 1),
        "status_id": 1 if success else 2,
        "status": "Success" if success else "Failure",
        "actor": {
            "user": {
                "name": actor.get("name"),
                **({"uid": actor["subject"]} if actor.get("subject") else {}),
            },
            **({"app_name": actor["client_id"]} if actor.get("client_id") else {}),
        },
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event.get("event_id"),
            "original_event_uid": event.get("event_id"),
            "log_name": tag,
            "labels": [tag, str(event.get("service"))],
            "product": {
                "name": "edu-gateway",
                "vendor_name": "Sở GD&ĐT",
                "feature": {"name": str(event.get("service"))},
            },
            **({"correlation_uid": event["correlation_id"]} if event.get("correlation_id") else {}),
            **({"sequence": seq} if seq is not None else {}),
        },
    }
    if event.get("reason"):
        record["status_detail"] = event["reason"]
    if event.get("source_ip"):
        record["src_endpoint"] = {"ip": event["source_ip"]}
    if event.get("user_agent"):
        record["http_request"] = {"user_agent": event["user_agent"]}
    if class_uid in {3001, 3002} and target.get("username"):
        record["user"] = {"name": target.pop("username")}
    if class_uid in {2003, 2004}:
        record["finding_info"] = {
            "uid": target.get("fingerprint") or target.get("alert_id") or event.get("event_id"),
            "title": target.get("rule") or target.get("detector") or tag,
            **({"desc": target["evidence"]} if target.get("evidence") else {}),
        }
    if target:
        record["unmapped"] = target
    if link is not None:
        record["metadata"]["profiles"] = ["record_integrity"]
        record["attestation_list"] = [_attestation(link)]
        if link.body:
            record["raw_data"] = link.body  # what the leaf (the attestation's uid) is computed from
        if link.received_at is not None:
            record.setdefault("unmapped", {})["received_at"] = link.received_at
    return record


def ocsf_records(store: EventStore, rows: Sequence[StoredEvent]) -> list[dict[str, Any]]:
    """OCSF records of stored ``rows``, each with its link to the previous record of the chain."""
    chain_id = store.chain_id() or ""
    previous = store.chain_neighbours([r.seq - 1 for r in rows])
    records = []
    for row in rows:
        before = previous.get(row.seq - 1)
        link = ChainLink(
            chain_id=chain_id,
            leaf_hash=row.leaf_hash,
            chain_hash=row.chain_hash,
            previous=(before[0], before[1], before[2].hex()) if before else None,
            body=row.body,
            received_at=row.received_at,
        )
        records.append(to_ocsf(row.event, seq=row.seq, link=link))
    return records
