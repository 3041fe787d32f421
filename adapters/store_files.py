"""A store is one set of files, opened together: the events, the key vault and the record key.

A store records its own id when it is made (the table ``etrack_store`` in the store itself). The
key vault carries that id (``etrack_vault_store`` in the vault file, or in the PostgreSQL schema),
and the record key is bound to it (the store keeps ``HMAC(key, "etrack-store-key-v1" || id)``, so a
key from a file or from ``ETRACK_RECORD_KEY`` is recognised without being stored). At open, a
vault or key that is missing, empty or made for another store is a :class:`StoreError` naming
the file and what to do; nothing is recreated silently, because a new vault opens none of the
sealed names and notes, and a new record key makes ``audit verify`` report every record as
inserted.

A store made before store ids (0.1.0, or the previous version) is *adopted* by its first open
that may write: its id is recorded, its vault stamped and its record key bound (a 0.1.0 store,
which has no record key yet, gets one and its records are sealed then). Opens for reading only
check what is there and write nothing.

Only :func:`plan_sqlite` and :func:`plan_postgres` decide; bootstrap applies the plan
(``adapters/bootstrap.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from engagement_tracker.domain.checks import require_record_key
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections.seal_macs import record_tag

STORE_TABLE = "etrack_store"
VAULT_STAMP_TABLE = "etrack_vault_store"
EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS = "etrack_events"  # eventsourcing names it after the application ("etrack")
SQLITE_SEALS = "record_seals"
POSTGRES_SEALS = "etrack_record_seals"
RECORD_KEY_ENV = "ETRACK_RECORD_KEY"
BACKUP = "restore it from the backup made together with the store"

SQLITE_STORE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {STORE_TABLE} (one INTEGER PRIMARY KEY CHECK (one = 1), store_id TEXT NOT NULL, "
    "created_at TEXT NOT NULL, adopted INTEGER NOT NULL, record_key_check TEXT)"
)
SQLITE_VAULT_STAMP_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VAULT_STAMP_TABLE} (one INTEGER PRIMARY KEY CHECK (one = 1), store_id TEXT NOT NULL)"
)


def key_check(key: bytes, store_id: str) -> str:
    """What the store keeps of its record key: a MAC of its id under the key (the key itself stays out)."""
    return hmac.new(key, b"etrack-store-key-v1" + store_id.encode("ascii"), hashlib.sha256).hexdigest()


@attrs.frozen
class Found:
    """What an open found in the store, before it opened it."""

    kind: str  # "none" (no store here yet), "store" (has its id), "legacy" (made before store ids)
    store_id: str | None = None
    record_key_check: str | None = None
    sealed: bool = False  # it holds record seals: a record key was in use
    events: bool = False  # it holds events (or snapshots)
    #: A store sealed before store ids: its first seal (aggregate id, version, topic, state, record tag),
    #: against which a record key is checked before it is bound.
    first_seal: tuple[str, int, str, Any, str] | None = None


@attrs.frozen
class Plan:
    """What bootstrap does when it opens the store: the id to record, the key to use, what to adopt."""

    store_id: str | None  # None: a store made before store ids, opened for reading (nothing recorded)
    record: bool  # record the id (a new store, or an adopted one), stamp the vault, bind the key
    adopted: bool  # the store existed without an id
    key: bytes | None
    new_key_file: Path | None = None  # write the key to this file (mode 0600) once the store is open
    seal_existing: bool = False  # seal the records already stored (their key is new)


# --- the events file and the files beside it (SQLite) --------------------------------------------


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _read_only(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=30)


def damaged(path: str, exc: BaseException) -> StoreError:
    return StoreError(f"{path} is damaged or not an etrack store ({exc}): {BACKUP}")


def inspect_sqlite(path: str) -> Found:
    """What the SQLite file at ``path`` holds; a file that is not a store (another database,
    a damaged one) is a StoreError naming it."""
    p = Path(path)
    if not p.exists() or (p.is_file() and p.stat().st_size == 0):
        return Found("none")
    try:
        conn = _read_only(path)
        try:
            tables = _tables(conn)
            if not tables:
                return Found("none")
            if EVENTS_TABLE not in tables:
                raise StoreError(
                    f"{path} is an SQLite database but not an etrack store (it has no {EVENTS_TABLE} table): "
                    "check --db / ETRACK_DATABASE_URL; nothing was written to it")
            events = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {EVENTS_TABLE})").fetchone()[0] == 1
            sealed = SQLITE_SEALS in tables and conn.execute(
                f"SELECT EXISTS (SELECT 1 FROM {SQLITE_SEALS})").fetchone()[0] == 1
            row = conn.execute(f"SELECT store_id, record_key_check FROM {STORE_TABLE}").fetchone() if (
                STORE_TABLE in tables) else None
            first = conn.execute(
                f"SELECT x.aggregate_id, x.version, s.topic, s.state, x.record_tag FROM {SQLITE_SEALS} x "
                f"JOIN {EVENTS_TABLE} s ON s.rowid = x.position ORDER BY x.position LIMIT 1").fetchone() if (
                sealed and (row is None or row[1] is None)) else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    first_seal = None if first is None else (str(first[0]), int(first[1]), str(first[2]), first[3], str(first[4]))
    if row is not None:
        return Found("store", str(row[0]), row[1], sealed, events, first_seal)
    if not events:
        return Found("none", sealed=sealed)  # tables made by an earlier read, nothing recorded
    return Found("legacy", sealed=sealed, events=events, first_seal=first_seal)


def check_sqlite_vault(vault: str, found: Found, store: str) -> None:
    """The vault file must be this store's: present, a vault, stamped with its id (adopted: unstamped)."""
    p = Path(vault)
    if found.kind == "none":
        if p.exists() and p.stat().st_size > 0 and _vault_in_use(vault):
            raise StoreError(
                f"the key vault {vault} already holds keys, but there is no store at {store}: it belongs to "
                f"another store; {BACKUP} (or move the vault away to start a new store)")
        return
    if not p.exists():
        raise StoreError(
            f"the key vault {vault} of the store {store} is missing: {BACKUP} (a new, empty vault would open "
            "none of the sealed names and notes); nothing was created")
    if p.stat().st_size == 0:
        raise StoreError(f"the key vault {vault} of the store {store} is empty: {BACKUP}")
    try:
        conn = _read_only(vault)
        try:
            tables = _tables(conn)
            if "etrack_vault" not in tables:
                raise StoreError(f"{vault} is not the key vault of the store {store} (it holds no keys): {BACKUP}")
            keys = conn.execute("SELECT count(*) FROM etrack_vault").fetchone()[0]
            stamp = conn.execute(f"SELECT store_id FROM {VAULT_STAMP_TABLE}").fetchone() if (
                VAULT_STAMP_TABLE in tables) else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the key vault {vault} is damaged ({exc}): {BACKUP}") from None
    _check_stamp(vault, store, found, None if stamp is None else str(stamp[0]), int(keys),
                 lambda: _sqlite_has_parties(store))


