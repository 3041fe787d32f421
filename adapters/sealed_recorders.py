"""Records sealed at write time: eventsourcing's SQLite recorder that seals what it stores, and the record key.

eventsourcing's ``SQLiteApplicationRecorder.insert_events`` stores a batch of events inside one
transaction (``_insert_events`` runs inside it and learns each event's rowid). This recorder
extends that method: after the events are inserted it reads the last seal and inserts one seal
row per event into ``record_seals``, in the same transaction, so an event is never committed
without its seal (the PostgreSQL twin is in ``sealed_recorders_pg.py``; the seal itself is
``projections/record_seals.py``). The events' own table and format are unchanged.

The record key comes from ``ETRACK_RECORD_KEY``, else, for an SQLite store, from the file
``<store>-record-key`` beside it, made with the store and bound to its id
(``adapters/store_files.py``); a 0.1.0 store gets one when it is adopted, and its records are
sealed at that moment. In production keep the key apart from the database (a secret store,
another volume): whoever holds it can seal forgeries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from engagement_tracker.adapters.grant_guards import guard_of, register_version_before, sqlite_register_version
from engagement_tracker.adapters.store_files import POSTGRES_SEALS, RECORD_KEY_ENV, SQLITE_SEALS
from engagement_tracker.adapters.stored_ids import canonical_id
from engagement_tracker.projections.record_seals import SealCheck, SealRow, check_seals, seal_rows
from engagement_tracker.projections.seal_macs import GENESIS_TAG, RecordMacs

__all__ = ["POSTGRES_SEALS", "RECORD_KEY_ENV", "SQLITE_SEALS", "SealedSQLiteRecorder", "SnapshotsBeside", "sqlite_seal_check"]

SQLITE_TOPIC = "engagement_tracker.adapters.sealed_recorders:SealedSQLiteRecorder"
SEAL_COLUMNS = "position, aggregate_id, version, prev_position, record_tag, tag"


def canonical(originator_id: Any) -> str:
    return canonical_id(originator_id)


def last_tag(position: Any, tag: Any) -> tuple[int, bytes]:
    """The last seal as the next one chains it (a damaged tag chains from zeros: the check names it)."""
    try:
        return int(position), bytes.fromhex(str(tag))
    except (TypeError, ValueError):
        return int(position), GENESIS_TAG


def records_of(ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> list[tuple[int, str, int, str, bytes]]:
    """(position, canonical aggregate id, version, topic, state) of a batch, each id made canonical once."""
    names: dict[Any, str] = {}
    out = []
    for i, s in zip(ids, stored_events, strict=True):
        oid = s.originator_id
        name = names.get(oid)
        if name is None:
            name = names[oid] = canonical(oid)
        out.append((i, name, s.originator_version, s.topic, s.state))
    return out


class SnapshotsBeside:
    """A recorder that stores the snapshots a command makes due in the transaction that stores its
    events (``insert_events(..., snapshots=[...])``, ``domain/application/event_store.py``): one commit
    instead of two, and no snapshot of a write that failed. A snapshot is a cache: one already stored at
    the same version (left by events removed since) is replaced by the one taken from these events."""

    #: The snapshots' table (:meth:`store_snapshots_of`); None: snapshots are written apart, after the events.
    snapshots_table: Any = None
    datastore: Any

    def store_snapshots_of(self, snapshots: Any) -> None:
        """Store the snapshots of this recorder (eventsourcing's recorder of snapshots) beside the events,
        when both are tables of one database, reached through one datastore."""
        if getattr(snapshots, "datastore", None) is self.datastore:
            self.snapshots_table = self.table_name(snapshots.events_table_name)

    def table_name(self, table: str) -> Any:
        return table


def snapshot_rows(snapshots: Sequence[StoredEvent], hexed: bool) -> list[tuple[Any, int, str, bytes]]:
    return [(s.originator_id.hex if hexed and isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state) for s in snapshots]


class KeyedSeals:
    """What a sealing recorder keeps of its record key: the keyed MAC states, made once per key."""

    record_key: bytes | None = None
    _macs: RecordMacs | None = None

    def seal_rows(self, records: list[tuple[int, str, int, str, bytes]], last: tuple[int, bytes] | None) -> list[SealRow]:
        key = self.record_key
        if key is None:
            return []
        macs = self._macs
        if macs is None or macs.key is not key:
            macs = self._macs = RecordMacs(key)
        return seal_rows(macs, records, last)


class SealedSQLiteRecorder(KeyedSeals, SnapshotsBeside, SQLiteApplicationRecorder):
    """SQLite events, each sealed with the record key in the transaction that stores it."""

    #: Set by bootstrap before the first write; None stores events unsealed (no key configured).
    record_key: bytes | None = None

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {SQLITE_SEALS} (position INTEGER PRIMARY KEY, aggregate_id TEXT NOT NULL, "
            "version INTEGER NOT NULL, prev_position INTEGER NOT NULL, record_tag TEXT NOT NULL, tag TEXT NOT NULL)")
        statements.append(f"CREATE INDEX IF NOT EXISTS {SQLITE_SEALS}_record ON {SQLITE_SEALS} (aggregate_id, version)")
        return statements

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        guard = guard_of(kwargs)
        if guard is not None:  # the insert holds the file's write lock: no revocation commits before this one
            guard.require(register_version_before(stored_events, sqlite_register_version(c, self.events_table_name)))
        key = self.record_key
        if key is not None and ids:
            c.execute(f"SELECT position, tag FROM {SQLITE_SEALS} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
            last = last_tag(row[0], row[1]) if row else None
            c.executemany(f"INSERT INTO {SQLITE_SEALS} ({SEAL_COLUMNS}) VALUES (?,?,?,?,?,?)",
                          self.seal_rows(records_of(ids, stored_events), last))
        snapshots = kwargs.get("snapshots")
        if snapshots and self.snapshots_table is not None:
            c.executemany(f"INSERT OR REPLACE INTO {self.snapshots_table} VALUES (?,?,?,?)",
                          snapshot_rows(snapshots, hexed=True))
        return ids

    def adopt(self) -> int:
        """Seal every stored record beyond the last seal, in one transaction (when the key is new)."""
        key = self.record_key
        if key is None:
            return 0
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT position, tag FROM {SQLITE_SEALS} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
            last = last_tag(row[0], row[1]) if row else None
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                      "WHERE rowid > ? ORDER BY rowid", (last[0] if last else -(2**62),))
            records = [(r[0], canonical(r[1]), r[2], r[3], r[4]) for r in c.fetchall()]
            c.executemany(f"INSERT INTO {SQLITE_SEALS} ({SEAL_COLUMNS}) VALUES (?,?,?,?,?,?)",
                          self.seal_rows(records, last))
        return len(records)


# --- the check, over the store joined with its seals -------------------------------------------

SQLITE_SEAL_SCAN = (
    "SELECT s.rowid, s.originator_id, s.originator_version, s.topic, s.state, x.aggregate_id, x.version, "
    "x.prev_position, x.record_tag, x.tag FROM {events} s LEFT JOIN {seals} x ON x.position = s.rowid "
    "UNION ALL SELECT x.position, NULL, NULL, NULL, NULL, x.aggregate_id, x.version, x.prev_position, x.record_tag, "
    "x.tag FROM {seals} x WHERE NOT EXISTS (SELECT 1 FROM {events} s WHERE s.rowid = x.position) ORDER BY 1"
)


def sqlite_seal_check(recorder: SQLiteApplicationRecorder) -> SealCheck | None:
    """Every stored row (rowid 0 and below included) against its seal, in one read transaction;
    None when the store keeps no seals or no record key is at hand."""
    key = getattr(recorder, "record_key", None)
    if not isinstance(recorder, SealedSQLiteRecorder) or key is None:
        return None
    events = recorder.events_table_name
    with recorder.datastore.transaction(commit=False) as c:
        lookup = c.sqlite_cursor.connection.cursor()

        def stored_at(aggregate_id: str, version: int) -> int | None:
            try:
                hexa = UUID(aggregate_id).hex
            except ValueError:
                return None
            row = lookup.execute(f"SELECT rowid FROM {events} WHERE originator_id = ? AND originator_version = ?",
                                 (hexa, version)).fetchone()
            return None if row is None else int(row[0])

        def sealed_at(aggregate_id: str, version: int) -> int | None:
            row = lookup.execute(f"SELECT position FROM {SQLITE_SEALS} WHERE aggregate_id = ? AND version = ?",
                                 (aggregate_id, version)).fetchone()
            return None if row is None else int(row[0])

        c.execute(SQLITE_SEAL_SCAN.format(events=events, seals=SQLITE_SEALS))
        rows = ((r[0], None if r[1] is None else canonical(r[1]), *r[2:]) for r in _stream(c.sqlite_cursor))
        return check_seals(rows, key, stored_at, sealed_at)


def _stream(cursor: Any, size: int = 2_000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows
