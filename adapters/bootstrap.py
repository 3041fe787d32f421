"""The one place where everything is wired: backend, key vault, clock and id factory, read models.

The read models (``projections/``) are handed their view and their reader of the store here, as
eventsourcing hands a view to a projection: :func:`read_model_backend` picks the backend's
classes once (``adapters/views/``, ``adapters/stored_records.py``); :func:`audit_trail`,
:func:`analytics`, :func:`directory` and the services build on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import attrs
from eventsourcing.persistence import PersistenceError
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import strtobool

from engagement_tracker.adapters import store_files
from engagement_tracker.adapters.release_leaves import ReleaseLeaves
from engagement_tracker.adapters.sealed_recorders import SQLITE_TOPIC, SnapshotsBeside
from engagement_tracker.adapters.storage import (
    StoreConfig,
    absolute_hint,
    check_sqlite_file,
    ensure_postgres_schema,
    event_store_env,
    parse_url,
    postgres_conninfo,
    require_psycopg,
    vault_path,
)
from engagement_tracker.adapters.stored_records import NotificationRecords, PostgresRecords, SQLiteRecords
from engagement_tracker.adapters.vault import MemoryVault, PostgresVault, SQLiteVault
from engagement_tracker.adapters.views import memory, sqlite
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.checks import Settings, read_settings, require_cipher_key
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.projections.analytics import RELEASE_RULES, AnalystService, Analytics, AnalyticsView
from engagement_tracker.projections.audit_trail import TRAIL_RULES, AuditService, AuditTrail, AuditTrailView, StoredRecords
from engagement_tracker.projections.directory import Directory, DirectoryView
from engagement_tracker.projections.tracking import TrackedProjection, View


def system_clock() -> datetime:
    """The wall clock, in UTC: the default clock for commands recorded by a real user."""
    return datetime.now(UTC)


def open_vault(config: StoreConfig, replica: bool = False) -> Sealer:
    if config.kind == "memory":
        return MemoryVault()
    if config.kind == "sqlite":
        path = vault_path(config)
        check_sqlite_file(path)
        return SQLiteVault(path)
    pg = config.postgres or {}
    return PostgresVault(postgres_conninfo(config), config.schema, pool_size=min(int(pg.get("POSTGRES_POOL_SIZE", "2")), 4),
                         read_only=replica, connect_kwargs=config.connect_kwargs,
                         pre_ping=strtobool(pg.get("POSTGRES_PRE_PING", "n")))


def open_tracker(
    url: str | None = None,
    *,
    clock: Callable[[], datetime] = system_clock,
    ids: Callable[[], UUID] = uuid4,
    env: dict[str, str] | None = None,
    create: bool = True,
    adopt: bool = True,
    replica: bool = False,
) -> EngagementTracker:
    """Open the tracker on the store at ``url`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite).

    ``clock`` and ``ids`` default to the wall clock and random UUIDs; pass your own to record
    history deterministically (tests, imports, simulations). With ``create=False`` a store
    that does not exist yet is a StoreError instead of a new, empty store.

    The store's files are opened together (``adapters/store_files.py``): a key vault or record
    key that is missing, empty or another store's is a StoreError naming it. A store made before
    store ids is adopted (its id recorded, its vault stamped, its record key bound) unless
    ``adopt=False`` (an open for reading only, which writes nothing of its own).

    ``replica=True``: a PostgreSQL standby (``ETRACK_READ_URL``), opened for reading only: no table is
    made, no projection catches up (the primary's runner keeps the views, replication brings them),
    nothing is written; a write reaching it is refused by the standby itself.
    """
    config = parse_url(url)
    settings_of(env)  # a malformed ETRACK_* setting refuses to open, before any file is made
    if replica:
        if config.kind != "postgresql":
            raise StoreError(f"{config.url}: a read replica is a PostgreSQL standby (postgresql://...)")
        require_psycopg()
        with postgres_ddl_lock(config, lock=False) as conn:
            where = f"{config.server}/{(config.postgres or {}).get('POSTGRES_DBNAME')} schema {config.schema}"
            plan = store_files.plan_postgres(conn, config.schema, where, env, create=False, adopt=False)
        return _open(config, clock, ids, {**(env or {}), **REPLICA_ENV}, plan)
    if config.kind == "postgresql":
        require_psycopg()
        with postgres_ddl_lock(config) as conn:  # processes starting together on an empty database
            where = f"{config.server}/{(config.postgres or {}).get('POSTGRES_DBNAME')} schema {config.schema}"
            plan = store_files.plan_postgres(conn, config.schema, where, env, create=create, adopt=adopt)
            if plan.record:
                ensure_postgres_schema(config)
            app = _open(config, clock, ids, env, plan)
            try:
                create_read_models(app)  # as before store ids: tables a newer version adds, under the lock
                if plan.record:
                    store_files.record_postgres_identity(conn, config.schema, plan)
            except BaseException:
                app.close()
                raise
        return app
    if config.kind == "sqlite":
        if config.path is None:
            raise StoreError(f"{config.url}: an SQLite store needs a file path")
        if create or Path(config.path).exists():
            check_sqlite_file(config.path)
        with store_files.creating(config.path) if create else contextlib.nullcontext():
            plan = store_files.plan_sqlite(config.path, vault_path(config), env, create=create, adopt=adopt,
                                           what=absolute_hint(config.path))
            return _open(config, clock, ids, env, plan)
    return _open(config, clock, ids, env, None)


#: The settings of a read replica's tracker: eventsourcing makes no table, the projections only read.
REPLICA_ENV = {"CREATE_TABLE": "n", "READ_REPLICA": "y"}


def is_replica(app: EngagementTracker) -> bool:
    """The app reads a standby (``open_tracker(..., replica=True)``)."""
    return app.env.get("READ_REPLICA") == "y"


def _open(config: StoreConfig, clock: Callable[[], datetime], ids: Callable[[], UUID], env: dict[str, str] | None,
          plan: store_files.Plan | None) -> EngagementTracker:
    sealer = open_vault(config, replica=(env or {}).get("READ_REPLICA") == "y")
    full_env = {**event_store_env(config), **cipher_env(env), **sealed_recorder_env(config), **(env or {})}
    try:
        app = provide_services(EngagementTracker(full_env, sealer=sealer, clock=clock, ids=ids))
    except PersistenceError as exc:
        _close(sealer)
        raise StoreError(f"cannot open the event store at {config.url}: {exc}") from exc
    except BaseException:
        _close(sealer)
        raise
    try:
        if plan is not None:
            apply_plan(app, config, plan)
        if is_replica(app) and hasattr(app.recorder, "read_only"):
            app.recorder.read_only = True  # a command's save is refused before it reaches the standby
        return app
    except PersistenceError as exc:
        app.close()
        raise StoreError(f"cannot seal the event store at {config.url}: {exc}") from exc
    except BaseException:
        app.close()
        raise


def apply_plan(app: EngagementTracker, config: StoreConfig, plan: store_files.Plan) -> None:
    """Hand the record key to the recorder before any write; record a new (or adopted) store's id
    in the store, stamp its vault, and seal the records already stored when their key is new."""
    recorder = app.recorder
    if plan.new_key_file is not None and plan.key is not None:
        store_files.write_key_file(plan.new_key_file, plan.key)  # first: the store then never names a lost key
    if plan.record and plan.store_id is not None:
        stamp = getattr(app.sealer, "stamp", None)
        if callable(stamp):
            stamp(plan.store_id)
        if config.kind == "sqlite" and config.path is not None:
            store_files.record_sqlite_identity(config.path, plan)
    if isinstance(recorder, SnapshotsBeside) and app.snapshots is not None:  # one transaction for both
        recorder.store_snapshots_of(app.snapshots.recorder)
    if isinstance(getattr(recorder, "record_key", False), bytes | None):
        recorder.record_key = plan.key  # type: ignore[attr-defined]
        if plan.seal_existing:
            recorder.adopt()  # type: ignore[attr-defined]


def sealed_recorder_env(config: StoreConfig) -> dict[str, str]:
    """eventsourcing's recorder, extended to seal every event it stores (``adapters/sealed_recorders.py``)."""
    if config.kind == "sqlite":
        return {"APPLICATION_RECORDER_TOPIC": SQLITE_TOPIC}
    if config.kind == "postgresql":
        return {"APPLICATION_RECORDER_TOPIC": "engagement_tracker.adapters.sealed_recorders_pg:SealedPostgresRecorder"}
    return {}


@contextmanager
def postgres_ddl_lock(config: StoreConfig, lock: bool = True) -> Iterator[Any]:
    """A session advisory lock around first-use DDL (concurrent CREATE ... IF NOT EXISTS races in
    PostgreSQL), one per schema (``ddl_lock_key``); yields the session, on which the store's files are
    checked and its id recorded.

    An unreachable server is a StoreError naming the host and port; a session cut while the lock
    is taken or released (a server restart, ``pg_terminate_backend``) is a StoreError naming the
    server; a lost unlock needs nothing more (the server releases a session's advisory locks when
    the session ends)."""
    import psycopg

    if config.pooled and lock:
        with _postgres_ddl_xact_lock(config) as conn:
            yield conn
        return
    try:
        conn = psycopg.connect(postgres_conninfo(config), autocommit=True, **config.connect_kwargs)
    except psycopg.OperationalError as exc:
        pg = config.postgres or {}
        raise StoreError(
            f"cannot reach PostgreSQL at {config.server} (database {pg.get('POSTGRES_DBNAME')}): "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from None
    try:
        try:
            if lock:  # not on a read replica: it makes nothing
                conn.execute("SELECT pg_advisory_lock(%s)", (ddl_lock_key(config.schema),))
        except psycopg.Error as exc:
            raise StoreError(
                f"the PostgreSQL server at {config.server} cut the session while "
                f"opening the store: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}; "
                "try again"
            ) from None
        try:
            yield conn
        except psycopg.OperationalError as exc:
            raise StoreError(f"the PostgreSQL server at {config.server} failed while opening the store: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}; "
                             "try again") from None
    finally:
        if lock:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (ddl_lock_key(config.schema),))
        conn.close()


def ddl_lock_key(schema: str) -> int:
    """The DDL lock's advisory key for one schema (one tenant's store): the first 8 bytes of
    BLAKE2b(``etrack ddl lock:`` + the schema's name, UTF-8), read as a signed big-endian bigint.

    One key per schema, not one for the database: opening tenant A never waits for tenant B's open,
    while two processes opening the same new schema still take turns (its tables are made once).
    Advisory keys are per database, so the same schema name in two databases never collides; the
    key is stable across processes, versions and machines (it is derived, never stored)."""
    digest = hashlib.blake2b(DDL_LOCK_PREFIX + schema.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


DDL_LOCK_PREFIX = b"etrack ddl lock:"


@contextmanager
def _postgres_ddl_xact_lock(config: StoreConfig) -> Iterator[Any]:
    """The DDL lock behind a transaction pooler (``?pooler=transaction``): a session lock would stay
    on whichever server connection pgbouncer lent for its statement, and its unlock would go to
    another (the lock then leaks and the next open waits forever). A transaction keeps its server
    connection to itself, so the lock is ``pg_advisory_xact_lock`` in a transaction that does nothing
    else and ends (releasing it) when the store is open. The store's files are checked and its id
    recorded on a second, autocommit session, as on a direct URL: a long transaction that looked the
    schema up before another session made it may still find it missing (a stale catalog cache).

    Waiting never pins a server connection: the lock is tried (``pg_try_advisory_xact_lock``) in a
    transaction that ends at once when another open holds it, and tried again after a short pause.
    Waiting inside ``pg_advisory_xact_lock`` would keep one of pgbouncer's server connections per
    waiting open; with as many opens waiting as the pool has connections, the holder's second
    session could never get one, and every open would wait until the pooler's timeout."""
    import psycopg

    pg = config.postgres or {}
    try:
        holder = psycopg.connect(postgres_conninfo(config), autocommit=False, **config.connect_kwargs)
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot reach PostgreSQL at {config.server} (database {pg.get('POSTGRES_DBNAME')}): "
                         f"{_first(exc)}") from None
    try:
        try:
            _take_ddl_lock(holder, ddl_lock_key(config.schema))
            conn = psycopg.connect(postgres_conninfo(config), autocommit=True, **config.connect_kwargs)
        except psycopg.OperationalError as exc:
            raise StoreError(f"the PostgreSQL server at {config.server} cut the session while opening the store: "
                             f"{_first(exc)}; try again") from None
        try:
            yield conn
        except psycopg.OperationalError as exc:
            raise StoreError(f"the PostgreSQL server at {config.server} failed while opening the store: "
                             f"{_first(exc)}; try again") from None
        finally:
            conn.close()
    finally:
        with contextlib.suppress(psycopg.Error):
            holder.rollback()  # releases the lock (the transaction wrote nothing)
        holder.close()


#: How long an open waits for another open's DDL lock before it gives up (StoreError), and its pauses.
DDL_LOCK_WAIT, DDL_LOCK_PAUSE = 120.0, (0.005, 0.2)


def _take_ddl_lock(holder: Any, key: int) -> None:
    """``pg_advisory_xact_lock(key)`` in ``holder``'s transaction, without waiting inside one: each try is a
    transaction that ends (rolled back: it did nothing) when the lock is taken elsewhere."""
    deadline, pause = time.monotonic() + DDL_LOCK_WAIT, DDL_LOCK_PAUSE[0]
    while not holder.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()[0]:
        holder.rollback()  # hands the server connection back to the pooler while waiting
        if time.monotonic() > deadline:
            raise StoreError(f"another process has been opening this store for {DDL_LOCK_WAIT:.0f} s (its DDL lock "
                             "is held): nothing was changed; try again once it has opened")
        time.sleep(pause + random.uniform(0, pause))  # noqa: S311 - jitter between tries, not a secret
        pause = min(DDL_LOCK_PAUSE[1], pause * 2)


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def create_read_models(app: EngagementTracker) -> None:
    """Create the audit trail's, the analysts' and the directory's tables now (under the DDL lock)."""
    read_models(app)


# --- read models ---------------------------------------------------------------------------------


@attrs.frozen
class ReadModelBackend:
    """A backend's classes for the read models (their views), and its reader of stored events."""

    audit_view: type[AuditTrailView]
    analytics_view: type[AnalyticsView]
    directory_view: type[DirectoryView]
    records: StoredRecords


def read_model_backend(app: EngagementTracker) -> ReadModelBackend:
    """The read models' classes for the app's store: SQLite, memory or PostgreSQL."""
    recorder, mapper = app.recorder, app.mapper
    if isinstance(recorder, SQLiteApplicationRecorder):
        return ReadModelBackend(sqlite.SQLiteAuditTrailView, sqlite.SQLiteAnalyticsView, sqlite.SQLiteDirectoryView,
                                SQLiteRecords(mapper, recorder, sqlite.AUDIT_TABLE))
    if isinstance(recorder, POPOApplicationRecorder):
        return ReadModelBackend(memory.MemoryAuditTrailView, memory.MemoryAnalyticsView, memory.MemoryDirectoryView,
                                NotificationRecords(mapper, recorder))
    if app.env.get("PERSISTENCE_MODULE", "").lower().endswith(("postgres", "postgresfactory")):
        from eventsourcing.postgres import PostgresApplicationRecorder  # psycopg is the postgres extra

        from engagement_tracker.adapters.views import postgres

        if isinstance(recorder, PostgresApplicationRecorder):
            return ReadModelBackend(postgres.PostgresAuditTrailView, postgres.PostgresAnalyticsView,
                                    postgres.PostgresDirectoryView, PostgresRecords(mapper, recorder, postgres.AUDIT_TABLE))
    raise StoreError(f"no read model for the backend {app.env.get('PERSISTENCE_MODULE', '')!r}")


V = TypeVar("V", bound=View)


def _view(app: EngagementTracker, cls: type[V]) -> V:
    """A view of class ``cls`` on the app's store, created (tables included) by eventsourcing's factory."""
    try:
        view = app.factory.tracking_recorder(cls)
    except PersistenceError as exc:
        raise StoreError(f"the store could not create the tables of {cls.__name__}: {exc}") from exc
    if not isinstance(view, cls):  # pragma: no cover - the factory builds the class it is given
        raise StoreError(f"the store's factory made a {type(view).__name__}, not a {cls.__name__}")
    if hasattr(view, "events_table_name") and hasattr(app.recorder, "events_table_name"):
        view.events_table_name = app.recorder.events_table_name  # where a release's grant guard reads the register
    return view


def audit_trail(app: EngagementTracker, view: AuditTrailView | None = None) -> AuditTrail:
    """The audit trail of the app's store, kept in ``view`` (else the backend's, created if needed); its
    verification compares the release ledger with the releases logged (``adapters/release_leaves.py``)."""
    backend = read_model_backend(app)
    trail = AuditTrail(view if view is not None else _view(app, backend.audit_view), backend.records)
    trail.release_log = ReleaseLeaves(app.mapper, app.recorder,
                                      ledger=lambda: _view(app, backend.analytics_view).ledger_rows(),
                                      dp_answer=lambda: _view(app, backend.analytics_view).dp_answer)
    return trail


def release_leaves(app: EngagementTracker) -> ReleaseLeaves:
    """The store's release log: each recorded release's event, written in the ledger's transaction."""
    return ReleaseLeaves(app.mapper, app.recorder)


def _logging(app: EngagementTracker, view: AnalyticsView) -> AnalyticsView:
    """``view``, writing each release it records into the store's release log (a leaf of the audit log)."""
    view.release_leaves = release_leaves(app)
    return view


def analytics(app: EngagementTracker, view: AnalyticsView | None = None) -> Analytics:
    """The analysts' facts of the app's store, kept in ``view`` (else the backend's, created if needed)."""
    backend = read_model_backend(app)
    return _reading(app, Analytics(_logging(app, view if view is not None else _view(app, backend.analytics_view)),
                                   backend.records))


def directory(app: EngagementTracker, view: DirectoryView | None = None) -> Directory:
    """The directory of the app's store (engagements and cohorts, no names), kept in ``view`` (else the
    backend's, created if needed)."""
    backend = read_model_backend(app)
    return _reading(app, Directory(view if view is not None else _view(app, backend.directory_view),
                                   backend.records))


P = TypeVar("P", bound=TrackedProjection[Any])


def _reading(app: EngagementTracker, projection: P) -> P:
    """On a read replica, a projection reads its view as replicated and never catches up (no write)."""
    projection.follows = not is_replica(app)
    return projection


def read_models(app: EngagementTracker) -> list[TrackedProjection[Any]]:
    """Every projection of the app's store, sharing one reader: a page is decoded once for all."""
    backend = read_model_backend(app)
    return [AuditTrail(_view(app, backend.audit_view), backend.records),
            Analytics(_logging(app, _view(app, backend.analytics_view)), backend.records),
            Directory(_view(app, backend.directory_view), backend.records)]


def provide_services(app: EngagementTracker) -> EngagementTracker:
    """Hand the application the read models its services use (``app.audit``, ``app.analysts``), each built
    on first use."""
    app.provide(
        audit=lambda: AuditService(audit_trail(app), app.clock, grants=app.held_grants, rules=TRAIL_RULES),
        analysts=lambda: AnalystService(
            analytics(app), app.clock, app.settings.k_min, grants=app.held_grants, rules=RELEASE_RULES,
            spend=lambda analyst, cost, query: app.budgets.spend(analyst, cost, query).value,
            afford=app.budgets.require_affordable, calendar=app.release_calendar, dp_delta=app.settings.dp_delta),
    )
    if importlib.util.find_spec("opendp") is not None:  # the [dp] extra: budgets stated in epsilon too
        app.budgets.epsilon_of = RELEASE_RULES.epsilon_of
        app.budgets.largest_epsilon = RELEASE_RULES.largest_epsilon
    return app


def audit_service(app: EngagementTracker) -> AuditService:
    """What auditors do (read, verify, checkpoint and export the trail) on the app's store: ``app.audit``."""
    return app.audit


def analyst_service(app: EngagementTracker) -> AnalystService:
    """Released aggregates of the app's store, never below ETRACK_K_MIN persons per cell (default 5):
    ``app.analysts``."""
    return app.analysts


CIPHER_KEY_ENV = "ETRACK_CIPHER_KEY"


def cipher_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Whole-store encryption at rest (eventsourcing's AES-GCM cipher) when ETRACK_CIPHER_KEY is set.

    Every event's state is then encrypted in the store; the audit trail still verifies without
    the key, because its chain covers the stored bytes.
    """
    key = require_cipher_key((env or {}).get(CIPHER_KEY_ENV) or os.environ.get(CIPHER_KEY_ENV), CIPHER_KEY_ENV)
    if key is None:
        return {}
    return {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": key}


def settings_of(env: dict[str, str] | None = None) -> Settings:
    """The ETRACK_* settings the tracker will run with (``env`` over the process environment),
    checked: the same parsing the application does when it opens, done before anything is opened."""
    merged = {**os.environ, **(env or {})}
    return read_settings(merged.get)


def new_cipher_key() -> str:
    """A fresh key for ETRACK_CIPHER_KEY (AES-256, base64)."""
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(32)


def _close(sealer: Sealer) -> None:
    closer = getattr(sealer, "close", None)
    if callable(closer):
        closer()
