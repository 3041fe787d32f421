"""The backend, chosen by a URL: ``sqlite:///path`` (the default), ``memory:`` or ``postgresql://``.

``sqlite:///etrack.sqlite`` is relative to the working directory; ``sqlite:////abs/path.sqlite``
is absolute. The URL comes from ``--db``, else ``ETRACK_DATABASE_URL``, else the default.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from engagement_tracker.domain.errors import StoreError

DEFAULT_URL = "sqlite:///etrack.sqlite"
URL_ENV = "ETRACK_DATABASE_URL"


@attrs.frozen
class StoreConfig:
    url: str
    kind: str  # "sqlite" | "memory" | "postgresql"
    path: str | None = None
    postgres: dict[str, str] | None = None  # POSTGRES_* settings

    @property
    def schema(self) -> str:
        return (self.postgres or {}).get("POSTGRES_SCHEMA", "public")

    @property
    def pooled(self) -> bool:
        """The URL goes through a pooler in transaction mode (``?pooler=transaction``, pgbouncer):
        no prepared statements, no session state (advisory locks, LISTEN) across transactions."""
        return (self.postgres or {}).get(POOLER, "none") == "transaction"

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        """What psycopg needs besides the conninfo: ``prepare_threshold=None`` behind a transaction
        pooler (pgbouncer 1.18 keeps no prepared statement from one transaction to the next)."""
        return {"prepare_threshold": None} if self.pooled else {}

    @property
    def server(self) -> str:
        """``host:port`` of a PostgreSQL store (for messages)."""
        pg = self.postgres or {}
        hosts, ports = pg.get("POSTGRES_HOST", "?").split(","), pg.get("POSTGRES_PORT", "5432").split(",")
        return ",".join(f"{h}:{ports[min(i, len(ports) - 1)]}" for i, h in enumerate(hosts))


#: postgresql://user:password@host:port/dbname?pool_size=5&connect_timeout=5&schema=etrack
POSTGRES_OPTIONS = {
    "pool_size": "POSTGRES_POOL_SIZE",
    "max_overflow": "POSTGRES_MAX_OVERFLOW",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
    "max_waiting": "POSTGRES_MAX_WAITING",
    "conn_max_age": "POSTGRES_CONN_MAX_AGE",
    "schema": "POSTGRES_SCHEMA",
    "pre_ping": "POSTGRES_PRE_PING",
    "db_functions": "POSTGRES_ENABLE_DB_FUNCTIONS",
    "target_session_attrs": "POSTGRES_TARGET_SESSION_ATTRS",
    "pooler": "POSTGRES_POOLER",
}

#: ``?pooler=transaction``: the URL names pgbouncer (or another pooler) in transaction pooling mode.
POOLER = "POSTGRES_POOLER"
POOLERS = ("none", "transaction")

#: libpq's choices for target_session_attrs (PostgreSQL 14 and later).
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")


def split_hosts(url: str, netloc: str) -> tuple[str, str]:
    """The hosts and ports of a URL's ``host:port,host:port`` list, as libpq takes them (``a,b`` and
    ``5432,5433``); a malformed list is a StoreError naming the URL's form."""
    hostlist = netloc.rpartition("@")[2]
    hosts, ports = [], []
    for item in hostlist.split(","):
        if item.startswith("["):  # [::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not port:
            port = "5432"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise StoreError(f"{url!r}: port {port!r} of host {host or '?'} is not a port number; "
                             "postgresql://user@host1:5432,host2:5432/dbname")
        hosts.append(unquote(host) or "127.0.0.1")
        ports.append(port)
    return ",".join(hosts), ",".join(ports)