PARTY_CREATED = "etrack:Party.Created"


def _sqlite_has_parties(path: str) -> bool:
    conn = _read_only(path)
    try:
        return bool(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {EVENTS_TABLE} WHERE topic = ?)",
                                 (PARTY_CREATED,)).fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from None
    finally:
        conn.close()


def _check_stamp(vault: str, store: str, found: Found, stamp: str | None, keys: int,
                 parties: Callable[[], bool]) -> None:
    if stamp is not None and stamp != found.store_id:
        raise StoreError(
            f"the key vault {vault} belongs to another store (store id {stamp}"
            f"{'' if found.store_id is None else f', this store is {found.store_id}'}): {BACKUP}")
    if found.kind == "store" and stamp is None:
        raise StoreError(f"the key vault {vault} carries no store id (empty, or not the vault of the store {store} "
                         f"{found.store_id}): {BACKUP}")
    if keys == 0 and found.events and parties():  # every registered party has its key in the vault
        raise StoreError(f"the key vault {vault} of the store {store} is empty (no key of any party): {BACKUP}")


def _vault_in_use(vault: str) -> bool:
    try:
        conn = _read_only(vault)
        try:
            tables = _tables(conn)
            if VAULT_STAMP_TABLE in tables:
                return True
            return "etrack_vault" in tables and conn.execute("SELECT count(*) FROM etrack_vault").fetchone()[0] > 0
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return True


def record_key_path(store_path: str) -> Path:
    return Path(f"{store_path}-record-key")


