"""The read models in PostgreSQL: audit trail, analytics and directory, each with eventsourcing's tracking row.

Same contract as the SQLite and memory views (the abstract views in ``projections/``): entries
or facts and the tracked position are written in one transaction. The trail's table is read
joined with the events table by ``adapters/stored_records.py`` (it names :data:`AUDIT_TABLE`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier, Literal

from engagement_tracker.adapters.grant_guards import REGISTER_LOCK, postgres_register_version
from engagement_tracker.adapters.views.rows import (
    AUDIT_COLUMNS,
    DIRECTORY_COLUMNS,
    DIRECTORY_TABLE_COLUMNS,
    RELEASED_DIMENSIONS,
    TALLY_COLUMNS,
    directory_row,
    persons_json,
)
from engagement_tracker.domain.access import GrantGuard
from engagement_tracker.domain.application.analysts import PendingDpLeaf, PendingRelease
from engagement_tracker.domain.errors import StoreError
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

AUDIT_TABLE = "etrack_audit_trail"
TREE_TABLE = "etrack_audit_tree"
DIRECTORY_TABLE = "etrack_directory"


def _table(datastore: PostgresDatastore, name: str) -> Composed:
    return SQL("{}.{}").format(Identifier(datastore.schema), Identifier(name))


#: Rows per upsert statement (one array per column): a page of 5,000 is one statement.
ROWS_PER_STATEMENT = 10_000


def copy_rows(curs: Any, table: Composed, rows: Iterable[Sequence[Any]]) -> None:
    """Plain inserts of a page as one COPY (one round trip, no per-row statement)."""
    with curs.copy(SQL("COPY {} FROM STDIN").format(table)) as copy:
        for row in rows:
            copy.write_row(row)


def upsert_rows(curs: Any, head: Composed, types: Sequence[str], rows: Sequence[Sequence[Any]],
                tail: SQL | Composed) -> None:
    """``head SELECT * FROM unnest(column arrays) tail`` for a page of rows: one array per column, so
    the statement's text is the same for any number of rows and PostgreSQL parses and plans it once
    per connection (prepared), not once per page as a ``VALUES`` list of the page's length would be.
    ``types`` are the columns' SQL types, in order. The rows' keys must be distinct (an upsert may
    not touch a row twice)."""
    statement = head + SQL(" SELECT * FROM unnest(") + SQL(",").join(
        SQL("%s::" + kind + "[]") for kind in types) + SQL(") ") + tail
    as_text = [kind.upper() != "TEXT" for kind in types]
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        columns = zip(*rows[i:i + ROWS_PER_STATEMENT], strict=True)
        # every array sent as text[] (cast in SQL): psycopg would send a column of small ints as
        # int2[] one page and int8[] the next, and each would be a statement prepared anew
        curs.execute(statement, [[None if v is None else str(v) for v in column] if text else list(column)
                                 for column, text in zip(columns, as_text, strict=True)], prepare=True)


def column_types(table_columns: str, names: Sequence[str]) -> tuple[str, ...]:
    """The SQL type of each of NAMES, read from a ``CREATE TABLE`` column list (``name TYPE ...``)."""
    declared = dict(column.split()[:2] for column in table_columns.split(","))
    return tuple(declared[name] for name in names)


#: The analytics tables' columns as the upserts write them (their CREATE TABLE statements below).
TALLY_TYPES = ("TEXT",) * 8 + ("INTEGER", "INTEGER", "TEXT", "TEXT")
SOURCE_TYPES = ("TEXT",) * 4
DIRECTORY_TYPES = column_types(DIRECTORY_TABLE_COLUMNS, DIRECTORY_COLUMNS)


class PostgresAuditTrailView(PostgresTrackingRecorder, AuditTrailView):
    """The trail in table ``etrack_audit_trail`` of the store's schema, plus eventsourcing's tracking row."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._t = _table(datastore, AUDIT_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (position BIGINT PRIMARY KEY, aggregate_id TEXT NOT NULL, "
            "aggregate_type TEXT NOT NULL, version BIGINT NOT NULL, topic TEXT NOT NULL, event_type TEXT NOT NULL, "
            "actor TEXT, role TEXT, recorded_at TEXT, state_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, "
            "entry_hash TEXT NOT NULL)").format(self._t))
        self._tree = _table(datastore, TREE_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, "
            "PRIMARY KEY (level, idx))").format(self._tree))

    def append(self, rows: Sequence[EntryRow], tracking: Tracking, nodes: Iterable[Node] = ()) -> None:
        with self.datastore.transaction(commit=True) as curs:
            copy_rows(curs, self._t, rows)
            copy_rows(curs, self._tree, nodes)
            self._insert_tracking(curs, tracking)

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(SQL("INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(self._tree),
                             nodes)

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        wanted = list(keys)
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT level, idx, hash FROM {} WHERE (level, idx) IN ({})").format(
                self._tree, SQL(",".join(["(%s, %s)"] * len(wanted)))), [x for k in wanted for x in k])
            return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in curs.fetchall()}

    def leaf_count(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT max(idx) AS top FROM {} WHERE level = 0").format(self._tree))
            row = curs.fetchone()
        return 0 if row is None or row["top"] is None else int(row["top"]) + 1

    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {} WHERE position >= %s ORDER BY position LIMIT %s").format(self._t),
                         (start, limit))
            return [AuditEntry(**{c: row[c] for c in AUDIT_COLUMNS}) for row in curs.fetchall()]

    def head(self) -> AuditEntry | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {} ORDER BY position DESC LIMIT 1").format(self._t))
            row = curs.fetchone()
        return None if row is None else AuditEntry(**{c: row[c] for c in AUDIT_COLUMNS})

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {}").format(self._t))
            curs.execute(SQL("DELETE FROM {}").format(self._tree))
            curs.execute(SQL("DELETE FROM {} WHERE application_name = %s").format(
                _table(self.datastore, self.tracking_table_name)), (TRAIL_NAME,))