def parse_postgres(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    hosts, ports = split_hosts(url, parts.netloc)
    userinfo = parts.netloc.rpartition("@")[0]
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise StoreError(f"{url!r} names no database: postgresql://user@host:5432/dbname")
    env = {
        "POSTGRES_DBNAME": unquote(dbname),
        "POSTGRES_HOST": hosts,
        "POSTGRES_PORT": ports,
        "POSTGRES_USER": unquote(userinfo.partition(":")[0] or "postgres"),
        "POSTGRES_PASSWORD": unquote(userinfo.partition(":")[2]),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # Connections opened at start per process (growing by up to max_overflow, 10, under load):
        # eight writer processes and a runner stay far below PostgreSQL's default 100 connections.
        "POSTGRES_POOL_SIZE": "2",
        # No ping before each use: after a server-side cut, psycopg_pool's checked getconn backs off
        # per dead connection (about 6 s for a pool of 5, measured), while eventsourcing's own retry
        # of a failed statement gets a fresh connection in about 1.2 s. pre_ping=y in the URL restores it.
        "POSTGRES_PRE_PING": "n",
    }
    for key, values in parse_qs(parts.query).items():
        if key not in POSTGRES_OPTIONS:
            raise StoreError(f"unknown option {key!r} in the store URL; known: {', '.join(POSTGRES_OPTIONS)}")
        value = values[-1]
        if key == "schema" and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise StoreError(f"schema {value!r}: lowercase letters, digits and '_' only")
        if key == "target_session_attrs" and value not in SESSION_ATTRS:
            raise StoreError(f"target_session_attrs={value!r}: one of {', '.join(SESSION_ATTRS)}")
        if key == "pooler" and value not in POOLERS:
            raise StoreError(f"pooler={value!r}: one of {', '.join(POOLERS)} (transaction: pgbouncer's "
                             "pool_mode = transaction; a session pooler needs no setting)")
        env[POSTGRES_OPTIONS[key]] = value
    return env


def resolve_url(url: str | None = None) -> str:
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def parse_url(url: str | None = None) -> StoreConfig:
    """Parse a store URL; an unknown scheme or an empty path is a StoreError naming the accepted forms."""
    url = resolve_url(url)
    if url in {"memory:", "memory://"}:
        return StoreConfig(url, "memory")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path:
            raise StoreError(f"{url!r} names no file; use sqlite:///etrack.sqlite or sqlite:////abs/path")
        return StoreConfig(url, "sqlite", path)
    if url.startswith(("postgresql://", "postgres://")):
        return StoreConfig(url, "postgresql", postgres=parse_postgres(url))
    raise StoreError(
        f"unsupported store URL {url!r}; use sqlite:///path (default {DEFAULT_URL}), memory: or postgresql://..."
    )


def vault_path(config: StoreConfig) -> str:
    """The key vault's own SQLite file, beside the event store: ``<store>-vault``.

    Keys never share a file with the ciphertext they open: a copy of the event store alone
    reveals no content. Back up both files together (or the sealed content is lost).
    """
    if config.path is None:
        raise StoreError(f"{config.url}: an SQLite store needs a file path")
    return os.environ.get("ETRACK_VAULT_PATH") or f"{config.path}-vault"


def absolute_hint(path: str) -> str:
    """What to say when ``sqlite:///tmp/x`` (a path relative to the working directory) was meant as
    ``/tmp/x``: an absolute path needs four slashes. Empty when that is not the likely mistake."""
    p = Path(path)
    if p.is_absolute() or p.exists() or p.parent.exists() or not Path("/", p).parent.is_dir():
        return ""
    return (f" (sqlite:///{path} is relative to the working directory; an absolute path needs four slashes: "
            f"sqlite:////{path})")


def check_sqlite_file(path: str) -> None:
    """Refuse a file that exists but is not an SQLite database, before anything writes to it
    (a file that does not exist is made only by an open that may create the store)."""
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"{path} is a directory, not an SQLite file")
    if p.exists() and p.stat().st_size > 0:
        with p.open("rb") as fh:
            header = fh.read(16)
        if header != b"SQLite format 3\x00":
            raise StoreError(f"{path} is not an SQLite database (corrupted, or another kind of file): "
                              "check --db, or restore the store from its backup")
    if p.parent and not p.parent.exists():
        raise StoreError(f"the directory of {path} does not exist{absolute_hint(path)}")
    if not p.exists():
        return  # made by the open that may create it, never here
    try:
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc


#: eventsourcing's JSON transcoder, encoding the same bytes through msgspec (``adapters/transcoder.py``).
TRANSCODER_ENV = {"TRANSCODER_TOPIC": "engagement_tracker.adapters.transcoder:FastJSONTranscoder"}


def event_store_env(config: StoreConfig) -> dict[str, str]:
    """The eventsourcing environment for a store config."""
    if config.kind == "memory":
        return {"PERSISTENCE_MODULE": "engagement_tracker.adapters.memory_store:GuardedPOPOFactory", **TRANSCODER_ENV}
    if config.kind == "sqlite":
        if config.path is None:
            raise StoreError(f"{config.url}: an SQLite store needs a file path")
        return {
            **TRANSCODER_ENV,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": config.path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if config.postgres is None:
        raise StoreError(f"{config.url}: a PostgreSQL store needs its connection settings")
    # eventsourcing's PostgreSQL factory, given libpq's target_session_attrs (adapters/postgres_factory.py)
    return {"PERSISTENCE_MODULE": "engagement_tracker.adapters.postgres_factory:MultiHostPostgresFactory",
            **TRANSCODER_ENV, **config.postgres}


def postgres_conninfo(config: StoreConfig) -> str:
    """A libpq connection string for the adapters' own tables (vault, schema)."""
    from psycopg.conninfo import make_conninfo

    pg = config.postgres or {}
    params = {"host": pg["POSTGRES_HOST"], "port": pg["POSTGRES_PORT"], "dbname": pg["POSTGRES_DBNAME"],
              "user": pg["POSTGRES_USER"], "password": pg.get("POSTGRES_PASSWORD"),
              "connect_timeout": pg.get("POSTGRES_CONNECT_TIMEOUT", "5"),
              "target_session_attrs": pg.get("POSTGRES_TARGET_SESSION_ATTRS")}
    return make_conninfo(**{k: v for k, v in params.items() if v})


def require_psycopg() -> None:
    """A postgresql:// store needs the postgres extra; without it, a StoreError saying how to get it."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise StoreError(
            "a postgresql:// store needs psycopg, which is not installed: "
            "pip install 'engagement-tracker[postgres]' (or use sqlite:///path or memory:)"
        ) from None


def ensure_postgres_schema(config: StoreConfig) -> None:
    """Create the URL's schema if needed; an unreachable server is a StoreError that says where."""
    require_psycopg()
    import psycopg
    try:
        with psycopg.connect(postgres_conninfo(config), autocommit=True, **config.connect_kwargs) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{config.schema}"')
    except psycopg.OperationalError as exc:
        pg = config.postgres or {}
        raise StoreError(
            f"cannot reach PostgreSQL at {pg.get('POSTGRES_HOST')}:{pg.get('POSTGRES_PORT')} "
            f"(database {pg.get('POSTGRES_DBNAME')}): {str(exc).strip().splitlines()[0]}"
        ) from None