def read_record_key(path: Path, store: str) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise StoreError(f"cannot read the record key {path}: {exc.strerror}") from None
    found = require_record_key(text, str(path))
    if found is None:
        raise StoreError(f"the record key file {path} of the store {store} is empty: {BACKUP}")
    return found


def env_record_key(env: dict[str, str] | None) -> bytes | None:
    raw = (env or {}).get(RECORD_KEY_ENV) or os.environ.get(RECORD_KEY_ENV)
    return require_record_key(raw, RECORD_KEY_ENV)


def plan_sqlite(path: str, vault: str, env: dict[str, str] | None, *, create: bool, adopt: bool,
                what: str = "") -> Plan:
    """Check the store's files together and decide what the open records; a refusal writes nothing."""
    found = inspect_sqlite(path)
    if found.kind == "none" and not create:
        raise StoreError(no_store(path, what))
    check_sqlite_vault(vault, found, path)
    key_file = record_key_path(path)
    key, source = env_record_key(env), RECORD_KEY_ENV
    new_key_file = None
    if key is None:
        source = str(key_file)
        if key_file.exists():
            key = read_record_key(key_file, path)
        elif found.record_key_check is not None or found.sealed:
            raise StoreError(
                f"the record key {key_file} of the store {path} is missing: {BACKUP} (or set {RECORD_KEY_ENV}); "
                "a new key would make audit verify report every record as inserted")
        elif found.kind == "none" or adopt:
            key, new_key_file = os.urandom(32), key_file
    return _plan(found, key, source, path, create=create, adopt=adopt, new_key_file=new_key_file)


def _plan(found: Found, key: bytes | None, source: str, store: str, *, create: bool, adopt: bool,
          new_key_file: Path | None = None) -> Plan:
    if found.record_key_check is not None:
        if key is None:
            raise StoreError(f"the store {store} seals its records with a record key, and none is given: set "
                             f"{RECORD_KEY_ENV} to it (from where you keep it)")
        if not hmac.compare_digest(key_check(key, str(found.store_id)), found.record_key_check):
            raise StoreError(f"the record key from {source} belongs to another store, not to {store} "
                             f"(store id {found.store_id}): {BACKUP}")
    elif found.first_seal is not None and key is not None:
        aggregate_id, version, topic, state, stored_tag = found.first_seal
        if not hmac.compare_digest(record_tag(key, aggregate_id, version, topic, state).hex(), stored_tag):
            raise StoreError(f"the record key from {source} did not seal the records of {store} (its first seal "
                             f"does not match): {BACKUP}")
    if found.kind == "none":
        return Plan(str(uuid.uuid4()), True, False, key, new_key_file, seal_existing=False)
    if found.kind == "legacy":
        if not adopt:
            return Plan(None, False, False, key, None)
        return Plan(str(uuid.uuid4()), True, True, key, new_key_file, seal_existing=new_key_file is not None)
    bind = found.record_key_check is None and key is not None and (adopt or create)
    return Plan(found.store_id, bind, False, key, new_key_file, seal_existing=new_key_file is not None)


def no_store(where: str, what: str = "") -> str:
    return (f"no store at {where}{what}: check --db / ETRACK_DATABASE_URL; make one with `etrack init --admin-name "
            "NAME` or `etrack demo`, or let a write make it with --create (Python: open_tracker(url, create=True)); "
            "nothing was created")


@contextmanager
def creating(path: str) -> Iterator[None]:
    """Processes that may create a store take turns (an exclusive lock on its directory, held while the
    store opens): the second finds the store the first made. The store's own file is never locked
    here: closing a descriptor of an SQLite file drops the locks SQLite holds on it in this process."""
    directory = Path(path).parent
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield  # the open says what is wrong with the path
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_key_file(path: Path, key: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(f"the record key {path} appeared while the store was opened: open it again") from None
    except OSError as exc:
        raise StoreError(f"cannot create the record key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def record_sqlite_identity(path: str, plan: Plan) -> None:
    """Record the store's id (once) and bind its record key, in the events file."""
    if plan.store_id is None:
        return
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(SQLITE_STORE_DDL)
            conn.execute(f"INSERT OR IGNORE INTO {STORE_TABLE} (one, store_id, created_at, adopted) VALUES (1, ?, ?, ?)",
                         (plan.store_id, datetime.now(UTC).isoformat(), int(plan.adopted)))
            if plan.key is not None:
                conn.execute(f"UPDATE {STORE_TABLE} SET record_key_check = ? WHERE record_key_check IS NULL",
                             (key_check(plan.key, plan.store_id),))
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot record the store's id in {path}: {exc}") from None


# --- PostgreSQL: the events and the vault in one schema; the record key from the environment ----


def inspect_postgres(conn: Any, schema: str) -> Found:
    def exists(table: str) -> bool:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".{table}',)).fetchone()[0] is True

    if not exists(POSTGRES_EVENTS):
        return Found("none")
    events = conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".{POSTGRES_EVENTS})').fetchone()[0] is True
    sealed = exists(POSTGRES_SEALS) and conn.execute(
        f'SELECT EXISTS (SELECT 1 FROM "{schema}".{POSTGRES_SEALS})').fetchone()[0] is True
    row = conn.execute(f'SELECT store_id, record_key_check FROM "{schema}".{STORE_TABLE}').fetchone() if exists(
        STORE_TABLE) else None
    first = conn.execute(
        f'SELECT x.aggregate_id, x.version, s.topic, s.state, x.record_tag FROM "{schema}".{POSTGRES_SEALS} x '
        f'JOIN "{schema}".{POSTGRES_EVENTS} s ON s.notification_id = x.position ORDER BY x.position LIMIT 1').fetchone() if (
        sealed and (row is None or row[1] is None)) else None
    first_seal = None if first is None else (str(first[0]), int(first[1]), str(first[2]), bytes(first[3]),
                                             str(first[4]))
    if row is not None:
        return Found("store", str(row[0]), row[1], sealed, events, first_seal)
    if not events:
        return Found("none", sealed=sealed)
    return Found("legacy", sealed=sealed, events=events, first_seal=first_seal)


def check_postgres_vault(conn: Any, schema: str, found: Found, store: str) -> None:
    table = f'"{schema}".etrack_vault'
    if found.kind == "none":
        return
    if conn.execute("SELECT to_regclass(%s) IS NULL", (table,)).fetchone()[0] is True:
        raise StoreError(f"the key vault table {schema}.etrack_vault of the store {store} is missing: {BACKUP} "
                         "(a new, empty vault would open none of the sealed names and notes)")
    keys = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    stamp = None
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".{VAULT_STAMP_TABLE}',)).fetchone()[0] is True:
        row = conn.execute(f'SELECT store_id FROM "{schema}".{VAULT_STAMP_TABLE}').fetchone()
        stamp = None if row is None else str(row[0])
    _check_stamp(f"{schema}.etrack_vault", store, found, stamp, keys, lambda: conn.execute(
        f'SELECT EXISTS (SELECT 1 FROM "{schema}".{POSTGRES_EVENTS} WHERE topic = %s)', (PARTY_CREATED,)
    ).fetchone()[0] is True)


def plan_postgres(conn: Any, schema: str, store: str, env: dict[str, str] | None, *, create: bool,
                  adopt: bool, what: str = "") -> Plan:
    found = inspect_postgres(conn, schema)
    if found.kind == "none" and not create:
        raise StoreError(no_store(store, what))
    check_postgres_vault(conn, schema, found, store)
    key = env_record_key(env)
    if key is None and (found.record_key_check is not None or found.sealed):
        raise StoreError(f"the store {store} seals its records with a record key, and {RECORD_KEY_ENV} is not set: "
                         "set it to the store's key (from where you keep it); a new key would make audit verify "
                         "report every record as inserted")
    return _plan(found, key, RECORD_KEY_ENV, store, create=create, adopt=adopt)


def record_postgres_identity(conn: Any, schema: str, plan: Plan) -> None:
    if plan.store_id is None:
        return
    conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".{STORE_TABLE} (one integer PRIMARY KEY CHECK (one = 1), '
                 "store_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), adopted boolean NOT NULL, "
                 "record_key_check text)")
    conn.execute(f'INSERT INTO "{schema}".{STORE_TABLE} (one, store_id, adopted) VALUES (1, %s, %s) '
                 "ON CONFLICT (one) DO NOTHING", (plan.store_id, plan.adopted))
    if plan.key is not None:
        conn.execute(f'UPDATE "{schema}".{STORE_TABLE} SET record_key_check = %s WHERE record_key_check IS NULL',
                     (key_check(plan.key, plan.store_id),))
