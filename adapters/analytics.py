"""Analysts' read models: signal and activity facts, kept exactly once; releases, and their ledger.

Facts (with the persons behind them) stay inside; analysts (and admins) only get releases built
by ``projections.anonymity``. Every release is written to the ledger and its rows to
``released_rows``; the SQL view ``etrack_released`` shows those rows and nothing else.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from engagement_tracker.adapters.projection import Decoded, TrackedProjection, view_for
from engagement_tracker.domain.access import require_analyst
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import InvalidInput, StoreError
from engagement_tracker.domain.values import Actor
from engagement_tracker.projections.activity import STAMPED, activity_facts, counts, stamped_fact
from engagement_tracker.projections.anonymity import (
    DIMENSIONS,
    Fact,
    Level,
    Policy,
    Release,
    Tally,
    check_ledger,
    contributions,
    release,
    tally,
    trends,
)
from engagement_tracker.projections.weak_signals import Source, concerns, signal_facts, update_sources

NAME = "analytics"
_FACT_COLS = ("family", "metric", "unit", "month", "source", "persons", "theme", "context", "polarity", "intensity")
_ROW_COLS = ("theme", "context", "polarity", "intensity", "unit", "period", "metric")


def pseudonym(person: str) -> str:
    return hashlib.sha256(f"etrack-ledger|{person}".encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def persons_json(persons: frozenset[str]) -> str:
    """A fact's persons as stored (sorted JSON), once per distinct set: a source's facts share it."""
    return json.dumps(sorted(persons))


def tally_row(t: Tally) -> tuple[Any, ...]:
    return (json.dumps(list(t.key)), *t.key, t.facts, json.dumps(dict(t.persons)), json.dumps(dict(t.sources)))


def tally_of(row: Sequence[Any]) -> Tally:
    persons, sources = json.loads(row[10]), json.loads(row[11])
    return Tally(*row[1:9], int(row[9]), tuple(sorted(persons.items())), tuple(sorted(sources.items())))


class AnalyticsView(TrackingRecorder):
    """Facts, tallies, sources and the release ledger (shared by the SQLite, memory and PostgreSQL views)."""

    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        raise NotImplementedError

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        """Facts pre-aggregated per fine cell: what releases are built from (cost per cell, not per event).

        ``since`` and ``until`` ('YYYY-MM', inclusive) keep the months of a window: a query over
        a window reads that window's cells only, however long the history is.
        """
        raise NotImplementedError

    def facts(self) -> list[Fact]:
        raise NotImplementedError

    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        """The registered sources (only ``ids``, when given: a page reads what it touches)."""
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def ledger(self, family: str) -> list[dict[str, Any]]:
        """Earlier releases of a family: their k and contributions (pseudonymous person -> facts)."""
        raise NotImplementedError

    def record_release(
        self, rel: Release, family: str, query: dict[str, Any], analyst: str, at: str, contrib: dict[str, int],
        check: Callable[[list[dict[str, Any]]], None] = lambda earlier: None,
    ) -> int:
        """Record a release, after ``check(earlier releases)`` passes, in one serialised transaction."""
        raise NotImplementedError


class SQLiteAnalyticsView(SQLiteTrackingRecorder, AnalyticsView):
    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements += [
            "CREATE TABLE IF NOT EXISTS analytic_facts (position INTEGER NOT NULL, n INTEGER NOT NULL, "
            "family TEXT, metric TEXT, unit TEXT, month TEXT, source TEXT, persons TEXT, theme TEXT, context TEXT, "
            "polarity TEXT, intensity INTEGER, PRIMARY KEY (position, n))",
            "CREATE TABLE IF NOT EXISTS analytic_sources (source TEXT PRIMARY KEY, kind TEXT, unit TEXT, "
            "persons TEXT)",
            "CREATE TABLE IF NOT EXISTS analytic_tallies (key TEXT PRIMARY KEY, family TEXT, metric TEXT, unit TEXT, "
            "month TEXT, theme TEXT, context TEXT, polarity TEXT, intensity INTEGER, facts INTEGER, persons TEXT, "
            "sources TEXT)",
            "CREATE INDEX IF NOT EXISTS analytic_tallies_window ON analytic_tallies (family, month)",
            "CREATE TABLE IF NOT EXISTS release_ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, released_at TEXT, "
            "analyst TEXT, family TEXT, query TEXT, k INTEGER, level TEXT, total INTEGER, population TEXT)",
            "CREATE TABLE IF NOT EXISTS released_rows (release_id INTEGER NOT NULL, family TEXT, theme TEXT, "
            "context TEXT, polarity TEXT, intensity INTEGER, unit TEXT, period TEXT, metric TEXT, value INTEGER, "
            "status TEXT NOT NULL, reason TEXT)",
            "CREATE VIEW IF NOT EXISTS etrack_released AS SELECT r.release_id, l.released_at, l.k, l.level, "
            "r.family, r.theme, r.context, r.polarity, r.intensity, r.unit, r.period, r.metric, r.value, r.status "
            "FROM released_rows r JOIN release_ledger l ON l.id = r.release_id",
        ]
        return statements

    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            # write first: a deferred SQLite transaction that reads before its first write cannot
            # wait for the write lock (its snapshot may be stale), it fails at once as "locked"
            self._insert_tracking(c, tracking)
            if tallies:
                keys = [json.dumps(list(t.key)) for t in tallies]
                old = []
                for i in range(0, len(keys), 400):
                    chunk = keys[i:i + 400]
                    c.execute(f"SELECT * FROM analytic_tallies WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                    old.extend(tally_of(tuple(r)) for r in c.fetchall())
                c.executemany(f"INSERT OR REPLACE INTO analytic_tallies VALUES ({','.join('?' * 12)})",
                              [tally_row(t) for t in tally([*old, *tallies])])
            rows = []
            for n, (position, f) in enumerate(facts):
                rows.append((position, n, f.family, f.metric, f.unit, f.month, f.source,
                             persons_json(f.persons), f.theme, f.context, f.polarity, f.intensity))
            c.executemany(f"INSERT INTO analytic_facts VALUES ({','.join('?' * 12)})", rows)
            c.executemany(
                "INSERT INTO analytic_sources VALUES (?,?,?,?) ON CONFLICT (source) DO UPDATE SET "
                "kind = excluded.kind, unit = excluded.unit, persons = excluded.persons",
                [(sid, s.kind, s.unit, json.dumps(sorted(s.persons))) for sid, s in sources.items()],
            )

    def facts(self) -> list[Fact]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {','.join(_FACT_COLS)} FROM analytic_facts ORDER BY position, n")
            rows = c.fetchall()
        return [Fact(r[0], r[1], r[2], r[3], r[4], frozenset(json.loads(r[5])), r[6], r[7], r[8], r[9])
                for r in rows]

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM analytic_tallies WHERE family = ? AND month >= ? AND month <= ? ORDER BY key",
                      (family, since or "", until or "9999-99"))
            return [tally_of(tuple(r)) for r in c.fetchall()]

    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        wanted = None if ids is None else sorted(set(ids))
        rows: list[Any] = []
        with self.datastore.transaction(commit=False) as c:
            if wanted is None:
                c.execute("SELECT source, kind, unit, persons FROM analytic_sources")
                rows = c.fetchall()
            for i in range(0, len(wanted or []), 400):
                chunk = (wanted or [])[i:i + 400]
                c.execute("SELECT source, kind, unit, persons FROM analytic_sources WHERE source IN "
                          f"({','.join('?' * len(chunk))})", chunk)
                rows.extend(c.fetchall())
        return {r[0]: Source(r[1], r[2], set(json.loads(r[3]))) for r in rows}

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM analytic_facts")
            c.execute("DELETE FROM analytic_tallies")
            c.execute("DELETE FROM analytic_sources")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (NAME,))

    def ledger(self, family: str) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT k, population FROM release_ledger WHERE family = ?", (family,))
            return [{"k": r[0], "contributions": json.loads(r[1])} for r in c.fetchall()]

    def record_release(
        self, rel: Release, family: str, query: dict[str, Any], analyst: str, at: str, contrib: dict[str, int],
        check: Callable[[list[dict[str, Any]]], None] = lambda earlier: None,
    ) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO release_ledger (released_at, analyst, family, query, k, level, total, population) "
                "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (at, analyst, family, json.dumps(query, sort_keys=True), rel.policy.k,
                 f"{rel.level.time}/{rel.level.unit_depth}", rel.total, json.dumps(contrib, sort_keys=True)),
            )
            release_id = int(c.fetchone()[0])
            # the insert above holds the write lock: no other release can slip in between
            c.execute("SELECT k, population FROM release_ledger WHERE family = ? AND id < ?", (family, release_id))
            check([{"k": r[0], "contributions": json.loads(r[1])} for r in c.fetchall()])  # raises: rolled back
            c.executemany(
                f"INSERT INTO released_rows VALUES ({','.join('?' * 12)})",
                [(release_id, family, *(row.dims.get(col) for col in _ROW_COLS), row.value, row.status, None)
                 for row in rel.rows],
            )
        return release_id


class MemoryAnalyticsView(POPOTrackingRecorder, AnalyticsView):
    def __init__(self) -> None:
        super().__init__()
        self._facts: list[tuple[int, Fact]] = []
        self._tallies: dict[tuple[Any, ...], Tally] = {}
        self._sources: dict[str, Source] = {}
        self._ledger: list[dict[str, Any]] = []

    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            merged = tally([*(self._tallies[t.key] for t in tallies if t.key in self._tallies), *tallies])
            self._tallies.update({t.key: t for t in merged})
            self._facts.extend(facts)
            self._sources.update({k: Source(v.kind, v.unit, set(v.persons)) for k, v in sources.items()})
            self._insert_tracking(tracking)

    def facts(self) -> list[Fact]:
        with self._database_lock:
            return [f for _, f in self._facts]

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        low, high = since or "", until or "9999-99"
        with self._database_lock:
            return sorted((t for t in self._tallies.values() if t.family == family and low <= t.month <= high),
                          key=lambda t: tuple(map(str, t.key)))

    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        with self._database_lock:
            keys = self._sources.keys() if ids is None else set(ids) & self._sources.keys()
            return {k: Source(self._sources[k].kind, self._sources[k].unit, set(self._sources[k].persons))
                    for k in keys}

    def clear(self) -> None:
        with self._database_lock:
            self._facts.clear()
            self._tallies.clear()
            self._sources.clear()
            self._max_tracking_ids.pop(NAME, None)

    def ledger(self, family: str) -> list[dict[str, Any]]:
        with self._database_lock:
            return [{"k": r["k"], "contributions": r["contributions"]} for r in self._ledger if r["family"] == family]

    def record_release(
        self, rel: Release, family: str, query: dict[str, Any], analyst: str, at: str, contrib: dict[str, int],
        check: Callable[[list[dict[str, Any]]], None] = lambda earlier: None,
    ) -> int:
        with self._database_lock:
            check([{"k": r["k"], "contributions": r["contributions"]} for r in self._ledger if r["family"] == family])
            self._ledger.append({"family": family, "query": query, "rows": rel.rows, "k": rel.policy.k,
                                 "contributions": dict(contrib)})
            return len(self._ledger)


class Analytics(TrackedProjection):
    """Keeps the facts current, exactly once (facts, sources and position in one transaction)."""

    name = NAME

    def __init__(self, app: EngagementTracker, view: AnalyticsView | None = None) -> None:
        self.app = app
        self.view = view if view is not None else view_for(
            app, SQLiteAnalyticsView, MemoryAnalyticsView, "PostgresAnalyticsView")

    def apply(self, page: Sequence[Decoded]) -> int:
        """Project a page that follows the facts' position; only the event types counted are decoded."""
        wanted = [d for d in page if concerns(d.topic) or counts(d.topic)]
        sources = self.view.sources({str(d.originator_id) for d in wanted})  # only what the page touches
        changed: dict[str, Source] = {}
        facts: list[tuple[int, Fact]] = []
        for d in wanted:
            topic = d.topic
            when = iso_time(d.stamp[2]) if topic in STAMPED else None
            if when is not None:  # its time is all it takes
                facts.extend((d.id, f) for f in stamped_fact(topic, str(d.originator_id), when, sources))
                continue
            event = d.event
            if event is None:
                raise StoreError(f"cannot decode position {d.id} (tampered, unknown topic, or ETRACK_CIPHER_KEY "
                                 "missing or wrong): run etrack audit verify")
            sid = update_sources(event, sources)
            if sid is not None:
                changed[sid] = sources[sid]
            facts.extend((d.id, f) for f in signal_facts(event, sources) + activity_facts(event, sources))
        self.view.append(facts, changed, Tracking(NAME, page[-1].id), tally(f for _, f in facts))
        return len(facts)


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def require_window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """A window of months, 'YYYY-MM' to 'YYYY-MM' inclusive, either end open."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, str) or not _MONTH.fullmatch(value)):
            raise InvalidInput(name, f"{value!r} is not a month written YYYY-MM")
    if since and until and since > until:
        raise InvalidInput("since", f"the window starts ({since}) after it ends ({until})")
    return since or None, until or None


def iso_time(text: str | None) -> datetime | None:
    """A stamp's time, parsed, when it is the extended ISO 8601 form ``isoformat()`` writes
    (a tampered record's may be anything, including other forms ``fromisoformat`` accepts)."""
    if not text or not _ISO_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?"
                       r"([+-][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{6})?)?)?")


_FIRST_MONTHS = {"month": range(1, 13), "quarter": (1, 4, 7, 10), "year": (1,)}


def require_whole_periods(since: str | None, until: str | None, grain: str) -> None:
    """A window must hold whole periods of the release's grain (asked for, or coarsened to).

    Otherwise a cell labelled '2026-Q1' would count only February and March. Refused before
    anything is recorded, with the nearest window that fits.
    """
    firsts = _FIRST_MONTHS.get(grain, range(1, 13))
    span = 12 // len(firsts)
    if since is not None and int(since[5:]) not in firsts:
        start = max(m for m in firsts if m <= int(since[5:]))
        raise InvalidInput("since", f"{since} falls inside a {grain}, and this release is by {grain}: "
                                    f"start the window at {since[:4]}-{start:02d}")
    if until is not None and int(until[5:]) % span:
        end = (int(until[5:]) // span + 1) * span
        raise InvalidInput("until", f"{until} falls inside a {grain}, and this release is by {grain}: "
                                    f"end the window at {until[:4]}-{end:02d}")


class AnalystService:
    """Released aggregates only: signal summaries, trends and activity indicators."""

    def __init__(self, app: EngagementTracker) -> None:
        self.app = app
        self.analytics = Analytics(app)

    def _release(
        self,
        viewer: Actor,
        family: str,
        by: Sequence[str],
        unit: str | None,
        period: str,
        k: int,
        action: str,
        since: str | None = None,
        until: str | None = None,
    ) -> Release:
        require_analyst(viewer, action)
        since, until = require_window(since, until)
        floor = int(self.app.env.get("ETRACK_K_MIN") or 5)
        earlier = self.analytics.view.ledger(family)
        # k can be raised, never lowered: not below the deployment's floor nor any earlier release's k
        k = max(k, floor, *(e["k"] for e in earlier))
        policy = Policy(k=k)
        by = [d.strip() for d in (by.split(",") if isinstance(by, str) else by)]
        self.analytics.catch_up()
        facts = self.analytics.view.tallies(family, since, until)
        if unit:
            facts = [f for f in facts if f.unit == unit or f.unit.startswith(unit.rstrip("/") + "/")]
        rel = release(facts, by, policy, Level(time=period))
        if "period" in by:  # a cut period would be published as a whole one
            require_whole_periods(since, until, rel.level.time)
        if not rel.released and rel.total is None:
            return rel  # nothing published: nothing to compare later releases with
        current = {pseudonym(p): n for p, n in contributions(facts).items()}

        def check(recorded: list[dict[str, Any]]) -> None:  # run again inside the ledger's write
            floor_k = max([k, *(e["k"] for e in recorded)])
            check_ledger(current, [e["contributions"] for e in recorded], floor_k)

        check(earlier)
        query = {"by": list(by), "unit": unit, "period": period, "k": k, "since": since, "until": until}
        at = self.app.clock().astimezone(UTC).isoformat()
        self.analytics.view.record_release(rel, family, query, str(viewer.party), at, current, check)
        return rel

    def summary(
        self,
        viewer: Actor,
        by: Sequence[str] = ("theme", "period"),
        unit: str | None = None,
        period: str = "month",
        k: int = 5,
        since: str | None = None,
        until: str | None = None,
    ) -> Release:
        """Signal counts per cell (theme x context x unit x period ...), released under the rules.

        ``since`` / ``until`` ('YYYY-MM', inclusive) restrict it to a window of months.
        """
        return self._release(viewer, "signal", by, unit, period, k, "release a signal summary", since, until)

    def activity(
        self,
        viewer: Actor,
        by: Sequence[str] = ("metric", "period"),
        unit: str | None = None,
        period: str = "quarter",
        k: int = 5,
        since: str | None = None,
        until: str | None = None,
    ) -> Release:
        """Activity indicators per metric (and period, unit), released under the same rules."""
        return self._release(viewer, "activity", by, unit, period, k, "release activity indicators", since, until)

    def trends(
        self, viewer: Actor, unit: str | None = None, period: str = "month", k: int = 5,
        since: str | None = None, until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per theme: rising, stable or falling; flagged when a weak signal becomes strong."""
        return trends(self.summary(viewer, ("theme", "period"), unit, period, k, since, until))


# --- output -------------------------------------------------------------------------------------


def release_rows(rel: Release, with_total: bool = True) -> list[dict[str, Any]]:
    """Rows for tables, CSV and data frames: the cells, then the grand total (never a subtotal)."""
    rows = [r.to_dict() for r in rel.rows]
    if with_total:
        total = {d: "(all)" for d in rel.by}
        rows.append({**total, "value": rel.total, "status": "released" if rel.total is not None else "suppressed"})
    return rows


def release_document(rel: Release) -> dict[str, Any]:
    """The release as JSON data: what was asked, at which level, under which rules, and the rows."""
    return {
        "by": list(rel.by),
        "level": {"time": rel.level.time, "unit_depth": rel.level.unit_depth},
        "k": rel.policy.k,
        "dominance": rel.policy.dominance,
        "total": rel.total,
        "released_cells": len(rel.released),
        "suppressed_cells": len(rel.hidden),
        "note": "the total counts every fact, suppressed ones included; no subtotal is published",
        "rows": [r.to_dict() for r in rel.rows],
    }


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


__all__ = ["DIMENSIONS", "Analytics", "AnalystService", "release_document", "release_rows", "to_csv"]
