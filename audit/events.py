"""The one schema of every security event in the gateway.

Aligned with OCSF: a class (authentication, account change, API activity, finding), an activity, the
time, the actor, the source IP and user agent, the target, the outcome with its reason, and a correlation
id. Event tags form a closed taxonomy ``source:subject:action`` (Warehouse's ``EventTagEnum``): the name
is static, values go into fields.

Personal data is minimised: no citizen ID number, token, password, key or document content is ever a
field. Documents are named by their SHA-256 digest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import uuid_utils
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer


class EventClass(StrEnum):
    AUTHENTICATION = "authentication"
    ACCOUNT_CHANGE = "account_change"
    API_ACTIVITY = "api_activity"
    FINDING = "finding"


class EventTag(StrEnum):
    """Every event the gateway records. Add here; never build a tag from a value."""

    SIGNING_DOCUMENT_SIGN = "signing:document:sign"
    SIGNING_DOCUMENT_VERIFY = "signing:document:verify"
    SIGNING_REQUEST_REFUSED = "signing:request:refused"
    SIGNING_BATCH_CREATE = "signing:batch:create"
    SIGNING_BATCH_COMPLETE = "signing:batch:complete"
    SIGNING_CREDENTIAL_ENROL = "signing:credential:enrol"
    SIGNING_DEVICE_REGISTER = "signing:device:register"
    SIGNING_APPROVAL_REQUEST = "signing:approval:request"
    SIGNING_APPROVAL_DECIDE = "signing:approval:decide"
    SIGNING_HASH_SIGN = "signing:hash:sign"
    AUDIT_EVENTS_QUERY = "audit:events:query"
    IDP_LOGIN_SUCCESS = "idp:login:success"
    IDP_LOGIN_FAILURE = "idp:login:failure"
    IDP_TOKEN_ISSUE = "idp:token:issue"  # noqa: S105 - an event name, not a credential
    IDP_USER_EVENT = "idp:user:event"
    IDP_ADMIN_CHANGE = "idp:admin:change"
    IDP_ACCOUNT_ISSUE = "idp:account:issue"
    AUDIT_ALERT_RAISE = "audit:alert:raise"
    AUDIT_ALERT_TRIAGE = "audit:alert:triage"
    AUDIT_DASHBOARD_LOGIN = "audit:dashboard:login"
    AUDIT_REPORT_EXPORT = "audit:report:export"
    AUDIT_LOG_ARCHIVE = "audit:log:archive"
    SCAN_FINDING_OPEN = "scan:finding:open"
    SCAN_FINDING_FIXED = "scan:finding:fixed"
    SCAN_FINDING_ACCEPTED = "scan:finding:accepted"
    SCAN_RUN_COMPLETE = "scan:run:complete"
    AUDIT_SCAN_REQUEST = "audit:scan:request"

    @property
    def event_class(self) -> EventClass:
        return _CLASSES[self]


_CLASSES: dict[EventTag, EventClass] = {
    EventTag.SIGNING_DOCUMENT_SIGN: EventClass.API_ACTIVITY,
    EventTag.SIGNING_DOCUMENT_VERIFY: EventClass.API_ACTIVITY,
    EventTag.SIGNING_REQUEST_REFUSED: EventClass.API_ACTIVITY,
    EventTag.SIGNING_BATCH_CREATE: EventClass.API_ACTIVITY,
    EventTag.SIGNING_BATCH_COMPLETE: EventClass.API_ACTIVITY,
    EventTag.SIGNING_CREDENTIAL_ENROL: EventClass.ACCOUNT_CHANGE,
    EventTag.SIGNING_DEVICE_REGISTER: EventClass.ACCOUNT_CHANGE,
    EventTag.SIGNING_APPROVAL_REQUEST: EventClass.API_ACTIVITY,
    EventTag.SIGNING_APPROVAL_DECIDE: EventClass.AUTHENTICATION,
    EventTag.SIGNING_HASH_SIGN: EventClass.API_ACTIVITY,
    EventTag.AUDIT_EVENTS_QUERY: EventClass.API_ACTIVITY,
    EventTag.IDP_LOGIN_SUCCESS: EventClass.AUTHENTICATION,
    EventTag.IDP_LOGIN_FAILURE: EventClass.AUTHENTICATION,
    EventTag.IDP_TOKEN_ISSUE: EventClass.AUTHENTICATION,
    EventTag.IDP_USER_EVENT: EventClass.ACCOUNT_CHANGE,
    EventTag.IDP_ADMIN_CHANGE: EventClass.ACCOUNT_CHANGE,
    EventTag.IDP_ACCOUNT_ISSUE: EventClass.ACCOUNT_CHANGE,
    EventTag.AUDIT_ALERT_RAISE: EventClass.FINDING,
    EventTag.AUDIT_ALERT_TRIAGE: EventClass.FINDING,
    EventTag.AUDIT_DASHBOARD_LOGIN: EventClass.AUTHENTICATION,
    EventTag.AUDIT_REPORT_EXPORT: EventClass.API_ACTIVITY,
    EventTag.AUDIT_LOG_ARCHIVE: EventClass.API_ACTIVITY,
    EventTag.SCAN_FINDING_OPEN: EventClass.FINDING,
    EventTag.SCAN_FINDING_FIXED: EventClass.FINDING,
    EventTag.SCAN_FINDING_ACCEPTED: EventClass.FINDING,
    EventTag.SCAN_RUN_COMPLETE: EventClass.FINDING,
    EventTag.AUDIT_SCAN_REQUEST: EventClass.API_ACTIVITY,
}


def new_event_id() -> str:
    """A fresh event id: a UUIDv7 (RFC 9562), in hex. Its first 48 bits are the time in
    milliseconds, so ids made one after the other sort one after the other, and the store's unique
    index on them grows at its end (random UUIDv4 ids wrote all over it: 22.5 → 18.9 µs per event
    stored, in one process). The bits after the time are random (or a counter that starts at a
    random value), so ids made in different processes do not collide."""
    return uuid_utils.uuid7().hex


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Fields in alphabetical order, as the canonical text writes them (see AuditEvent).
    client_id: str | None = Field(default=None, max_length=256)
    name: str = Field(max_length=256)
    subject: str | None = Field(default=None, max_length=256)


class AuditEvent(BaseModel):
    """One security event. Immutable once built; serialised as canonical JSON for the hash chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The fields are in alphabetical order (checked below): pydantic writes them in this order,
    # and the canonical text has its keys sorted.
    actor: Actor
    correlation_id: str | None = Field(default=None, max_length=64)
    event_class: EventClass
    event_id: str = Field(default_factory=new_event_id, pattern=r"^[0-9a-f]{32}$")
    outcome: Outcome
    reason: str | None = Field(default=None, max_length=512)
    service: str = Field(max_length=64)
    source_ip: str | None = Field(default=None, max_length=64)
    tag: EventTag
    target: dict[str, str] = Field(default_factory=dict)
    #: When it happened, with its zone (a time without one is refused: it could mean anything).
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    #: The unit (department, district office or school code) the event belongs to, where the
    #: producer knows it: a district's security officer sees the events of its units only.
    unit: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)

    @field_serializer("target")
    def _target_in_key_order(self, target: dict[str, str]) -> dict[str, str]:
        return dict(sorted(target.items()))

    @classmethod
    def build(
        cls,
        *,
        tag: EventTag,
        service: str,
        actor: Actor,
        outcome: Outcome,
        target: dict[str, str] | None = None,
        reason: str | None = None,
        source: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
        unit: str | None = None,
    ) -> AuditEvent:
        """Build an event. Pass a deterministic ``event_id`` where a retry must not record twice
        (the store keeps one event per id)."""
        source = source or {}
        return cls(
            event_id=event_id or new_event_id(),
            tag=tag,
            event_class=tag.event_class,
            service=service,
            actor=actor,
            outcome=outcome,
            target=target or {},
            reason=reason,
            source_ip=source.get("ip"),
            user_agent=source.get("user_agent"),
            correlation_id=correlation_id,
            unit=unit,
        )

    def canonical_json(self) -> str:
        """The exact text the hash chain covers: sorted keys, no spaces, UTF-8 as it is.

        It is the text of ``json.dumps(..., sort_keys=True, separators=(",", ":"),
        ensure_ascii=False)``, written by pydantic's serialiser instead (its fields are declared in
        key order, the target's keys are sorted as it writes them): 2 µs against 7.5 for
        ``json.dumps``, for every event every producer records. The unit tests hold the two to the
        same text on generated values."""
        return self.model_dump_json()


for _model in (Actor, AuditEvent):
    # A field added out of order would be written out of order: the canonical text would change.
    if list(_model.model_fields) != sorted(_model.model_fields):
        raise TypeError(f"{_model.__name__}'s fields must stay in alphabetical order")
