"""The one place that reads stored events as bytes: the fast path of rebuilds and of verification.

eventsourcing's own reads (``select_notifications``, ``mapper.to_domain_event``) parse every id
and decode every event. Projections need less, and the audit trail needs more:

- **pages** for projections (:class:`Decoded` records): on SQLite straight from the rows of the
  events table; the stamp (who recorded the event, and when) read from the stored JSON after
  undoing eventsourcing's cipher and compressor, by a byte scan when that is certain
  (:func:`scan_stamp`), else by a parse (:func:`stamp_of_state`); the domain event decoded only
  when a projection asks for it;
- **every row as stored** for verification, positions below 1 and ids in forms the store never
  writes included (:func:`canonical_id` names those), and the store **joined with the trail**
  in the database, in one consistent read (SQLite; PostgreSQL with a server-side cursor).

``tests/integration/test_stored_records.py`` proves, on a real SQLite file and on PostgreSQL,
that what is read here equals eventsourcing's own decoding. ``adapters/bootstrap.py`` picks
the reader for the backend: :class:`SQLiteRecords`, :class:`PostgresRecords`, or
:class:`NotificationRecords` (memory).
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import eventsourcing.persistence
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from engagement_tracker.adapters.sealed_recorders import POSTGRES_SEALS, SQLITE_SEALS, sqlite_seal_check
from engagement_tracker.adapters.store_files import BACKUP
from engagement_tracker.adapters.stored_ids import canonical_id, hex_id, uuid_text
from engagement_tracker.adapters.stored_ids import dashed as _dashed
from engagement_tracker.domain.coach_load import CoachLoad
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.outbox import Outbox
from engagement_tracker.domain.party import Party
from engagement_tracker.projections.audit_chain import JoinedPages, StoredRecord
from engagement_tracker.projections.audit_ranges import FAILED, RangeResult, Start, joined, scan_range, start_after
from engagement_tracker.projections.record_seals import SealCheck
from engagement_tracker.projections.seal_macs import Seals
from engagement_tracker.projections.tracking import UNKNOWN, Stamp

if TYPE_CHECKING:  # psycopg is the postgres extra: imported only when a PostgreSQL store is read
    from eventsourcing.postgres import PostgresApplicationRecorder

NOTIFICATIONS_PAGE = 500  # records per select_notifications call when every row is read
#: Ids whose canonical form a reader keeps (one per aggregate, and one per actor), at most; a full cache
#: is emptied and refilled by the ids read next. At 100,000 the two caches held ~20 MB at 1M events (86,000
#: parties, 28,000 aggregates: most of a rebuild's growth in peak RSS); at 16,384 they hold ~6 MB at most, and
#: a scan that reads every stamp runs ~10% longer at 1M events (~1.5% of a rebuild), issue #28.
NAMES_KEPT = 16_384
T = TypeVar("T")


# --- ids (``stored_ids.py``: shared with the sealing recorders) ----------------------------------


def stored_record(position: int, originator_id: Any, version: int, topic: Any, state: Any) -> StoredRecord:
    """A record from its stored fields. The aggregate id is canonical when it is stored as the
    store writes it (a UUID, or 32 lowercase hex digits in SQLite); any other text is kept as it
    is, so an id rewritten in another form (which hides the event from its aggregate) differs."""
    return StoredRecord.of_row(position, canonical_id(originator_id), version, topic, state)


# --- stamps, read from the stored JSON ---------------------------------------------------------


def stamp_of_state(state: dict[str, Any]) -> Stamp:
    """The stamp of an event from its stored JSON object, read without decoding the event.

    The stored form is eventsourcing's: ``timestamp`` is ``{"_type_": "datetime_iso", "_data_":
    ISO}`` and ``actor`` is ``{"_type_": "etrack.actor", "_data_": {"party": {"_type_":
    "uuid_hex", "_data_": HEX}, "role": ROLE}}`` or null. Anything else gives ``None`` fields.
    """
    recorded_at = actor = role = None
    stamp = state.get("timestamp")
    if type(stamp) is dict and stamp.get("_type_") == "datetime_iso" and type(stamp.get("_data_")) is str:
        recorded_at = stamp["_data_"]
    who = state.get("actor")
    if type(who) is dict and who.get("_type_") == "etrack.actor" and type(who.get("_data_")) is dict:
        party, role_value = who["_data_"].get("party"), who["_data_"].get("role")
        if (type(party) is dict and party.get("_type_") == "uuid_hex" and type(party.get("_data_")) is str
                and type(role_value) is str):
            hexa = party["_data_"]
            if len(hexa) == 32 and not hexa.strip("0123456789abcdef"):  # as UUID.hex writes it
                actor, role = _dashed(hexa), role_value
            else:
                try:
                    actor, role = str(UUID(hexa)), role_value
                except ValueError:
                    pass
    return (actor, role, recorded_at)


_TIMESTAMP_KEY, _ACTOR_KEY = b'"timestamp":', b'"actor":'
_TIMESTAMP = re.compile(rb'"timestamp":\{"_type_":"datetime_iso","_data_":"([^"\\]*)"\}')
_ACTOR = re.compile(rb'"actor":(?:null|\{"_type_":"etrack\.actor","_data_":\{"party":\{"_type_":"uuid_hex",'
                    rb'"_data_":"([0-9a-f]{32})"\},"role":"([a-z_]+)"\}\})')


def scan_stamp(data: bytes) -> Stamp | None:
    """The stamp read straight from the stored bytes of an event that has top-level ``timestamp``
    and ``actor`` fields (every etrack event does), or ``None`` when in any doubt.

    In JSON text a quote inside a string is escaped, so ``"actor":`` occurs only as a key; when
    each of the two keys occurs exactly once, that occurrence is the top-level field, and when it
    is in the exact form eventsourcing writes (no escapes), its value is read here exactly as
    :func:`stamp_of_state` would read it after a full parse. Anything else (a second
    occurrence, another form, an escape) returns ``None``: parse the document instead.
    """
    at, by = data.find(_TIMESTAMP_KEY), data.find(_ACTOR_KEY)  # each key once (neither overlaps itself)
    if at < 0 or by < 0 or data.find(_TIMESTAMP_KEY, at + 1) >= 0 or data.find(_ACTOR_KEY, by + 1) >= 0:
        return None
    stamp, who = _TIMESTAMP.match(data, at), _ACTOR.match(data, by)
    if stamp is None or who is None:
        return None
    recorded_at = stamp.group(1).decode("utf-8")
    hexa = who.group(1)
    if hexa is None:
        return (None, None, recorded_at)
    party = _PARTIES.get(hexa)
    if party is None:  # a party's id is spelled once, not at each of its events
        party = _dashed(hexa.decode("ascii"))
        if len(_PARTIES) >= NAMES_KEPT:
            _PARTIES.clear()
        _PARTIES[hexa] = party
    return (party, who.group(2).decode("ascii"), recorded_at)


_PARTIES: dict[bytes, str] = {}  # an actor's 32 hex digits, as stored -> its dashed form


def _acted_topics() -> frozenset[str]:
    """Topics of the events that carry top-level ``timestamp`` and ``actor`` fields: all of ours."""
    topics = set()
    for aggregate in (Engagement, Cohort, Party, CoachLoad, AccessRegister, Outbox):
        for value in vars(aggregate).values():
            topic = getattr(value, "TOPIC", None)
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and isinstance(topic, str):
                fields = {name for klass in value.__mro__ for name in getattr(klass, "__annotations__", {})}
                if {"actor", "timestamp"} <= fields:
                    topics.add(topic)
    return frozenset(topics)


ACTED = _acted_topics()


_TO_STATE_KEY = b'"to_state":'
_TO_STATE = re.compile(rb'"to_state":"([^"\\]*)"')


def scan_to_state(data: bytes) -> str | None:
    """The ``to_state`` field read straight from the stored bytes, or ``None`` when in any doubt.

    As for :func:`scan_stamp`: the key occurs only as a key, and when it occurs exactly once
    (every workflow event has it at the top level, once) in the exact form eventsourcing writes
    (a plain string, no escape), that is its value; anything else is left to a parse.
    """
    at = data.find(_TO_STATE_KEY)
    if at < 0 or data.find(_TO_STATE_KEY, at + 1) >= 0:  # the key once (it does not overlap itself)
        return None
    found = _TO_STATE.match(data, at)
    return None if found is None else found.group(1).decode("utf-8")


class Decoded:
    """One stored event, read once for every projection, and decoded only as far as one needs.

    It carries what projections read of the stored record (position ``id``, ``originator_id``
    as canonical id text, see :func:`canonical_id`, ``originator_version``, ``topic``, ``state``).
    The audit trail reads only who recorded the event and when (:attr:`stamp`, from the stored
    JSON, no domain objects built); analytics decodes the domain event (:attr:`event`) only for
    the few event types it counts. Both are cached, so a page shared by every projection is
    decoded at most once. A record that cannot be read (tampered bytes, unknown topic, missing
    or wrong cipher key) gives an unknown stamp and a ``None`` event: the caller decides.
    """

    __slots__ = ("_event", "_mapper", "_plain", "_stamp", "_to_state", "id", "originator_id", "originator_version",
                 "state", "topic")

    def __init__(self, mapper: Mapper[UUID], position: int, originator_id: str, version: int, topic: str,
                 state: bytes) -> None:
        self._mapper, self.id, self.originator_id, self.originator_version = mapper, position, originator_id, version
        self.topic, self.state = topic, state
        self._stamp: Stamp | None = None
        self._to_state: str | type[Decoded] | None = Decoded
        self._plain: bytes | None = None
        self._event: Any = Decoded

    @classmethod
    def of(cls, mapper: Mapper[UUID], n: Notification) -> Decoded:
        """From an eventsourcing ``Notification``."""
        return cls(mapper, n.id, canonical_id(n.originator_id), n.originator_version, n.topic, n.state)

    def plain_state(self) -> bytes:
        """The state as eventsourcing serialised it: deciphered and decompressed, not parsed (once)."""
        if self._plain is not None:
            return self._plain
        data = self.state
        mapper = self._mapper
        if mapper.cipher:
            data = mapper.cipher.decrypt(data)
        if mapper.compressor:
            data = mapper.compressor.decompress(data)
        self._plain = data
        return data

    @property
    def stamp(self) -> Stamp:
        if self._stamp is None:
            try:
                data = self.plain_state()
                if self.topic in ACTED:  # read the two fields straight from the bytes when certain
                    self._stamp = scan_stamp(data)
                if self._stamp is None:
                    state = json.loads(data)
                    self._stamp = stamp_of_state(state) if type(state) is dict else UNKNOWN
            except Exception:
                self._stamp = UNKNOWN
        return self._stamp

    @property
    def to_state(self) -> str | None:
        if self._to_state is Decoded:
            found: str | None = None
            try:
                data = self.plain_state()
                found = scan_to_state(data)
                if found is None:
                    state = json.loads(data)
                    value = state.get("to_state") if type(state) is dict else None
                    found = value if type(value) is str else None
            except Exception:
                found = None
            self._to_state = found
        return self._to_state if isinstance(self._to_state, str) else None

    @property
    def event(self) -> Any:
        if self._event is Decoded:
            try:
                # the aggregate's id type, as eventsourcing's own reads give it
                stored = StoredEvent(UUID(self.originator_id), self.originator_version, self.topic, self.state)
                self._event = self._mapper.to_domain_event(stored)
            except Exception:
                self._event = None
        return self._event


# --- readers, one per backend ------------------------------------------------------------------


class NotificationRecords:
    """The store read through eventsourcing's notification API (any backend; the memory store's)."""

    def __init__(self, mapper: Mapper[UUID], recorder: ApplicationRecorder) -> None:
        self.mapper = mapper
        self.recorder = recorder

    def page(self, start: int, limit: int) -> list[Decoded]:
        return [Decoded.of(self.mapper, n) for n in self.recorder.select_notifications(start, limit)]

    def records(self) -> Iterator[StoredRecord]:
        start: int | None = None  # the first page has no lower bound
        while True:
            page = self.recorder.select_notifications(start, NOTIFICATIONS_PAGE)
            yield from (stored_record(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in page)
            if len(page) < NOTIFICATIONS_PAGE:
                return
            start = page[-1].id + 1

    def scan(self, consume: Callable[[JoinedPages, int, Seals | None], T]) -> T | None:
        return None  # no join in the database: verification compares records() with the entries

    def seal_check(self) -> SealCheck | None:
        """Every stored record against its seal (``adapters/sealed_recorders.py``); None when the store
        keeps no seals (memory) or no record key is at hand."""
        return None


#: Below this many rows per process, splitting costs more than it saves.
MIN_RANGE_ROWS = 5_000


#: Rows per page of the streaming verification pass.
SCAN_PAGE = 4_096


def _pages(cursor: Any, size: int = SCAN_PAGE) -> Iterator[list[Any]]:
    """A cursor's rows a page at a time (sqlite3's and psycopg's ``fetchmany`` return [] at the end)."""
    return iter(functools.partial(cursor.fetchmany, size), [])


