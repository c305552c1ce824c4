"""The dashboard's reads of the audit store: searches, counts, histograms, the quarantine."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from audit.store.connection import StoreConnection
from audit.store.rows import EventSearch, QuarantinedEntry, StoredEvent
from audit.store.sql import EVENT_COLUMNS, GROUPABLE


def stored_events(rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    """Events from rows of :data:`EVENT_COLUMNS` (a pruned record, without its body, is left out)."""
    return [
        StoredEvent(int(seq), bytes(h).hex(), json.loads(body), bytes(leaf).hex(), received, body)
        for seq, h, body, leaf, received in rows
        if body is not None
    ]


class DashboardQueries(StoreConnection):
    """What officers search and count, bound to their filters (never formatted into SQL)."""

    def _events(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        return stored_events(self._read(sql, params))

    def query(
        self,
        *,
        tag: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        correlation_id: str | None = None,
        limit: int = 100,
    ) -> Sequence[StoredEvent]:
        where, params = EventSearch(tag=tag, actor=actor, since=since, text=correlation_id).where(
            self.dialect
        )
        rows = self._events(
            f"{EVENT_COLUMNS} {where} ORDER BY seq DESC LIMIT ?",
            (*params, limit if not correlation_id else max(limit, 1000)),
        )
        if correlation_id:  # the text match narrows; the field decides
            rows = [r for r in rows if r.event.get("correlation_id") == correlation_id][:limit]
        return rows

    def search(self, search: EventSearch, *, limit: int = 50, offset: int = 0) -> list[StoredEvent]:
        """Events matching ``search``, newest first (the dashboard's table and exports)."""
        where, params = search.where(self.dialect)
        span: tuple[int, int] | None = None
        if search.text and search.since and not (search.tag or search.actor or search.document):
            # Text is matched in bodies: read the period's stretch of the table in order (positions
            # follow time closely) instead of looking each row up from the time index, 5x slower.
            span = self.positions_between(
                search.since, search.until or datetime.max.replace(tzinfo=UTC)
            )
            if span is None:
                return []
            where += " AND seq >= ? AND seq <= ?"
            params += [span[0], span[1]]
        if search.words:
            found = self._newest_with_words(search, limit + offset)
            if found is not None:
                return found[offset : offset + limit]
        return self._events(
            f"{EVENT_COLUMNS} {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )

    def _newest_with_words(self, search: EventSearch, wanted: int) -> list[StoredEvent] | None:
        """The ``wanted`` newest events with ``search.words``, read from the words' index newest
        first when the database can (SQLite: FTS5 walks its positions in order and stops early, so
        a word in every event costs no more than a rare one); ``None``: the plain query does it."""
        return None

    def histogram(
        self,
        tags: Sequence[str],
        *,
        since: datetime,
        bucket: str,
        units: frozenset[str] | None = None,
    ) -> dict[tuple[str, str, str], int]:
        """Counts by (time bucket, tag, outcome) since ``since``; ``bucket`` is ``hour`` or ``day``."""
        width = {"hour": 13, "day": 10}[bucket]
        results: dict[tuple[str, str, str], int] = {}
        for tag in tags:  # one index range per tag
            where, params = EventSearch(tag=tag, since=since, units=units).where(self.dialect)
            sql = (
                f"SELECT substr(time, 1, {width}) AS b, outcome, COUNT(*) FROM events {where}"  # noqa: S608 - width is from a fixed table; values are bound
                " GROUP BY b, outcome"
            )
            for b, outcome, n in self._read(sql, params):
                results[(str(b), tag, str(outcome))] = int(n)
        return results

    def count_by(
        self, search: EventSearch, columns: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """Counts of the events matching ``search`` grouped by ``columns`` (of tag, outcome, actor,
        unit), largest first: the reports' numbers, counted by the database, not by reading events."""
        if not columns or any(c not in GROUPABLE for c in columns):
            raise ValueError(f"group by {', '.join(sorted(GROUPABLE))} only")
        where, params = search.where(self.dialect)
        group = ", ".join(columns)
        # A period's counts read the (time, tag, outcome, actor) index alone; SQLite's planner
        # prefers a skip-scan of the actor index for them, 20 times slower on 10 million events.
        hint = ""
        if search.since and not (search.actor or search.document):
            hint = self.dialect.unit_index_hint if search.units else self.dialect.time_index_hint
        sql = (
            f"SELECT {group}, COUNT(*) AS n FROM events {hint} {where} GROUP BY {group} ORDER BY n DESC"  # noqa: S608 - columns from a fixed set; values are bound
            + (" LIMIT ?" if limit else "")
        )
        rows = self._read(sql, (*params, limit) if limit else params)
        return [(tuple(str(v) for v in row[:-1]), int(row[-1])) for row in rows]

    def positions_between(self, since: datetime, until: datetime) -> tuple[int, int] | None:
        """The first and last position (seq) of the records with ``since <= time < until``."""
        [row] = self._read(
            # "+ 0": find the period through the time index, not by walking the primary key
            # from one end (PostgreSQL's MIN/MAX shortcut: seconds on 10 million events).
            "SELECT MIN(seq + 0), MAX(seq + 0) FROM events WHERE time >= ? AND time < ?",
            # Stored times are UTC ISO 8601: compare in the same form, whatever zone was asked.
            (since.astimezone(UTC).isoformat(), until.astimezone(UTC).isoformat()),
        )
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def quarantined(self, *, limit: int = 100) -> list[QuarantinedEntry]:
        """Entries refused at ingest, newest first."""
        rows = self._read(
            "SELECT entry_id, received_at, producer, reason, payload FROM quarantine"
            " ORDER BY received_at DESC, entry_id DESC LIMIT ?",
            (limit,),
        )
        return [
            QuarantinedEntry(str(e), str(r), p, str(why), str(body)) for e, r, p, why, body in rows
        ]
