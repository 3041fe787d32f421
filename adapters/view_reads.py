"""Reads answered from the views alone: the directory's rows, to a reader whose grant is read from the store.

``etrack engagements`` and ``etrack cohorts`` list the directory (``projections/directory.py``) to an
admin or auditor holding that grant now (``access.require_directory_reader``). The full path opens
the whole application to do it (``bootstrap.open_tracker``: every aggregate and its ~140 event
classes, eventsourcing's Application, the transcodings, the vault) only to load the access
register and catch the directory up; that was most of the read's time (issue #28). This module
answers the same read from the store's tables, importing neither eventsourcing nor an aggregate:

- the store is checked as the full path checks it, with the same functions (``storage.check_sqlite_file``,
  ``store_files.plan_sqlite`` / ``plan_postgres``, ``read_settings``): no store, a missing or foreign
  vault or record key, a malformed setting are the same StoreError or InvalidInput; nothing is
  written (one read transaction, rolled back);
- the grants are the access register's stored events folded with the register's own rule
  (``access.hold_grant`` / ``drop_grant``, which ``AccessRegister`` applies too), refusing what the
  register's load refuses: a gap or reorder in its versions, a record that does not decode, a topic
  or class version newer than this code, a record lacking a field its class needs (a StoreError,
  worded as ``CheckedMapper`` words it); a grant naming a party that is not a UUID is refused too;
- the directory answers only when it has projected every stored event (its tracked position is
  the store's last); otherwise :meth:`ViewReads.listing` returns None and the caller takes the
  full path, which catches the directory up first.

:func:`open_view_reads` returns None for a store this path does not read (``memory:``, whole-store
encryption or compression, a tenant, a read replica, a transaction pooler): the full path reads it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from engagement_tracker.adapters.storage import StoreConfig, absolute_hint, check_sqlite_file, parse_url, vault_path
from engagement_tracker.domain.access import Grants, drop_grant, grants_of, hold_grant
from engagement_tracker.domain.checks import read_settings
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections.directory_entries import COLUMNS, NAME, Entry

#: The access register's id (``AccessRegister.ID``; a test checks they agree).
REGISTER_ID = uuid5(uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/access-register"), "register")
REGISTER_CREATED = "etrack:AccessRegister.Created"
#: Every event topic of the access register: the class version this code reads up to, what the event does to
#: the grants (None: nothing), and the fields its stored state must hold (``stored_format.required_fields``).
#: A test checks this table against ``AccessRegister``'s own classes.
REGISTER_EVENTS: dict[str, tuple[int, str | None, frozenset[str]]] = {
    REGISTER_CREATED: (2, None, frozenset({"originator_topic", "timestamp"})),
    "etrack:AccessRegister.RoleGranted": (2, "granted", frozenset({"actor", "party", "reason", "role", "timestamp"})),
    "etrack:AccessRegister.RoleRevoked": (2, "revoked", frozenset({"actor", "party", "reason", "role", "timestamp"})),
    "etrack:AccessRegister.TokenIssued": (2, None, frozenset({"actor", "digest", "expires_at", "label", "party",
                                                               "timestamp", "token"})),
    "etrack:AccessRegister.TokenRevoked": (2, None, frozenset({"actor", "timestamp", "token"})),
}
#: What the store's environment may set that changes how events are stored: the full path reads those.
STORED_FORM_SETTINGS = ("ETRACK_CIPHER_KEY", "CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC")
#: A standby to read from (``adapters/replicas.py``): the full path reads it.
READ_URL_ENV = "ETRACK_READ_URL"

SQLITE_EVENTS, SQLITE_TRACKING, SQLITE_DIRECTORY = "stored_events", "tracking", "directory"
POSTGRES_EVENTS, POSTGRES_TRACKING, POSTGRES_DIRECTORY = "etrack_events", "etrack_tracking", "etrack_directory"


def _damaged(detail: str) -> StoreError:
    return StoreError(f"the access register {REGISTER_ID} is damaged ({detail}): no grant can be checked; "
                      "verify the audit trail from the stored bytes to find where")


def _named(version: int, topic: str) -> str:
    return f"AccessRegister {REGISTER_ID} version {version} (topic {topic})"


def _newer(version: int, topic: str, what: str) -> StoreError:
    return StoreError(f"the stored record of {_named(version, topic)} was written by a newer engagement-tracker "
                      f"({what}): upgrade engagement-tracker to read this store; nothing was changed")


def _lacking(version: int, topic: str, what: str) -> StoreError:
    return StoreError(f"the stored record of {_named(version, topic)} lacks {what}, which this version needs "
                      "(damaged, or written by another program): restore the store from its backup")


def _stored_state(version: int, topic: str, state: Any) -> dict[str, Any]:
    """An event's stored JSON, checked as ``CheckedMapper`` checks it: decodable, a class version this code
    reads, every field the class needs."""
    try:
        decoded = json.loads(bytes(state))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot decode access register {REGISTER_ID}: the store is encrypted and ETRACK_CIPHER_KEY "
                         f"is missing or wrong, or a record was corrupted ({str(exc)[:120]})") from None
    if not isinstance(decoded, dict):
        raise _lacking(version, topic, "its state")
    known, _change, required = REGISTER_EVENTS[topic]
    class_version = decoded.pop("class_version", 1)
    if not isinstance(class_version, int) or class_version > known:
        raise _newer(version, topic, f"class_version {class_version}; this version reads up to {known}")
    missing = required - decoded.keys()
    if missing:
        raise _lacking(version, topic, ", ".join(sorted(missing)))
    return decoded


def _party_and_role(version: int, topic: str, decoded: dict[str, Any]) -> tuple[str, str]:
    """The party and role a grant or revocation names (the party as the transcoder writes a UUID)."""
    party, role = decoded["party"], decoded["role"]
    try:
        if not isinstance(party, dict) or party.get("_type_") != "uuid_hex" or not isinstance(role, str):
            raise ValueError(party)
        return str(UUID(hex=str(party["_data_"]))), role
    except (KeyError, ValueError):
        raise _lacking(version, topic, "a party id and a role") from None


def register_grants(rows: Iterable[Sequence[Any]]) -> Grants:
    """Who holds which roles, from the access register's stored events ``(version, topic, state)`` in
    version order: the register's own fold, with the refusals of its load."""
    holders: dict[str, list[str]] = {}
    expected = 1
    for version, topic, state in rows:
        if version != expected:
            raise _damaged(f"version {version} stored where version {expected} was expected")
        if topic not in REGISTER_EVENTS:
            raise _newer(version, topic, "an event this version does not know")
        if (version == 1) != (topic == REGISTER_CREATED):
            raise _damaged(f"version {version} is a {topic}")
        decoded = _stored_state(version, topic, state)
        change = REGISTER_EVENTS[topic][1]
        if change is not None:
            party, role = _party_and_role(version, topic, decoded)
            try:
                (hold_grant if change == "granted" else drop_grant)(holders, party, role)
            except (KeyError, ValueError):
                raise _damaged(f"version {version} revokes {role} from {party}, who does not hold it") from None
        expected += 1
    return grants_of(holders)