def scan_rows_range(cursor: Any, lo: int | None, canonical: Callable[[Any], str | None], key: bytes | None,
                    cp_position: int | None) -> RangeResult:
    """One range from a cursor over its rows in position order: from the genesis (``lo`` None), or
    after boundary row ``lo``, read first for the stored hashes the range starts from."""
    if lo is None:
        return scan_range(JoinedPages(_pages(cursor), canonical), Start(), key, cp_position)
    boundary = cursor.fetchone()
    start = None if boundary is None or boundary[0] != lo else start_after(boundary, key is not None)
    return FAILED if start is None else scan_range(JoinedPages(_pages(cursor), canonical), start, key, cp_position)


def scan_sqlite_range(path: str, sql: str, lo: int | None, hi: int, key: bytes | None,
                      cp_position: int | None) -> RangeResult:
    """One range of an SQLite store, read from its file in this process: positions up to ``hi``, after
    boundary row ``lo`` (read first, for the stored hashes the range starts from)."""
    import sqlite3
    from pathlib import Path

    con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        if lo is None:
            cursor = con.execute(sql.format(where=" WHERE s.rowid <= ?"), (hi,))
        else:
            cursor = con.execute(sql.format(where=" WHERE s.rowid >= ? AND s.rowid <= ?"), (lo, hi))
        return scan_rows_range(cursor, lo, hex_id, key, cp_position)
    finally:
        con.close()


