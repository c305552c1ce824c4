"""The SQL of the audit store: its tables and the few lines each database spells its own way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    blob: str
    integer_key: str
    text_contains: str  # one bound value: the text to find in body
    #: The free-text index of the events' words (:mod:`audit.store.words`), made with the schema.
    words_index: str
    #: One bound value, the words typed: whether a record holds them (through the index).
    words_match: str
    time_index_hint: str
    unit_index_hint: str
    triggers: str

    def sql(self, statement: str) -> str:
        return statement if self.name == "sqlite" else statement.replace("?", "%s")


TABLES = """
CREATE TABLE IF NOT EXISTS events (
    seq {integer_key},
    event_id TEXT NOT NULL UNIQUE,
    tag TEXT NOT NULL,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    unit TEXT,
    document TEXT,
    received_at TEXT,
    leaf_hash {blob} NOT NULL,
    chain_hash {blob} NOT NULL,
    body TEXT,
    personal_digest {blob}
);
CREATE INDEX IF NOT EXISTS events_tag_time ON events(tag, time, outcome);
CREATE INDEX IF NOT EXISTS events_actor_time ON events(actor, time);
CREATE INDEX IF NOT EXISTS events_time ON events(time, tag, outcome, actor);
CREATE INDEX IF NOT EXISTS events_unit_tag_time ON events(unit, tag, time);
CREATE INDEX IF NOT EXISTS events_document ON events(document);
CREATE TABLE IF NOT EXISTS archived (
    seq {integer_key},
    archive TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size {integer_key},
    root_hash {blob} NOT NULL,
    issued_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    entry_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    producer TEXT,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS cosignatures (
    tree_size BIGINT NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tree_size, witness)
);
"""

#: The one UPDATE allowed: retention replaces the body and the actor of a record archived first
#: by their digest, and only of a record older than the shortest retention (a year, by the
#: database's clock: whoever holds the service's database credentials can add a row to
#: ``archived``, and must not empty a recent record that way); every other column stays as it was.
_PRUNE_ONLY = (
    "NEW.body IS NULL AND OLD.body IS NOT NULL AND NEW.actor = '-'"
    " AND OLD.personal_digest IS NULL AND NEW.personal_digest IS NOT NULL"
    " AND NEW.seq = OLD.seq AND NEW.event_id = OLD.event_id AND NEW.tag = OLD.tag"
    " AND NEW.time = OLD.time AND NEW.outcome = OLD.outcome"
    " AND NEW.unit IS NOT DISTINCT FROM OLD.unit AND NEW.document IS NOT DISTINCT FROM OLD.document"
    " AND NEW.received_at IS NOT DISTINCT FROM OLD.received_at"
    " AND NEW.leaf_hash = OLD.leaf_hash AND NEW.chain_hash = OLD.chain_hash"
    " AND EXISTS (SELECT 1 FROM archived WHERE archived.seq = OLD.seq)"
    " AND OLD.time < {a_year_ago}"
)
_SQLITE_A_YEAR_AGO = "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-365 days')"
_POSTGRES_A_YEAR_AGO = (
    "to_char((now() AT TIME ZONE 'UTC') - interval '365 days', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
)

#: How far SQLite's words' index has read the log (its keeper's bookmark).
WORDS_INDEXED = (
    "SELECT COALESCE(MAX(CAST(value AS INTEGER)), 0) FROM store_meta WHERE name = 'words_indexed'"
)

#: The words of a body in PostgreSQL: the body without its field names (every JSON string followed
#: by a colon, escapes included), as the ``simple`` configuration cuts them (no stemming, no
#: stop words), composed (NFC) as SQLite's words are. Never fails on a stored body, whatever it holds. (No "?" in it: the dialect's
#: placeholders are question marks.)
_PG_WORDS = (
    "to_tsvector('simple', normalize(regexp_replace(coalesce(body, ''),"
    r""" '"([^"\\]|\\.)*"\s*:', ' ', 'g'), NFC))"""
)

SQLITE = Dialect(
    name="sqlite",
    blob="BLOB",
    integer_key="INTEGER PRIMARY KEY",
    text_contains="instr(body, ?) > 0",
    # Contentless: the index holds words, not bodies; kept by ``EventStore.index_words``.
    words_index="CREATE VIRTUAL TABLE IF NOT EXISTS events_words USING fts5("
    "words, content='', tokenize='unicode61 remove_diacritics 0')",
    # The index, and the newest records its keeper has not reached yet (read here, in Python).
    # (One list, not an OR: SQLite would scan the period's rows for an OR.)
    words_match="seq IN (SELECT rowid FROM events_words WHERE events_words MATCH ?"  # noqa: S608
    f" UNION ALL SELECT seq FROM events WHERE seq > ({WORDS_INDEXED}) AND words_phrase_in(body, ?))",
    time_index_hint="INDEXED BY events_time",
    unit_index_hint="INDEXED BY events_unit_tag_time",
    triggers=f"""
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events WHEN NOT ({_PRUNE_ONLY.format(a_year_ago=_SQLITE_A_YEAR_AGO)})
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS archived_no_change BEFORE UPDATE ON archived
BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS archived_no_delete BEFORE DELETE ON archived
BEGIN SELECT RAISE(ABORT, 'archive records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS merkle_nodes_no_change BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'Merkle nodes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS cosignatures_no_change BEFORE UPDATE ON cosignatures
BEGIN SELECT RAISE(ABORT, 'cosignatures are append-only'); END;
CREATE TRIGGER IF NOT EXISTS quarantine_no_update BEFORE UPDATE ON quarantine
BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
CREATE TRIGGER IF NOT EXISTS quarantine_no_delete BEFORE DELETE ON quarantine
BEGIN SELECT RAISE(ABORT, 'the quarantine is append-only'); END;
""",
)

POSTGRES = Dialect(
    name="postgresql",
    blob="BYTEA",
    integer_key="BIGINT PRIMARY KEY",
    text_contains="strpos(body, ?) > 0",
    # String values only (not field names); a pruned record (body NULL) has no words.
    words_index=f"CREATE INDEX IF NOT EXISTS events_words ON events USING GIN ({_PG_WORDS})",
    words_match=f"{_PG_WORDS} @@ phraseto_tsquery('simple', ?)",
    time_index_hint="",
    unit_index_hint="",
    triggers=f"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% are append-only', TG_ARGV[0]; END $$;
CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ({_PRUNE_ONLY.format(a_year_ago=_POSTGRES_A_YEAR_AGO)}) THEN RETURN NEW; END IF;
  RAISE EXCEPTION 'audit events are append-only';
END $$;
CREATE OR REPLACE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change('audit events');
CREATE OR REPLACE TRIGGER archived_no_change BEFORE UPDATE OR DELETE ON archived
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('archive records');
CREATE OR REPLACE TRIGGER checkpoints_no_change BEFORE UPDATE OR DELETE ON checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('checkpoints');
CREATE OR REPLACE TRIGGER merkle_nodes_no_change BEFORE UPDATE ON merkle_nodes
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('Merkle nodes');
CREATE OR REPLACE TRIGGER cosignatures_no_change BEFORE UPDATE ON cosignatures
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('cosignatures');
CREATE OR REPLACE TRIGGER quarantine_no_change BEFORE UPDATE OR DELETE ON quarantine
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change('quarantined entries');
""",
)


GROUPABLE = frozenset({"tag", "outcome", "actor", "unit"})

#: Everything a record's leaf is computed from, in :func:`to_record`'s order.
RECORD_COLUMNS = (
    "SELECT seq, event_id, tag, time, actor, outcome, unit, document, received_at, leaf_hash,"
    " chain_hash, body, personal_digest FROM events"
)
#: What readers of events take: the body and its place in the chain.
EVENT_COLUMNS = "SELECT seq, chain_hash, body, leaf_hash, received_at FROM events"