class ViewReads(Protocol):
    """A store opened for a read of its views: the grants and the directory, in one read transaction."""

    def grants(self) -> Grants:
        """Who holds which organisation-wide roles now (the access register, folded)."""
        ...

    def listing(self, kind: str) -> list[Entry] | None:
        """The directory's rows of ``kind`` in the order opened; None when the directory has not projected
        every stored event (or has no table yet): the full path catches it up first."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> ViewReads: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...


class _Closing:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _entries(rows: Iterable[Sequence[Any]]) -> list[Entry]:
    return [Entry(*(row[i] for i in range(len(COLUMNS)))) for row in rows]


class SQLiteViewReads(_Closing):
    """An SQLite store's tables, read in one deferred transaction (never written)."""

    def __init__(self, path: str) -> None:
        try:
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        self.path = path

    def grants(self) -> Grants:
        try:
            rows = self._conn.execute(
                f"SELECT originator_version, topic, state FROM {SQLITE_EVENTS} WHERE originator_id = ? "
                "ORDER BY originator_version", (REGISTER_ID.hex,)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"the store failed while reading access register {REGISTER_ID}; try again: {exc}") from exc
        return register_grants(rows)

    def listing(self, kind: str) -> list[Entry] | None:
        try:
            tracked, last = self._conn.execute(
                f"SELECT (SELECT MAX(notification_id) FROM {SQLITE_TRACKING} WHERE application_name = ?), "
                f"(SELECT MAX(rowid) FROM {SQLITE_EVENTS})", (NAME,)).fetchone()
            if (last or 0) > (tracked or 0):
                return None
            return _entries(self._conn.execute(
                f"SELECT {','.join(COLUMNS)} FROM {SQLITE_DIRECTORY} WHERE kind = ? ORDER BY position",
                (kind,)).fetchall())
        except sqlite3.OperationalError:  # a table not made yet: the full path makes it
            return None

    def close(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


class PostgresViewReads(_Closing):
    """A PostgreSQL store's tables in its schema, read in one read-only repeatable-read transaction."""

    def __init__(self, conn: Any, schema: str) -> None:
        from psycopg.sql import SQL, Identifier  # psycopg is the postgres extra

        self._conn, self._sql, self._name = conn, SQL, Identifier
        self._schema = schema
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def _table(self, name: str) -> Any:
        return self._sql("{}.{}").format(self._name(self._schema), self._name(name))

    def grants(self) -> Grants:
        rows = self._conn.execute(self._sql("SELECT originator_version, topic, state FROM {} WHERE originator_id = %s "
                                            "ORDER BY originator_version").format(self._table(POSTGRES_EVENTS)),
                                  (REGISTER_ID,)).fetchall()
        return register_grants(rows)

    def listing(self, kind: str) -> list[Entry] | None:
        import psycopg

        try:
            with self._conn.transaction():  # a savepoint: a missing table leaves the transaction usable
                tracked, last = self._conn.execute(self._sql(
                    "SELECT (SELECT MAX(notification_id) FROM {} WHERE application_name = %s), "
                    "(SELECT MAX(notification_id) FROM {})").format(
                        self._table(POSTGRES_TRACKING), self._table(POSTGRES_EVENTS)), (NAME,)).fetchone()
                if (last or 0) > (tracked or 0):
                    return None
                return _entries(self._conn.execute(self._sql("SELECT {} FROM {} WHERE kind = %s ORDER BY position").format(
                    self._sql(",").join(self._name(c) for c in COLUMNS), self._table(POSTGRES_DIRECTORY)),
                    (kind,)).fetchall())
        except psycopg.errors.UndefinedTable:  # a table not made yet: the full path makes it
            return None

    def close(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


def open_view_reads(url: str | None, *, tenant: str | None = None) -> ViewReads | None:
    """The store at ``url`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite) opened for a read of its views,
    after the checks the full path's open makes (the same errors); None when the full path must read it."""
    config = parse_url(url)
    if tenant or os.environ.get(READ_URL_ENV) or any(os.environ.get(name) for name in STORED_FORM_SETTINGS):
        return None
    read_settings(os.environ.get)  # a malformed ETRACK_* setting refuses the read, as the full path's open does
    if config.kind == "sqlite":
        return _open_sqlite(config)
    if config.kind == "postgresql" and not config.pooled:
        return _open_postgres(config)
    return None


def _open_sqlite(config: StoreConfig) -> ViewReads:
    from engagement_tracker.adapters import store_files

    if config.path is None:
        raise StoreError(f"{config.url}: an SQLite store needs a file path")
    if os.path.exists(config.path):
        check_sqlite_file(config.path)
    store_files.plan_sqlite(config.path, vault_path(config), None, create=False, adopt=False,
                            what=absolute_hint(config.path))
    return SQLiteViewReads(config.path)


def _open_postgres(config: StoreConfig) -> ViewReads:
    from engagement_tracker.adapters.storage import postgres_conninfo, require_psycopg

    require_psycopg()  # first: without the postgres extra, the StoreError that says how to get it
    import psycopg

    from engagement_tracker.adapters import store_files

    pg = config.postgres or {}
    try:
        conn = psycopg.connect(postgres_conninfo(config), autocommit=True, **config.connect_kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot reach PostgreSQL at {config.server} (database {pg.get('POSTGRES_DBNAME')}): "
                         f"{first}") from None
    try:
        where = f"{config.server}/{pg.get('POSTGRES_DBNAME')} schema {config.schema}"
        store_files.plan_postgres(conn, config.schema, where, None, create=False, adopt=False)
        conn.autocommit = False
        return PostgresViewReads(conn, config.schema)
    except BaseException:
        conn.close()
        raise


__all__ = ["REGISTER_EVENTS", "REGISTER_ID", "ViewReads", "open_view_reads", "register_grants"]