def scan_postgres_range(params: dict[str, Any], snapshot: str, sql: str, lo: int, hi: int, key: bytes | None,
                        cp_position: int | None) -> RangeResult:
    """One range of a PostgreSQL store, on a connection of this process that reads the snapshot
    ``snapshot`` (exported by the transaction that split the log: every range sees the same store)."""
    import psycopg
    from psycopg.rows import tuple_row

    with psycopg.connect(**params, row_factory=tuple_row) as conn:
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot)))
            with conn.cursor(name="etrack_verify_range") as curs:
                curs.execute(sql.replace("{where}", " WHERE s.notification_id >= %s AND s.notification_id <= %s"),
                             (lo, hi))
                return scan_rows_range(curs, lo, uuid_text, key, cp_position)
        finally:
            conn.rollback()


def _identifier(name: str) -> str:
    if not name.isidentifier():
        raise StoreError(f"unexpected table name {name!r}")
    return name


# The scan reads only what it checks (``audit_hashes.JoinedRow``): ids as stored, made canonical by the
# scan once per aggregate (``stored_ids.hex_id``, ``uuid_text``); whether the entry's version and topic
# are the record's, compared here; the entry's stamp as the chain line ends with it (``x or ''`` of
# each field, as ``audit_chain.chain_hash`` writes it; NULL when a field is a blob, which the line
# would spell otherwise: the scan then defers). Not the seal's copy of the record's id and version:
# the record tag, a MAC over the record's id, version, topic and state, already binds the seal to it.
_TRAIL_COLUMNS = ("a.aggregate_id, a.version = s.originator_version AND a.topic = s.topic, a.state_sha256, "
                  "{stamp}, a.prev_hash, a.entry_hash")
