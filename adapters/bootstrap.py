"""The one place where everything is wired: backend, key vault, clock and id factory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.persistence import PersistenceError

from engagement_tracker.adapters.storage import (
    StoreConfig,
    check_sqlite_file,
    ensure_postgres_schema,
    event_store_env,
    parse_url,
    postgres_conninfo,
)
from engagement_tracker.adapters.vault import MemoryVault, PostgresVault, SQLiteVault
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.domain.sealing import Sealer


def system_clock() -> datetime:
    """The wall clock, in UTC: the default clock for commands recorded by a real user."""
    return datetime.now(UTC)


def vault_path(config: StoreConfig) -> str:
    """The key vault's own SQLite file, beside the event store: ``<store>-vault``.

    Keys never share a file with the ciphertext they open: a copy of the event store alone
    reveals no content. Back up both files together (or the sealed content is lost).
    """
    assert config.path is not None
    return os.environ.get("ETRACK_VAULT_PATH") or f"{config.path}-vault"


def open_vault(config: StoreConfig) -> Sealer:
    if config.kind == "memory":
        return MemoryVault()
    if config.kind == "sqlite":
        path = vault_path(config)
        check_sqlite_file(path)
        return SQLiteVault(path)
    pool = int((config.postgres or {}).get("POSTGRES_POOL_SIZE", "2"))
    return PostgresVault(postgres_conninfo(config), config.schema, pool_size=min(pool, 4))


def open_tracker(
    url: str | None = None,
    *,
    clock: Callable[[], datetime] = system_clock,
    ids: Callable[[], UUID] = uuid4,
    env: dict[str, str] | None = None,
    create: bool = True,
) -> EngagementTracker:
    """Open the tracker on the store at ``url`` (else ETRACK_DATABASE_URL, else ./etrack.sqlite).

    ``clock`` and ``ids`` default to the wall clock and random UUIDs; pass your own to record
    history deterministically (tests, imports, simulations). With ``create=False`` a store
    that does not exist yet is a StoreError instead of a new, empty store.
    """
    config = parse_url(url)
    if config.kind == "postgresql":
        with postgres_ddl_lock(config):  # processes starting together on an empty database
            ensure_postgres_schema(config)
            app = _open(config, clock, ids, env)
            create_read_models(app)
        return app
    if config.kind == "sqlite":
        assert config.path is not None
        if not create and not Path(config.path).exists():
            raise StoreError(f"no store at {config.path}: check --db / ETRACK_DATABASE_URL (or run etrack demo)")
        check_sqlite_file(config.path)
    return _open(config, clock, ids, env)


def _open(
    config: StoreConfig, clock: Callable[[], datetime], ids: Callable[[], UUID], env: dict[str, str] | None
) -> EngagementTracker:
    sealer = open_vault(config)
    full_env = {**event_store_env(config), **cipher_env(env), **(env or {})}
    try:
        return EngagementTracker(full_env, sealer=sealer, clock=clock, ids=ids)
    except PersistenceError as exc:
        _close(sealer)
        raise StoreError(f"cannot open the event store at {config.url}: {exc}") from exc
    except BaseException:
        _close(sealer)
        raise


@contextmanager
def postgres_ddl_lock(config: StoreConfig) -> Iterator[None]:
    """A session advisory lock around first-use DDL: concurrent CREATE ... IF NOT EXISTS races in PostgreSQL."""
    import psycopg

    try:
        conn = psycopg.connect(postgres_conninfo(config), autocommit=True)
    except psycopg.OperationalError:
        yield  # unreachable: the next step says so, with where and why
        return
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
        yield
    finally:
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))
        finally:
            conn.close()


DDL_LOCK = 0x65747261636B  # "etrack"


def create_read_models(app: EngagementTracker) -> None:
    """Create the audit trail's and the analysts' tables now (under the DDL lock)."""
    from engagement_tracker.adapters.analytics import Analytics
    from engagement_tracker.adapters.audit import AuditTrail

    AuditTrail(app)
    Analytics(app)


CIPHER_KEY_ENV = "ETRACK_CIPHER_KEY"


def cipher_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Whole-store encryption at rest (eventsourcing's AES-GCM cipher) when ETRACK_CIPHER_KEY is set.

    Every event's state is then encrypted in the store; the audit trail still verifies without
    the key, because its chain covers the stored bytes.
    """
    key = (env or {}).get(CIPHER_KEY_ENV) or os.environ.get(CIPHER_KEY_ENV)
    if not key:
        return {}
    return {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": key}


def new_cipher_key() -> str:
    """A fresh key for ETRACK_CIPHER_KEY (AES-256, base64)."""
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(32)


def _close(sealer: Sealer) -> None:
    closer = getattr(sealer, "close", None)
    if callable(closer):
        closer()