class PostgresAnalyticsView(PostgresTrackingRecorder, AnalyticsView):
    """Facts, tallies, sources and the release ledger, in ``etrack_*`` tables of the store's schema."""

    #: The store's events table (the application's; bootstrap sets it): a release's grant guard reads it.
    events_table_name = "etrack_events"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._facts = _table(datastore, "etrack_analytic_facts")
        self._sources = _table(datastore, "etrack_analytic_sources")
        self._tallies = _table(datastore, "etrack_analytic_tallies")
        self._ledger = _table(datastore, "etrack_release_ledger")
        self._rows = _table(datastore, "etrack_released_rows")
        self._parts = _table(datastore, "etrack_analytic_parts")
        self._regions = _table(datastore, "etrack_analytic_regions")
        self._dp = _table(datastore, "etrack_analytic_dp_answers")
        self._view = _table(datastore, "etrack_released")
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (position BIGINT NOT NULL, n INTEGER NOT NULL, family TEXT, "
                "metric TEXT, unit TEXT, month TEXT, source TEXT, persons TEXT, theme TEXT, context TEXT, "
                "polarity TEXT, intensity INTEGER, PRIMARY KEY (position, n))").format(self._facts),
            SQL("CREATE TABLE IF NOT EXISTS {} (source TEXT PRIMARY KEY, kind TEXT, unit TEXT, persons TEXT)"
                ).format(self._sources),
            SQL("CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, family TEXT, metric TEXT, unit TEXT, "
                "month TEXT, theme TEXT, context TEXT, polarity TEXT, intensity INTEGER, facts INTEGER, "
                "persons TEXT, sources TEXT)").format(self._tallies),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (family, month)").format(
                Identifier("etrack_analytic_tallies_window"), self._tallies),
            SQL("CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, released_at TEXT, analyst TEXT, "
                "family TEXT, query TEXT, k INTEGER, level TEXT, total INTEGER, population TEXT)").format(self._ledger),
            SQL("CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, family TEXT, parts TEXT)").format(self._parts),
            SQL("CREATE TABLE IF NOT EXISTS {} (sig TEXT PRIMARY KEY, family TEXT, facts INTEGER, persons TEXT, "
                "sources TEXT, hidden TEXT)").format(self._regions),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (family)").format(
                Identifier("etrack_analytic_regions_family"), self._regions),
            SQL("CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, document TEXT NOT NULL)").format(self._dp),
            SQL("CREATE TABLE IF NOT EXISTS {} (release_id BIGINT NOT NULL, family TEXT, theme TEXT, context TEXT, "
                "polarity TEXT, intensity INTEGER, unit TEXT, period TEXT, metric TEXT, value INTEGER, "
                "status TEXT NOT NULL, reason TEXT)").format(self._rows),
            SQL("DO $$ BEGIN IF to_regclass({}) IS NULL THEN "
                "CREATE VIEW {} AS SELECT r.release_id, l.released_at, l.k, l.level, r.family, r.theme, "
                "r.context, r.polarity, r.intensity, r.unit, r.period, r.metric, r.value, r.status "
                "FROM {} r JOIN {} l ON l.id = r.release_id; END IF; END $$").format(
                Literal(f"{datastore.schema}.etrack_released"), self._view, self._rows, self._ledger),
        ]

    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)  # first: a second runner waits here, then clashes
            if tallies:
                keys = [json.dumps(list(t.key)) for t in tallies]
                curs.execute(SQL("SELECT * FROM {} WHERE key = ANY(%s) FOR UPDATE").format(self._tallies), (keys,))
                old = [tally_of([r[c] for c in TALLY_COLUMNS]) for r in curs.fetchall()]
                merged = {row[0]: row for row in (tally_row(t) for t in tally([*old, *tallies]))}  # one per key
                upsert_rows(curs, SQL("INSERT INTO {}").format(self._tallies), TALLY_TYPES, list(merged.values()), SQL(
                    "ON CONFLICT (key) DO UPDATE SET facts = excluded.facts, persons = excluded.persons, "
                    "sources = excluded.sources"))
            if facts:
                copy_rows(curs, self._facts, (
                    (position, n, f.family, f.metric, f.unit, f.month, f.source, persons_json(f.persons),
                     f.theme, f.context, f.polarity, f.intensity) for n, (position, f) in enumerate(facts)))
            if sources:
                upsert_rows(curs, SQL("INSERT INTO {}").format(self._sources), SOURCE_TYPES,
                            [(sid, s.kind, s.unit, json.dumps(sorted(s.persons))) for sid, s in sources.items()],
                            SQL("ON CONFLICT (source) DO UPDATE SET kind = excluded.kind, unit = excluded.unit, "
                                "persons = excluded.persons"))

    def facts(self) -> list[Fact]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {} ORDER BY position, n").format(self._facts))
            return [Fact(r["family"], r["metric"], r["unit"], r["month"], r["source"],
                         frozenset(json.loads(r["persons"])), r["theme"], r["context"], r["polarity"], r["intensity"])
                    for r in curs.fetchall()]

    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        return [tally_of(r) for r in self.tally_rows(family, since, until)]

    def tally_rows(self, family: str, since: str | None = None, until: str | None = None) -> list[TallyRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {} WHERE family = %s AND month >= %s AND month <= %s ORDER BY key").format(
                self._tallies), (family, since or "", until or "9999-99"))
            return [compact_row([r[c] for c in TALLY_COLUMNS]) for r in curs.fetchall()]

    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        with self.datastore.transaction(commit=False) as curs:
            if ids is None:
                curs.execute(SQL("SELECT * FROM {}").format(self._sources))
            else:
                curs.execute(SQL("SELECT * FROM {} WHERE source = ANY(%s)").format(self._sources), (sorted(set(ids)),))
            return {r["source"]: Source(r["kind"], r["unit"], set(json.loads(r["persons"]))) for r in curs.fetchall()}

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {}").format(self._facts))
            curs.execute(SQL("DELETE FROM {}").format(self._tallies))
            curs.execute(SQL("DELETE FROM {}").format(self._sources))
            curs.execute(SQL("DELETE FROM {} WHERE application_name = %s").format(
                _table(self.datastore, self.tracking_table_name)), (ANALYTICS,))

    def ledger(self, family: str) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT k FROM {} WHERE family = %s ORDER BY id").format(self._ledger), (family,))
            return [{"k": r["k"]} for r in curs.fetchall()]

    def record_releases(
        self, items: Sequence[PendingRelease], guard: GrantGuard | None = None, *, commit: bool = True,
    ) -> list[int]:
        ids: list[int] = []
        try:
            with self.datastore.transaction(commit=True) as curs:
                if guard is not None:  # ordered against a change to the access register (it holds it exclusive)
                    curs.execute("SELECT pg_advisory_xact_lock_shared(%s)", (REGISTER_LOCK,))
                    guard.require(postgres_register_version(curs, self.datastore.schema, self.events_table_name) or 0)
                # serialise releases: the check and the write see the same ledger, parts and regions
                curs.execute(SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self._ledger))
                ids.extend(self._record_one(curs, item) for item in items)
                if not commit:
                    raise TrialOver  # rolled back: a trial writes nothing
                self._log(curs, lambda leaves, version_of: leaves.events(items, ids, version_of))
        except TrialOver:
            pass
        return ids

    def trial_verdicts(
        self, items: Sequence[PendingRelease], groups: Sequence[Sequence[PendingRelease]], guard: GrantGuard | None = None,
    ) -> list[bool | None]:
        verdicts: list[bool | None] = []
        try:
            with self.datastore.transaction(commit=True) as curs:
                if guard is not None:  # as record_releases: ordered against a change to the access register
                    curs.execute("SELECT pg_advisory_xact_lock_shared(%s)", (REGISTER_LOCK,))
                    guard.require(postgres_register_version(curs, self.datastore.schema, self.events_table_name) or 0)
                curs.execute(SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self._ledger))
                read: list[Refiner] = []
                for item in items:
                    self._record_one(curs, watched(item, read))
                for group in groups:  # each on top of the items, then rolled back to them
                    curs.execute("SAVEPOINT etrack_trial_group")
                    verdicts.append(group_verdict(group, read, lambda g: self._record_one(curs, g)))
                    curs.execute("ROLLBACK TO SAVEPOINT etrack_trial_group")
                    curs.execute("RELEASE SAVEPOINT etrack_trial_group")
                raise TrialOver  # rolled back: a trial writes nothing
        except TrialOver:
            pass
        return verdicts

    def _record_one(self, curs: Any, item: PendingRelease) -> int:
        rel, family = item.internal, item.family
        curs.execute(SQL("SELECT count(*) AS n, coalesce(max(k), 0) AS k FROM {} WHERE family = %s").format(
            self._ledger), (family,))
        counted = curs.fetchone()
        earlier, highest_k = (int(counted["n"]), int(counted["k"])) if counted else (0, 0)
        refiner = item.refine(earlier + 1, highest_k)
        keys = list(item.keys)
        for i in range(0, len(keys), self.release_page):  # a page of cells at a time: parts read, refined, written
            chunk = keys[i:i + self.release_page]
            curs.execute(SQL("SELECT key, parts FROM {} WHERE key = ANY(%s)").format(self._parts), (chunk,))
            new = refiner.page(chunk, {r["key"]: blocks_of(r["parts"]) for r in curs.fetchall()})
            if new:
                curs.executemany(SQL("INSERT INTO {} VALUES (%s,%s,%s) ON CONFLICT (key) DO UPDATE SET "
                                     "parts = excluded.parts").format(self._parts),
                                 [(key, family, blocks_json(blocks)) for key, blocks in new.items()])
        curs.execute(SQL("SELECT sig, facts, persons, sources, hidden FROM {} WHERE sig = ANY(%s)").format(
            self._regions), (refiner.regions_to_read,))
        regions = {r["sig"]: _block(r) for r in curs.fetchall()}
        put, drop = refiner.finish(regions)  # raises: rolled back
        if drop:
            curs.execute(SQL("DELETE FROM {} WHERE sig = ANY(%s)").format(self._regions), (drop,))
        if put:
            curs.executemany(SQL("INSERT INTO {} VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (sig) DO UPDATE SET "
                                 "facts = excluded.facts, persons = excluded.persons, sources = excluded.sources, "
                                 "hidden = excluded.hidden"
                                 ).format(self._regions),
                             [(b.sig, family, b.facts, counts_json(b.persons), counts_json(b.sources),
                               counts_json(b.hidden)) for b in put])
        curs.execute(SQL(
            "INSERT INTO {} (released_at, analyst, family, query, k, level, total, population) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id").format(self._ledger),
            (item.at, item.analyst, family, json.dumps(item.query, sort_keys=True), rel.policy.k,
             f"{rel.level.time}/{rel.level.unit_depth}", rel.total, json.dumps(len(rel.population))))
        row = curs.fetchone()
        if row is None:  # INSERT ... RETURNING always returns the new row
            raise StoreError("the release ledger returned no id for the new release; nothing was recorded")
        release_id = int(row["id"])
        curs.executemany(SQL("INSERT INTO {} VALUES ({})").format(self._rows, SQL(",".join(["%s"] * 12))), [
            (release_id, family, *(r.dims.get(c) for c in RELEASED_DIMENSIONS), r.value, r.status, None)
            for r in rel.rows])
        return release_id

    def _log(self, curs: Any, events: Callable[[Any, Callable[[Any], int]], list[StoredEvent]]) -> None:
        """The releases' events (their leaves of the audit log), inserted in this transaction as the store's
        recorder inserts events (its table lock and NOTIFY, then the seals it writes after an insert):
        ``adapters/release_leaves.py`` (``events(leaves, version_of)``). Last in the transaction: the events
        table's lock is held briefly."""
        leaves = self.release_leaves
        if leaves is None:
            return
        recorder = leaves.recorder
        table = _table(self.datastore, recorder.events_table_name)
        # the events table's lock first: the analysts' log versions read below cannot move before the insert
        # (a release and a DP answer of the same analyst, or any other writer, wait for this transaction)
        recorder._lock_table(curs)

        def version_of(log_id: Any) -> int:
            curs.execute(SQL("SELECT max(originator_version) AS v FROM {} WHERE originator_id = %s").format(table),
                         (log_id,))
            row = curs.fetchone()
            return int(row["v"] or 0) if row else 0

        stored = events(leaves, version_of)
        if not stored:
            return
        recorder._notify_channel(curs)
        curs.execute(SQL("INSERT INTO {} (originator_id, originator_version, topic, state) VALUES {} "
                         "RETURNING notification_id").format(table, SQL(", ").join([SQL("(%s, %s, %s, %s)")] * len(stored))),
                     [v for s in stored for v in (s.originator_id, s.originator_version, s.topic, s.state)])
        recorder._fetch_ids_after_insert_events(curs, stored)  # the seals, when the store keeps them

    def ledger_rows(self) -> dict[int, LedgerRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT id, released_at, analyst, family, query, k, level, total FROM {}").format(
                self._ledger))
            ledger = curs.fetchall()
            curs.execute(SQL("SELECT release_id, {}, value, status FROM {}").format(
                SQL(", ").join(Identifier(d) for d in RELEASED_DIMENSIONS), self._rows))
            cells: dict[int, list[tuple[dict[str, Any], Any, str]]] = {}
            for r in curs.fetchall():
                cells.setdefault(int(r["release_id"]), []).append(
                    ({d: r[d] for d in RELEASED_DIMENSIONS}, r["value"], r["status"]))
        return {int(r["id"]): LedgerRow(int(r["id"]), r["released_at"], r["analyst"], r["family"],
                                        json.loads(r["query"]), r["k"], r["level"], r["total"],
                                        tuple(cells.get(int(r["id"]), ()))) for r in ledger}

    def regions(self, family: str) -> dict[str, Block]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT sig, facts, persons, sources, hidden FROM {} WHERE family = %s").format(
                self._regions), (family,))
            return {r["sig"]: _block(r) for r in curs.fetchall()}

    def parts(self, family: str) -> dict[str, list[Block]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT key, parts FROM {} WHERE family = %s").format(self._parts), (family,))
            return {r["key"]: blocks_of(r["parts"]) for r in curs.fetchall()}

    def dp_answer(self, key: str) -> str | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT document FROM {} WHERE key = %s").format(self._dp), (key,))
            row = curs.fetchone()
        return None if row is None else str(row["document"])

    def record_dp_answer(self, key: str, document: str, leaf: PendingDpLeaf | None = None) -> str:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT (key) DO NOTHING RETURNING key").format(
                self._dp), (key, document))
            if curs.fetchone() is not None and leaf is not None:  # a new answer: its release is logged with it
                self._log(curs, lambda leaves, version_of: leaves.dp_events(key, leaf, version_of))
            curs.execute(SQL("SELECT document FROM {} WHERE key = %s").format(self._dp), (key,))
            row = curs.fetchone()
        if row is None:  # the insert or the earlier row is there in this transaction
            raise StoreError("the answer just recorded could not be read back")
        return str(row["document"])


