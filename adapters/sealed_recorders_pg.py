"""The PostgreSQL twin of ``sealed_recorders.SealedSQLiteRecorder`` (psycopg is the postgres extra).

eventsourcing's ``PostgresApplicationRecorder.insert_events`` takes the events table's EXCLUSIVE
lock, inserts the batch and reads back its notification ids
(``_fetch_ids_after_insert_events``), all in one transaction. This recorder extends that last
step: still inside the transaction and under the lock (so seals chain in commit order), it reads
the last seal and inserts one seal row per event into ``etrack_record_seals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from engagement_tracker.adapters.grant_guards import REGISTER_LOCK, guard_of, postgres_register_version, register_version_before
from engagement_tracker.adapters.sealed_recorders import (
    POSTGRES_SEALS,
    SEAL_COLUMNS,
    KeyedSeals,
    SnapshotsBeside,
    canonical,
    last_tag,
    records_of,
    snapshot_rows,
)
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.projections.record_seals import SealCheck, check_seals

POSTGRES_TOPIC = "engagement_tracker.adapters.sealed_recorders_pg:SealedPostgresRecorder"


class SealedPostgresRecorder(KeyedSeals, SnapshotsBeside, PostgresApplicationRecorder):
    """PostgreSQL events, each sealed with the record key in the transaction that stores it."""

    record_key: bytes | None = None
    #: Set on a read replica's tracker (``open_tracker(..., replica=True)``): it records nothing.
    read_only: bool = False

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.seals = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(POSTGRES_SEALS))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, aggregate_id text NOT NULL, "
            "version bigint NOT NULL, prev_position bigint NOT NULL, record_tag text NOT NULL, tag text NOT NULL)"
        ).format(self.seals))
        self.sql_create_statements.append(SQL("CREATE INDEX IF NOT EXISTS {} ON {} (aggregate_id, version)").format(
            Identifier(f"{POSTGRES_SEALS}_record"), self.seals))

    def table_name(self, table: str) -> Any:
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(table))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if self.read_only:
            raise StoreError("this tracker reads a replica (ETRACK_READ_URL, open_tracker(..., replica=True)) and "
                             "records nothing: write through the primary's URL; nothing was recorded")
        if self.datastore.enable_db_functions and guard_of(kwargs) is not None:
            raise StoreError("a command that relies on grants needs POSTGRES_ENABLE_DB_FUNCTIONS off (its grants are "
                             "checked again inside the inserting transaction); nothing was recorded")
        if self.datastore.enable_db_functions and self.record_key is not None:
            raise StoreError("sealed records need POSTGRES_ENABLE_DB_FUNCTIONS off (the seals are written beside "
                             "the insert, in its transaction)")
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """First in the inserting transaction, before the pipelined insert (an error here rolls it back).

        A batch that changes the access register takes the register's advisory lock (exclusive), so
        a release recorded beside the events (``views/postgres.py``) holding it shared is ordered
        against it. A command that relied on grants takes the events table's lock now (the insert
        takes it again) and checks its grant guard against the register's version read under it: a
        revocation committed before this point is seen (``access.GrantsMoved``)."""
        super()._insert_events(curs, stored_events, **kwargs)
        if any(s.originator_id == AccessRegister.ID for s in stored_events):
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (REGISTER_LOCK,))
        guard = guard_of(kwargs)
        if guard is not None:
            self._lock_table(curs)
            guard.require(register_version_before(stored_events, postgres_register_version(
                curs, self.datastore.schema, self.events_table_name)))

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        key = self.record_key
        if key is not None and ids:
            curs.execute(SQL("SELECT position, tag FROM {} ORDER BY position DESC LIMIT 1").format(self.seals))
            row = curs.fetchone()
            last = last_tag(row["position"], row["tag"]) if row else None
            curs.executemany(SQL(f"INSERT INTO {{}} ({SEAL_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)").format(self.seals),
                             self.seal_rows(records_of(ids, stored_events), last))
        snapshots = kwargs.get("snapshots")
        if snapshots and self.snapshots_table is not None:
            curs.executemany(SQL("INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s,%s,%s,%s) "
                                 "ON CONFLICT (originator_id, originator_version) DO UPDATE SET topic = excluded.topic, "
                                 "state = excluded.state").format(self.snapshots_table),
                             snapshot_rows(snapshots, hexed=False))
        return ids

    def adopt(self) -> int:
        """Seal every stored record beyond the last seal, in one transaction, under the table lock."""
        key = self.record_key
        if key is None:
            return 0
        events = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            curs.execute(SQL("SELECT position, tag FROM {} ORDER BY position DESC LIMIT 1").format(self.seals))
            row = curs.fetchone()
            last = last_tag(row["position"], row["tag"]) if row else None
            curs.execute(SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                             "WHERE notification_id > %s ORDER BY notification_id").format(events),
                         (last[0] if last else -(2**62),))
            records = [(r["notification_id"], canonical(r["originator_id"]), r["originator_version"], r["topic"],
                        bytes(r["state"])) for r in curs.fetchall()]
            if records:
                curs.executemany(SQL(f"INSERT INTO {{}} ({SEAL_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)").format(self.seals),
                                 self.seal_rows(records, last))
        return len(records)


def postgres_seal_check(recorder: PostgresApplicationRecorder) -> SealCheck | None:
    """Every stored row against its seal: a server-side cursor in one repeatable-read snapshot."""
    key = getattr(recorder, "record_key", None)
    if not isinstance(recorder, SealedPostgresRecorder) or key is None:
        return None
    from psycopg.rows import tuple_row

    datastore = recorder.datastore
    events = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(recorder.events_table_name))
    seals = recorder.seals
    with datastore.get_connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        lookup = conn.cursor(row_factory=tuple_row)

        def stored_at(aggregate_id: str, version: int) -> int | None:
            try:
                ident = UUID(aggregate_id)
            except ValueError:
                return None
            row = lookup.execute(SQL("SELECT notification_id FROM {} WHERE originator_id = %s AND "
                                     "originator_version = %s").format(events), (ident, version)).fetchone()
            return None if row is None else int(row[0])

        def sealed_at(aggregate_id: str, version: int) -> int | None:
            row = lookup.execute(SQL("SELECT position FROM {} WHERE aggregate_id = %s AND version = %s").format(seals),
                                 (aggregate_id, version)).fetchone()
            return None if row is None else int(row[0])

        with conn.cursor(name="etrack_seal_scan", row_factory=tuple_row) as curs:
            curs.itersize = 5_000
            curs.execute(SQL(
                "SELECT s.notification_id, s.originator_id, s.originator_version, s.topic, s.state, x.aggregate_id, "
                "x.version, x.prev_position, x.record_tag, x.tag FROM {events} s LEFT JOIN {seals} x "
                "ON x.position = s.notification_id UNION ALL SELECT x.position, NULL, NULL, NULL, NULL, "
                "x.aggregate_id, x.version, x.prev_position, x.record_tag, x.tag FROM {seals} x WHERE NOT EXISTS "
                "(SELECT 1 FROM {events} s WHERE s.notification_id = x.position) ORDER BY 1"
            ).format(events=events, seals=seals))
            rows = ((r[0], None if r[1] is None else canonical(r[1]), r[2], r[3],
                     None if r[4] is None else bytes(r[4]), *r[5:]) for r in curs)
            return check_seals(rows, key, stored_at, sealed_at)
