"""The read models in the event store's SQLite file: the audit trail, the analysts' tables, the directory.

Each view writes its rows and eventsourcing's tracking row in one transaction. The trail's table
is read joined with the events table by ``adapters/stored_records.py`` (it names
:data:`AUDIT_TABLE`); the SQL view ``etrack_released`` shows released rows and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from engagement_tracker.adapters.grant_guards import sqlite_register_version
from engagement_tracker.adapters.views.rows import (
    AUDIT_COLUMNS,
    DIRECTORY_COLUMNS,
    DIRECTORY_TABLE_COLUMNS,
    FACT_COLUMNS,
    RELEASED_DIMENSIONS,
    directory_row,
    entry_of,
    persons_json,
)
from engagement_tracker.domain.access import GrantGuard
from engagement_tracker.domain.application.analysts import PendingDpLeaf, PendingRelease
from engagement_tracker.projections.analytics import NAME as ANALYTICS
from engagement_tracker.projections.analytics import AnalyticsView, TrialOver, group_verdict, watched
from engagement_tracker.projections.anonymity import (
    Fact,
    Tally,
    TallyRow,
    compact_row,
    tally,
    tally_of,
    tally_row,
)
from engagement_tracker.projections.audit_chain import AuditEntry, EntryRow
from engagement_tracker.projections.audit_trail import TRAIL_NAME, AuditTrailView
from engagement_tracker.projections.audit_tree import Key, Node
from engagement_tracker.projections.directory import NAME as DIRECTORY
from engagement_tracker.projections.directory import DirectoryView, Entry
from engagement_tracker.projections.regions import Block, Refiner, blocks_json, blocks_of, counts_json
from engagement_tracker.projections.release_ledger import LedgerRow
from engagement_tracker.projections.weak_signals import Source

AUDIT_TABLE = "audit_trail"
TREE_TABLE = "audit_tree"
DIRECTORY_TABLE = "directory"


#: The events table of an SQLite store (eventsourcing's), beside these views in the same file.
EVENTS_TABLE = "stored_events"

class SQLiteAuditTrailView(SQLiteTrackingRecorder, AuditTrailView):
    """The trail in the event store's SQLite file: table ``audit_trail`` plus eventsourcing's tracking row."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} ("
            "position INTEGER PRIMARY KEY, aggregate_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, "
            "version INTEGER NOT NULL, topic TEXT NOT NULL, event_type TEXT NOT NULL, actor TEXT, role TEXT, "
            "recorded_at TEXT, state_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL)"
        )
        statements.append(f"CREATE TABLE IF NOT EXISTS {TREE_TABLE} (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
                          "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID")
        return statements

    def append(self, rows: Sequence[EntryRow], tracking: Tracking, nodes: Iterable[Node] = ()) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT INTO {AUDIT_TABLE} VALUES ({','.join('?' * len(AUDIT_COLUMNS))})", rows)
            c.executemany(f"INSERT INTO {TREE_TABLE} VALUES (?,?,?)", nodes)
            self._insert_tracking(c, tracking)

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT OR IGNORE INTO {TREE_TABLE} VALUES (?,?,?)", nodes)

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        wanted = list(keys)
        if not wanted:
            return {}
        found: dict[Key, bytes] = {}
        with self.datastore.transaction(commit=False) as c:
            # one primary-key search per node (SQLite scans the whole tree for `(level, idx) IN (VALUES ...)`:
            # a cost per page that grew with the trail)
            for i in range(0, len(wanted), 200):
                chunk = wanted[i:i + 200]
                c.execute(f"SELECT level, idx, hash FROM {TREE_TABLE} WHERE "
                          + " OR ".join(["(level = ? AND idx = ?)"] * len(chunk)), [x for k in chunk for x in k])
                found.update(((int(r[0]), int(r[1])), bytes(r[2])) for r in c.fetchall())
        return found

    def leaf_count(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT max(idx) FROM {TREE_TABLE} WHERE level = 0")
            row = c.fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {','.join(AUDIT_COLUMNS)} FROM {AUDIT_TABLE} WHERE position >= ? ORDER BY position LIMIT ?",
                (start, -1 if limit is None else limit),
            )
            return [AuditEntry(*tuple(row)) for row in c.fetchall()]

    def head(self) -> AuditEntry | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {','.join(AUDIT_COLUMNS)} FROM {AUDIT_TABLE} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return None if row is None else AuditEntry(*tuple(row))

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {AUDIT_TABLE}")
            c.execute(f"DELETE FROM {TREE_TABLE}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (TRAIL_NAME,))


class SQLiteAnalyticsView(SQLiteTrackingRecorder, AnalyticsView):
    """Facts, tallies, sources and the release ledger, in tables beside the events."""

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
            "CREATE TABLE IF NOT EXISTS analytic_parts (key TEXT PRIMARY KEY, family TEXT, parts TEXT)",
            "CREATE TABLE IF NOT EXISTS analytic_regions (sig TEXT PRIMARY KEY, family TEXT, facts INTEGER, "
            "persons TEXT, sources TEXT, hidden TEXT)",
            "CREATE INDEX IF NOT EXISTS analytic_regions_family ON analytic_regions (family)",
            "CREATE TABLE IF NOT EXISTS analytic_dp_answers (key TEXT PRIMARY KEY, document TEXT NOT NULL)",
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
                old: list[Tally] = []
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
            c.execute(f"SELECT {','.join(FACT_COLUMNS)} FROM analytic_facts ORDER BY position, n")
            rows = c.fetchall()
        return [Fact(r[0], r[1], r[2], r[3], r[4], frozenset(json.loads(r[5])), r[6], r[7], r[8], r[9])
                for r in rows]

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        return [tally_of(r) for r in self.tally_rows(family, since, until)]

    def tally_rows(self, family: str, since: str | None = None, until: str | None = None) -> list[TallyRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT * FROM analytic_tallies WHERE family = ? AND month >= ? AND month <= ? ORDER BY key",
                      (family, since or "", until or "9999-99"))
            return [compact_row(r) for r in c.sqlite_cursor]  # row by row: never every row twice

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
            c.execute("DELETE FROM tracking WHERE application_name = ?", (ANALYTICS,))

    def ledger(self, family: str) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT k FROM release_ledger WHERE family = ? ORDER BY id", (family,))
            return [{"k": r[0]} for r in c.fetchall()]

    def record_releases(
        self, items: Sequence[PendingRelease], guard: GrantGuard | None = None, *, commit: bool = True,
    ) -> list[int]:
        ids: list[int] = []
        try:
            with self.datastore.transaction(commit=True) as c:
                for i, item in enumerate(items):
                    ids.append(self._record_one(c, item, guard if i == 0 else None))
                if not commit:
                    raise TrialOver  # rolled back: a trial writes nothing
                self._log(c, lambda leaves, version_of: leaves.events(items, ids, version_of))
        except TrialOver:
            pass
        return ids

    def trial_verdicts(
        self, items: Sequence[PendingRelease], groups: Sequence[Sequence[PendingRelease]], guard: GrantGuard | None = None,
    ) -> list[bool | None]:
        verdicts: list[bool | None] = []
        try:
            with self.datastore.transaction(commit=True) as c:
                read: list[Refiner] = []
                for i, item in enumerate(items):
                    self._record_one(c, watched(item, read), guard if i == 0 else None)
                for group in groups:  # each on top of the items, then rolled back to them
                    c.execute("SAVEPOINT etrack_trial_group")
                    verdicts.append(group_verdict(group, read, lambda g: self._record_one(c, g, None)))
                    c.execute("ROLLBACK TO etrack_trial_group")
                    c.execute("RELEASE etrack_trial_group")
                raise TrialOver  # rolled back: a trial writes nothing
        except TrialOver:
            pass
        return verdicts

    def _record_one(self, c: Any, item: PendingRelease, guard: GrantGuard | None) -> int:
        rel, family = item.internal, item.family
        c.execute(
            "INSERT INTO release_ledger (released_at, analyst, family, query, k, level, total, population) "
            "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (item.at, item.analyst, family, json.dumps(item.query, sort_keys=True), rel.policy.k,
             f"{rel.level.time}/{rel.level.unit_depth}", rel.total, json.dumps(len(rel.population))),
        )
        release_id = int(c.fetchone()[0])
        if guard is not None:  # the file's write lock is held: no revocation commits before this
            guard.require(sqlite_register_version(c, EVENTS_TABLE) or 0)
        # the insert above holds the write lock: no other release can slip in between
        c.execute("SELECT count(*), coalesce(max(k), 0) FROM release_ledger WHERE family = ? AND id < ?",
                  (family, release_id))
        earlier, highest_k = c.fetchone()
        refiner = item.refine(int(earlier) + 1, int(highest_k))
        for chunk in _chunks(list(item.keys), self.release_page):  # a page of cells at a time: read, refined, written
            c.execute(f"SELECT key, parts FROM analytic_parts WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            new = refiner.page(chunk, {r[0]: blocks_of(r[1]) for r in c.fetchall()})
            c.executemany("INSERT OR REPLACE INTO analytic_parts VALUES (?,?,?)",
                          [(key, family, blocks_json(blocks)) for key, blocks in new.items()])
        regions: dict[str, Block] = {}
        for chunk in _chunks(refiner.regions_to_read):
            c.execute("SELECT sig, facts, persons, sources, hidden FROM analytic_regions "
                      f"WHERE sig IN ({','.join('?' * len(chunk))})", chunk)
            regions.update((r[0], _block(r)) for r in c.fetchall())
        put, drop = refiner.finish(regions)  # raises: rolled back
        c.executemany("DELETE FROM analytic_regions WHERE sig = ?", [(sig,) for sig in drop])
        c.executemany("INSERT OR REPLACE INTO analytic_regions VALUES (?,?,?,?,?,?)",
                      ((b.sig, family, b.facts, counts_json(b.persons), counts_json(b.sources),
                        counts_json(b.hidden)) for b in put))  # encoded one region at a time
        c.executemany(
            f"INSERT INTO released_rows VALUES ({','.join('?' * 12)})",
            [(release_id, family, *(row.dims.get(col) for col in RELEASED_DIMENSIONS), row.value, row.status, None)
             for row in rel.rows],
        )
        return release_id

    def _log(self, c: Any, events: Callable[[Any, Callable[[Any], int]], list[StoredEvent]]) -> None:
        """The releases' events (their leaves of the audit log: ``events(leaves, version_of)``), inserted in
        this transaction by the store's own recorder (sealed like every record): ``adapters/release_leaves.py``."""
        leaves = self.release_leaves
        if leaves is None:
            return

        def version_of(log_id: Any) -> int:
            c.execute(f"SELECT max(originator_version) FROM {leaves.recorder.events_table_name} WHERE originator_id = ?",
                      (log_id.hex,))  # as eventsourcing stores a UUID in SQLite
            return int(c.fetchone()[0] or 0)

        stored = events(leaves, version_of)
        if stored:
            leaves.recorder._insert_events(c, stored)

    def ledger_rows(self) -> dict[int, LedgerRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT id, released_at, analyst, family, query, k, level, total FROM release_ledger")
            ledger = c.fetchall()
            c.execute(f"SELECT release_id, {', '.join(RELEASED_DIMENSIONS)}, value, status FROM released_rows "
                      "ORDER BY rowid")
            cells: dict[int, list[tuple[dict[str, Any], Any, str]]] = {}
            for r in c.fetchall():
                cells.setdefault(int(r[0]), []).append((dict(zip(RELEASED_DIMENSIONS, r[1:-2], strict=True)), r[-2], r[-1]))
        return {int(r[0]): LedgerRow(int(r[0]), r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7],
                                     tuple(cells.get(int(r[0]), ()))) for r in ledger}

    def regions(self, family: str) -> dict[str, Block]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT sig, facts, persons, sources, hidden FROM analytic_regions WHERE family = ?", (family,))
            return {r[0]: _block(r) for r in c.fetchall()}

    def parts(self, family: str) -> dict[str, list[Block]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key, parts FROM analytic_parts WHERE family = ?", (family,))
            return {r[0]: blocks_of(r[1]) for r in c.fetchall()}

    def dp_answer(self, key: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT document FROM analytic_dp_answers WHERE key = ?", (key,))
            row = c.fetchone()
        return None if row is None else str(row[0])

    def record_dp_answer(self, key: str, document: str, leaf: PendingDpLeaf | None = None) -> str:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO analytic_dp_answers VALUES (?, ?)", (key, document))
            c.execute("SELECT changes()")
            if int(c.fetchone()[0]) == 1 and leaf is not None:  # a new answer: its release is logged with it
                self._log(c, lambda leaves, version_of: leaves.dp_events(key, leaf, version_of))
            c.execute("SELECT document FROM analytic_dp_answers WHERE key = ?", (key,))
            return str(c.fetchone()[0])


def _block(r: Any) -> Block:
    return Block(r[0], r[1], json.loads(r[2]), json.loads(r[3]), json.loads(r[4]))


def _chunks(items: list[str], size: int = 400) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class SQLiteDirectoryView(SQLiteTrackingRecorder, DirectoryView):
    """The directory in table ``directory`` beside the events, plus eventsourcing's tracking row."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements += [
            f"CREATE TABLE IF NOT EXISTS {DIRECTORY_TABLE} ({DIRECTORY_TABLE_COLUMNS})",
            f"CREATE INDEX IF NOT EXISTS {DIRECTORY_TABLE}_listing ON {DIRECTORY_TABLE} (kind, position)",
        ]
        return statements

    def save(self, entries: Sequence[Entry], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)  # write first (see SQLiteAnalyticsView.append)
            c.executemany(f"INSERT OR REPLACE INTO {DIRECTORY_TABLE} ({','.join(DIRECTORY_COLUMNS)}) "
                          f"VALUES ({','.join('?' * len(DIRECTORY_COLUMNS))})", [directory_row(e) for e in entries])

    def entries(self, ids: Iterable[str]) -> dict[str, Entry]:
        wanted = sorted(set(ids))
        found: dict[str, Entry] = {}
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(wanted), 400):
                chunk = wanted[i:i + 400]
                c.execute(f"SELECT {','.join(DIRECTORY_COLUMNS)} FROM {DIRECTORY_TABLE} "
                          f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                found.update((e.id, e) for e in map(entry_of, c.fetchall()))
        return found

    def listing(self, kind: str | None = None) -> list[Entry]:
        with self.datastore.transaction(commit=False) as c:
            if kind is None:
                c.execute(f"SELECT {','.join(DIRECTORY_COLUMNS)} FROM {DIRECTORY_TABLE} ORDER BY position")
            else:
                c.execute(f"SELECT {','.join(DIRECTORY_COLUMNS)} FROM {DIRECTORY_TABLE} WHERE kind = ? "
                          "ORDER BY position", (kind,))
            return [entry_of(tuple(r)) for r in c.fetchall()]

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {DIRECTORY_TABLE}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (DIRECTORY,))