def _block(r: Any) -> Block:
    return Block(r["sig"], r["facts"], json.loads(r["persons"]), json.loads(r["sources"]), json.loads(r["hidden"]))


class PostgresDirectoryView(PostgresTrackingRecorder, DirectoryView):
    """The directory in table ``etrack_directory`` of the store's schema, plus eventsourcing's tracking row."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._t = _table(datastore, DIRECTORY_TABLE)
        self._columns = SQL(",").join(map(Identifier, DIRECTORY_COLUMNS))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (" + DIRECTORY_TABLE_COLUMNS + ")").format(self._t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (kind, position)").format(
                Identifier(f"{DIRECTORY_TABLE}_listing"), self._t),
        ]

    def save(self, entries: Sequence[Entry], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)  # first: a second runner waits here, then clashes
            if entries:
                updates = SQL(",").join(SQL("{0} = excluded.{0}").format(Identifier(c)) for c in DIRECTORY_COLUMNS[1:])
                last = {row[0]: row for row in map(directory_row, entries)}  # an entry saved twice: its last state
                upsert_rows(curs, SQL("INSERT INTO {} ({})").format(self._t, self._columns), DIRECTORY_TYPES,
                            list(last.values()), SQL("ON CONFLICT (id) DO UPDATE SET {}").format(updates))

    def _entries(self, rows: Iterable[Any]) -> list[Entry]:
        return [Entry(**{c: r[c] for c in DIRECTORY_COLUMNS}) for r in rows]

    def entries(self, ids: Iterable[str]) -> dict[str, Entry]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(self._columns, self._t), (sorted(set(ids)),))
            return {e.id: e for e in self._entries(curs.fetchall())}

    def listing(self, kind: str | None = None) -> list[Entry]:
        with self.datastore.transaction(commit=False) as curs:
            if kind is None:
                curs.execute(SQL("SELECT {} FROM {} ORDER BY position").format(self._columns, self._t))
            else:
                curs.execute(SQL("SELECT {} FROM {} WHERE kind = %s ORDER BY position").format(self._columns, self._t),
                             (kind,))
            return self._entries(curs.fetchall())

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {}").format(self._t))
            curs.execute(SQL("DELETE FROM {} WHERE application_name = %s").format(
                _table(self.datastore, self.tracking_table_name)), (DIRECTORY,))