_STAMP = "coalesce(a.actor, '') || '|' || coalesce(a.role, '') || '|' || coalesce(a.recorded_at, '')"
_SQLITE_STAMP = (f"CASE WHEN typeof(a.actor) != 'blob' AND typeof(a.role) != 'blob' AND typeof(a.recorded_at) "
                 f"!= 'blob' THEN {_STAMP} END")  # a TEXT column holds text, NULL or a blob
_SEAL_COLUMNS = "x.prev_position, x.record_tag, x.tag"
_NO_SEAL = "NULL, NULL, NULL"


def _stream(cursor: Any, size: int = 2_000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def _start_method() -> str:
    from multiprocessing import get_all_start_methods

    return "fork" if "fork" in get_all_start_methods() else "spawn"


@contextmanager
def damage_is_a_store_error(path: object) -> Iterator[None]:
    """A damaged SQLite file found while reading (``database disk image is malformed``) is a StoreError
    naming the file and what to do, on every read path (the trail, its verification, the seals)."""
    try:
        yield
    except (sqlite3.DatabaseError, eventsourcing.persistence.DatabaseError) as exc:
        raise StoreError(f"the store {path} is damaged ({exc}): {BACKUP}") from None


class SQLiteRecords(NotificationRecords):
    """The SQLite store read from its rows: every row (rowid 0 and below included), joined in SQL.

    A damaged file read here is a StoreError (``damage_is_a_store_error``)."""

    recorder: SQLiteApplicationRecorder

    def __init__(self, mapper: Mapper[UUID], recorder: SQLiteApplicationRecorder, trail_table: str) -> None:
        super().__init__(mapper, recorder)
        self.events_table = _identifier(recorder.events_table_name)
        self.trail_table = _identifier(trail_table)
        self._names: dict[Any, str] = {}  # stored id -> canonical_id (at most NAMES_KEPT)

    @property
    def path(self) -> str:
        return str(self.recorder.datastore.pool.db_name)

    def page(self, start: int, limit: int) -> list[Decoded]:
        with damage_is_a_store_error(self.path), self.recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table} "
                      "WHERE rowid >= ? ORDER BY rowid LIMIT ?", (start, limit))
            rows = c.sqlite_cursor.fetchall()
        mapper, names = self.mapper, self._names
        if len(names) > NAMES_KEPT:
            names.clear()
        page = []
        for position, stored_id, version, topic, state in rows:
            name = names.get(stored_id)
            if name is None:  # an aggregate's id is made canonical once, not at each of its events
                name = names[stored_id] = canonical_id(stored_id)
            page.append(Decoded(mapper, position, name, version, topic, state))
        return page

    def records(self) -> Iterator[StoredRecord]:
        with damage_is_a_store_error(self.path), self.recorder.datastore.transaction(commit=False) as c:
            # every row, rowid 0 and below included
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table} "
                      "ORDER BY rowid")
            yield from (stored_record(*row) for row in _stream(c.sqlite_cursor))

    def _join_sql(self, sealed: bool, where: str = "") -> str:
        return (
            "SELECT s.rowid, s.originator_id, s.originator_version, s.topic, s.state, "
            + _TRAIL_COLUMNS.format(stamp=_SQLITE_STAMP) + ", "
            + (_SEAL_COLUMNS if sealed else _NO_SEAL)
            + f" FROM {self.events_table} s LEFT JOIN {self.trail_table} a ON a.position = s.rowid"
            + (f" LEFT JOIN {SQLITE_SEALS} x ON x.position = s.rowid" if sealed else "")
            + where + " ORDER BY s.rowid"
        )

    def scan(self, consume: Callable[[JoinedPages, int, Seals | None], T]) -> T | None:
        key = getattr(self.recorder, "record_key", None)
        with damage_is_a_store_error(self.path), self.recorder.datastore.transaction(commit=False) as c:
            count, seals = self._counts(c, key)
            c.execute(self._join_sql(key is not None))
            return consume(JoinedPages(_pages(c.sqlite_cursor), hex_id), count, seals)

    def _counts(self, c: Any, key: bytes | None) -> tuple[int, Seals | None]:
        c.execute(f"SELECT count(*) FROM {self.trail_table}")
        count = int(c.fetchone()[0])
        if key is None:
            return count, None
        c.execute(f"SELECT count(*) FROM {SQLITE_SEALS}")
        return count, Seals(key, int(c.fetchone()[0]))

    def scan_ranges(self, jobs: int, cp_position: int | None) -> tuple[RangeResult, int, Seals | None] | None:
        """The streaming pass split into ``jobs`` ranges of positions, each read and checked by its own
        process (this one takes the first), then joined (``audit_ranges.joined``). None when the store
        is not a file or too small to split."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        connections = self.recorder.datastore.pool
        path = str(connections.db_name)
        if jobs < 2 or connections.is_sqlite_memory_mode or path.startswith("file:"):
            return None
        key = getattr(self.recorder, "record_key", None)
        with damage_is_a_store_error(path), self.recorder.datastore.transaction(commit=False) as c:
            count, seals = self._counts(c, key)
            c.execute(f"SELECT count(*), max(rowid) FROM {self.events_table}")
            rows, hi = c.fetchone()
            if not rows or rows < jobs * MIN_RANGE_ROWS:
                return None
            bounds = []
            for i in range(1, jobs):
                c.execute(f"SELECT rowid FROM {self.events_table} ORDER BY rowid LIMIT 1 OFFSET ?",
                          (i * rows // jobs - 1,))
                bounds.append(int(c.fetchone()[0]))
        ranges = list(zip([None, *bounds], [*bounds, int(hi)], strict=True))
        sql = self._join_sql(key is not None, "{where}")
        with damage_is_a_store_error(path), ProcessPoolExecutor(jobs - 1,
                                                                mp_context=get_context(_start_method())) as pool:
            futures = [pool.submit(scan_sqlite_range, path, sql, lo, hi_, key, cp_position) for lo, hi_ in ranges[1:]]
            first = scan_sqlite_range(path, sql, *ranges[0], key, cp_position)
            return joined([first, *(f.result() for f in futures)]), count, seals

    def seal_check(self) -> SealCheck | None:
        with damage_is_a_store_error(self.path):
            return sqlite_seal_check(self.recorder)


class PostgresRecords(NotificationRecords):
    """The PostgreSQL store: pages and records through eventsourcing, the join with the trail in SQL."""

    recorder: PostgresApplicationRecorder

    def __init__(self, mapper: Mapper[UUID], recorder: PostgresApplicationRecorder, trail_table: str) -> None:
        super().__init__(mapper, recorder)
        self.trail_table = _identifier(trail_table)

    def page(self, start: int, limit: int) -> list[Decoded]:
        """Records from position ``start`` on, straight from the rows (eventsourcing's own read builds a
        dict, a UUID and a Notification per row first): the id as its canonical text (``::text``)."""
        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        datastore = self.recorder.datastore
        events = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(self.recorder.events_table_name))
        with datastore.get_connection() as conn:
            rows = conn.cursor(row_factory=tuple_row).execute(SQL(
                "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {} "
                "WHERE notification_id >= %s ORDER BY notification_id LIMIT %s").format(events), (start, limit)).fetchall()
        mapper = self.mapper
        return [Decoded(mapper, position, name, version, topic, state) for position, name, version, topic, state in rows]

    def _join_sql(self, sealed: bool, where: str = "") -> Any:
        from psycopg.sql import SQL, Identifier

        datastore = self.recorder.datastore
        schema = Identifier(datastore.schema)
        events = SQL("{}.{}").format(schema, Identifier(self.recorder.events_table_name))
        trail = SQL("{}.{}").format(schema, Identifier(self.trail_table))
        seals = SQL("{}.{}").format(schema, Identifier(POSTGRES_SEALS))
        return SQL(
            "SELECT s.notification_id, s.originator_id::text, s.originator_version, s.topic, s.state, "
            + _TRAIL_COLUMNS.format(stamp=_STAMP) + ", " + (_SEAL_COLUMNS if sealed else _NO_SEAL)
            + " FROM {} s LEFT JOIN {} a ON a.position = s.notification_id"
            + (" LEFT JOIN {} x ON x.position = s.notification_id" if sealed else "")
            + where.replace("{", "{{").replace("}", "}}") + " ORDER BY s.notification_id"
        ).format(events, trail, *((seals,) if sealed else ()))

    def _counts(self, conn: Any, key: bytes | None) -> tuple[int, Seals | None]:
        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        schema = Identifier(self.recorder.datastore.schema)
        cursor = conn.cursor(row_factory=tuple_row)
        row = cursor.execute(SQL("SELECT count(*) FROM {}.{}").format(schema, Identifier(self.trail_table))).fetchone()
        count = int(row[0]) if row is not None else 0
        if key is None:
            return count, None
        row = cursor.execute(SQL("SELECT count(*) FROM {}.{}").format(schema, Identifier(POSTGRES_SEALS))).fetchone()
        return count, Seals(key, int(row[0]) if row is not None else 0)

    def scan(self, consume: Callable[[JoinedPages, int, Seals | None], T]) -> T | None:
        """A server-side cursor over the store joined with the trail, in one repeatable-read snapshot."""
        from psycopg.rows import tuple_row

        key = getattr(self.recorder, "record_key", None)
        with self.recorder.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            count, seals = self._counts(conn, key)
            with conn.cursor(name="etrack_verify_scan", row_factory=tuple_row) as curs:
                curs.execute(self._join_sql(key is not None))
                return consume(JoinedPages(_pages(curs), uuid_text), count, seals)  # a uuid's text is canonical

    def scan_ranges(self, jobs: int, cp_position: int | None) -> tuple[RangeResult, int, Seals | None] | None:
        """The streaming pass split into ``jobs`` ranges of positions, each read and checked by its own
        process on its own connection (this one takes the first), every one in the snapshot of the
        transaction that split the log (``pg_export_snapshot``), then joined (``audit_ranges.joined``).
        None when the store is too small to split."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from psycopg.rows import tuple_row
        from psycopg.sql import SQL, Identifier

        datastore = self.recorder.datastore
        key = getattr(self.recorder, "record_key", None)
        kwargs = datastore.pool.kwargs
        kwargs = kwargs() if callable(kwargs) else kwargs
        params = {k: v for k, v in (kwargs or {}).items() if k != "row_factory" and v is not None}
        password = getattr(datastore.pool, "get_password_func", None)
        if password is not None:
            params["password"] = password()
        events = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(self.recorder.events_table_name))
        with datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            count, seals = self._counts(conn, key)
            cursor = conn.cursor(row_factory=tuple_row)
            found = cursor.execute(SQL("SELECT count(*), max(notification_id) FROM {}").format(events)).fetchone()
            rows, hi = found if found is not None else (0, None)
            if not rows or rows < jobs * MIN_RANGE_ROWS:
                return None
            bounds = []
            for i in range(1, jobs):
                row = cursor.execute(SQL("SELECT notification_id FROM {} ORDER BY notification_id LIMIT 1 OFFSET %s")
                                     .format(events), (i * rows // jobs - 1,)).fetchone()
                bounds.append(int(row[0]) if row is not None else 0)
            ranges = list(zip([None, *bounds], [*bounds, int(hi)], strict=True))
            found = cursor.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(found[0]) if found is not None else ""
            sql = self._join_sql(key is not None, "{where}").as_string(conn)
            with ProcessPoolExecutor(jobs - 1, mp_context=get_context(_start_method())) as pool:
                futures = [pool.submit(scan_postgres_range, params, snapshot, sql, lo, hi_, key, cp_position)
                           for lo, hi_ in ranges[1:] if lo is not None]
                with conn.cursor(name="etrack_verify_range", row_factory=tuple_row) as curs:
                    curs.execute(self._join_sql(key is not None, " WHERE s.notification_id <= %s"), (ranges[0][1],))
                    first = scan_rows_range(curs, None, uuid_text, key, cp_position)
                return joined([first, *(f.result() for f in futures)]), count, seals

    def seal_check(self) -> SealCheck | None:
        from engagement_tracker.adapters.sealed_recorders_pg import postgres_seal_check

        return postgres_seal_check(self.recorder)
