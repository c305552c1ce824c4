"""The durable, append-only store of audit events, with a hash chain over every record.

Each record keeps its RFC 9162 leaf hash and its ``chain_hash``, ``SHA-256(previous chain_hash || leaf
hash)`` starting from 32 zero bytes, so that altering, removing or inserting any record breaks every hash
after it. The leaf covers the record's columns as well as its body (``audit/records.py``): what the
dashboard counts and shows is what the chain and the signed checkpoints cover. Database triggers refuse
UPDATE and DELETE, with one exception: retention may replace the body and actor of a record that was
first archived (``archived`` table) by their digest, and the record's leaf and chain hashes stay, so the
log still verifies after old bodies leave it.

Events that fail their producer's authentication at ingest are not records of the log: they are kept
apart in ``quarantine`` (append-only too), as evidence.

One code, two databases: :class:`SqliteEventStore` (embedded, a single machine) and
:class:`PostgresEventStore` (production). They differ only in the few lines of SQL that databases
spell differently (:class:`Dialect`); :func:`open_store` picks one from a path or a URL. On
PostgreSQL the schema belongs to a migration role (:func:`migrate`, ``gateway-audit migrate``) and the
service runs as a role that may only read, append and prune (:data:`RUNTIME_GRANTS`); SQLite makes
its own schema.
"""

from audit.store.backends import PostgresEventStore, SqliteEventStore, open_store
from audit.store.checking import RetentionRule, check_log, check_records
from audit.store.connection import READERS
from audit.store.event_store import EventStore
from audit.store.migration import RUNTIME_GRANTS, Migration, migrate
from audit.store.rows import (
    GENESIS,
    SCHEMA_VERSION,
    EventSearch,
    LogRecord,
    QuarantinedEntry,
    StoredEvent,
    StoreError,
    chain_step,
)

__all__ = [
    "GENESIS",
    "READERS",
    "RUNTIME_GRANTS",
    "SCHEMA_VERSION",
    "EventSearch",
    "EventStore",
    "LogRecord",
    "Migration",
    "PostgresEventStore",
    "QuarantinedEntry",
    "RetentionRule",
    "SqliteEventStore",
    "StoreError",
    "StoredEvent",
    "chain_step",
    "check_log",
    "check_records",
    "migrate",
    "open_store",
]
