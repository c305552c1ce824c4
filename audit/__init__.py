"""Audit: a tamper-evident record of every security event of the gateway.

Producers (the signing service, account issuing, the scanners) build :class:`AuditEvent` values and hand
them to an :class:`AuditTrail`; the audit service ingests the stream into an append-only, hash-chained
store and answers queries from security officers.
"""

from audit.errors import AuditError, AuditUnavailable, ChainBroken
from audit.events import Actor, AuditEvent, EventClass, EventTag, Outcome
from audit.trail import AuditTrail, RedisAuditTrail, trail_client

__all__ = [
    "Actor",
    "AuditError",
    "AuditEvent",
    "AuditTrail",
    "AuditUnavailable",
    "ChainBroken",
    "EventClass",
    "EventTag",
    "Outcome",
    "RedisAuditTrail",
    "trail_client",
]
