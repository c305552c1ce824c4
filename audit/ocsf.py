"""Audit events in OCSF field names (Open Cybersecurity Schema Framework 1.3), for SIEMs.

The gateway's own schema stays what the hash chain covers; this is a projection of a stored event onto
OCSF's classes: Authentication (3002) and Account Change (3001) in Identity & Access Management, API
Activity (6003) in Application Activity, and, for scan findings and detection alerts, Compliance Finding
(2003) and Detection Finding (2004). Fields OCSF has no place for go to ``unmapped``, as OCSF prescribes.
The event's own id, tag and chain position are kept in ``metadata`` so that an OCSF record can be
traced back to the record ``gateway-audit verify`` proves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

OCSF_VERSION = "1.3.0"

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


def to_ocsf(event: dict[str, Any], *, seq: int | None = None) -> dict[str, Any]:
    """One stored event (the gateway's schema, as JSON) as an OCSF record."""
    tag = str(event["tag"])
    source = tag.split(":", 1)[0]
    action = tag.rsplit(":", 1)[-1]
    event_class = str(event.get("event_class"))
    if event_class == "finding":
        class_uid, class_name, category_uid, category_name = _FINDING_CLASSES.get(
            source, _FINDING_CLASSES["audit"]
        )
    else:
        class_uid, class_name, category_uid, category_name = _CLASSES[event_class]
    activity_id, activity_name = _ACTIVITIES.get(class_uid, {}).get(action, (99, "Other"))
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
    return record
