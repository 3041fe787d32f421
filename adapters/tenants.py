"""Tenants: one client organisation per store, made, listed, opened and deleted here.

A tenant is a store of its own beside the main one (``--db``): on PostgreSQL a schema of its own in
the same database (``tenant_<name>``, or ``<schema>_<name>`` when ``--db`` names a schema), with
its tables, its key vault (in the schema) and its runners' positions; on SQLite a file of its own
beside the main file (``etrack-<name>.sqlite``, its vault ``etrack-<name>.sqlite-vault``). Nothing
crosses tenants: grants, releases, budgets, the audit log and its checkpoints are each tenant's
own, because each is its own store.

Each tenant has its own keys, kept outside the database in a directory of its own
(``ETRACK_TENANT_KEYS``, else ``./etrack-tenant-keys`` for PostgreSQL and ``<file>-tenant-keys``
beside an SQLite file; mode 0700, each file 0600): the record key that seals its events, the
cipher key that encrypts them at rest, and the Ed25519 key that signs its checkpoints. Every
process that opens the tenant needs that directory (as it needs ``ETRACK_RECORD_KEY`` for the
main store).

The list of tenants: on PostgreSQL the table ``etrack_tenants`` in the main schema; on SQLite the
tenants whose file and keys are both present. Opening a tenant that is not listed is an
:class:`UnknownTenant` naming the known ones; a tenant is made only by :func:`create_tenant`
(``etrack tenant create``), never by an open. :func:`resolve` is the one function that turns a
tenant's name into its store (the URL and the keys); the CLI's ``--tenant`` and :func:`open_tenant`
(Python) call it, and so can a server binding each token to one tenant.

:func:`delete_tenant` drops the tenant's schema (or files) and then destroys its keys
(crypto-erasure: whatever a backup kept of its events stays sealed and encrypted under keys that
no longer exist). The admin's grant it relies on is checked in the transaction that drops it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from engagement_tracker.adapters.storage import StoreConfig, parse_url, postgres_conninfo, require_psycopg
from engagement_tracker.domain.errors import InvalidInput, StoreError, UnknownTenant
from engagement_tracker.domain.values import Actor

if TYPE_CHECKING:
    from engagement_tracker.domain.application import EngagementTracker

TENANT_ENV = "ETRACK_TENANT"
KEYS_ENV = "ETRACK_TENANT_KEYS"
REGISTRY_TABLE = "etrack_tenants"
RECORD_KEY_FILE, CIPHER_KEY_FILE, SIGNING_KEY_FILE = "record-key", "cipher-key", "signing-key.pem"
NAME_MAX = 24
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def tenant_name(org: str) -> str:
    """The tenant's name derived from ``org``: lowercase ASCII letters, digits and ``_`` (accents
    dropped, other runs of characters made one ``_``), starting with a letter, at most 24 long."""
    if not isinstance(org, str):
        raise InvalidInput("tenant", f"expected the organisation's name as text, got {type(org).__name__}")
    ascii_ = unicodedata.normalize("NFKD", org).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")
    if not name or not name[0].isalpha():
        shown = org if len(org) <= 40 else f"{org[:40]}..."
        raise InvalidInput("tenant", f"{shown!r} gives no tenant name: use letters and digits, starting with a "
                                     "letter (e.g. 'Acme Corp' is the tenant acme_corp)")
    if len(name) > NAME_MAX:
        raise InvalidInput("tenant", f"{name!r} is {len(name)} characters; a tenant's name has at most {NAME_MAX}")
    return name


@attrs.frozen
class Tenant:
    """One tenant's store: its name, its own store URL and where its keys are."""

    name: str
    url: str
    keys: Path

    @property
    def signing_key(self) -> Path:
        """The Ed25519 key that signs this tenant's checkpoints (PEM)."""
        return self.keys / SIGNING_KEY_FILE

    def env(self) -> dict[str, str]:
        """The tenant's record key and cipher key, as the settings ``open_tracker`` reads
        (``ETRACK_RECORD_KEY``, ``ETRACK_CIPHER_KEY``): they take the place of the main store's."""
        values = {}
        for name, setting in ((RECORD_KEY_FILE, "ETRACK_RECORD_KEY"), (CIPHER_KEY_FILE, "ETRACK_CIPHER_KEY")):
            path = self.keys / name
            try:
                values[setting] = path.read_text().strip()
            except OSError as exc:
                raise StoreError(f"the key {path} of the tenant {self.name} cannot be read ({exc.strerror}): "
                                 f"restore the tenant's keys from their backup (or set {KEYS_ENV})") from None
        return values


def open_tenant(url: str | None, org: str, **kwargs: Any) -> EngagementTracker:
    """Open tenant ``org``'s store under the main store at ``url``, with the tenant's own keys (``kwargs``:
    those of ``open_tracker``: ``clock``, ``ids``, ``adopt``...). Never creates a tenant: an unknown one is
    an UnknownTenant naming the known ones."""
    from engagement_tracker.adapters.bootstrap import open_tracker

    tenant = resolve(url, org)
    env = {**(kwargs.pop("env", None) or {}), **tenant.env()}  # the tenant's keys, never the main store's
    kwargs["create"] = False
    return open_tracker(tenant.url, env=env, **kwargs)


# --- where: the base store, the tenant's store, its keys -------------------------------------------


def _base(url: str | None) -> StoreConfig:
    config = parse_url(url)
    if config.kind == "memory":
        raise StoreError("tenants need a durable store: --db sqlite:///path or postgresql://... (not memory:)")
    return config


def _prefix(config: StoreConfig) -> str:
    return "tenant" if config.schema == "public" else config.schema


def tenant_schema(config: StoreConfig, name: str) -> str:
    """The PostgreSQL schema of tenant ``name`` under the main store ``config``."""
    schema = f"{_prefix(config)}_{name}"
    if not _SCHEMA.fullmatch(schema):
        raise InvalidInput("tenant", f"the schema {schema!r} would be too long: a shorter name, or a shorter --db schema")
    return schema


def tenant_url(config: StoreConfig, name: str) -> str:
    """The store URL of tenant ``name``: the main URL with the tenant's schema, or the tenant's file."""
    if config.kind == "sqlite":
        path = Path(config.path or "")
        return f"sqlite:///{path.with_name(f'{path.stem}-{name}{path.suffix}')}"
    parts = urlsplit(config.url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    query.append(("schema", tenant_schema(config, name)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def keys_root(config: StoreConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Where the tenants' keys are: ETRACK_TENANT_KEYS, else beside the SQLite file, else ./etrack-tenant-keys."""
    named = (os.environ if environ is None else environ).get(KEYS_ENV)
    if named:
        return Path(named)
    if config.kind == "sqlite":
        return Path(f"{config.path}-tenant-keys")
    return Path("etrack-tenant-keys")


def _tenant(config: StoreConfig, name: str, environ: Mapping[str, str] | None = None) -> Tenant:
    return Tenant(name, tenant_url(config, name), keys_root(config, environ) / name)


# --- the list of tenants ---------------------------------------------------------------------------


def _connect(config: StoreConfig):  # type: ignore[no-untyped-def]
    require_psycopg()
    import psycopg

    try:
        return psycopg.connect(postgres_conninfo(config), autocommit=True, **config.connect_kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot reach PostgreSQL at {config.server}: {first}") from None


def known_tenants(url: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The tenants of the main store at ``url``, by name (a read: creates nothing)."""
    config = _base(url)
    if config.kind == "sqlite":
        root = keys_root(config, environ)
        if not root.is_dir():
            return []
        return sorted(d.name for d in root.iterdir() if d.is_dir() and (d / RECORD_KEY_FILE).exists()
                      and Path(parse_url(tenant_url(config, d.name)).path or "").exists())
    with _connect(config) as conn:
        table = f'"{config.schema}".{REGISTRY_TABLE}'
        if conn.execute("SELECT to_regclass(%s) IS NULL", (table,)).fetchone()[0]:
            return []
        return [str(r[0]) for r in conn.execute(f"SELECT name FROM {table} ORDER BY name")]


def tenant_generations(url: str | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each tenant of the main store at ``url`` and its generation (``tenant_generation``). A read: creates nothing."""
    config = _base(url)
    return {name: tenant_generation(config.url, name, environ) for name in known_tenants(config.url, environ)}


def tenant_generation(url: str | None, name: str, environ: Mapping[str, str] | None = None) -> str:
    """Tenant ``name``'s generation: a fingerprint of its record key (the first 8 bytes of BLAKE2b of the key
    file, hex; ``""`` when it cannot be read). A tenant deleted and made again under the same name has new
    keys (made before its new store), so a new generation: a server holding the old store open
    (``adapters/http/tenancy.py``) closes it and opens the new one. A read of one small local file."""
    import hashlib

    try:
        key = (_tenant(_base(url), name, environ).keys / RECORD_KEY_FILE).read_bytes()
    except OSError:
        return ""
    return hashlib.blake2b(key, digest_size=8).hexdigest()


def resolve(url: str | None, org: str, environ: Mapping[str, str] | None = None) -> Tenant:
    """The store of tenant ``org`` under the main store at ``url`` (else ETRACK_DATABASE_URL): its URL and
    its keys. A tenant that was never made (or was deleted) is an UnknownTenant naming the known ones."""
    name = tenant_name(org)
    config = _base(url)
    known = known_tenants(config.url, environ)
    if name not in known:
        raise UnknownTenant(name, known, where=_where(config))
    tenant = _tenant(config, name, environ)
    if not (tenant.keys / RECORD_KEY_FILE).exists():
        raise StoreError(f"the keys of the tenant {name} are missing from {tenant.keys}: restore them from their "
                         f"backup, or set {KEYS_ENV} to where they are")
    return tenant


def shown(url: str) -> str:
    """A store URL as printed: without its password."""
    parts = urlsplit(url)
    if parts.password is None and ":" not in parts.netloc.rpartition("@")[0]:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}"))


def _where(config: StoreConfig) -> str:
    if config.kind == "sqlite":
        return str(config.path)
    return f"{config.server}/{(config.postgres or {}).get('POSTGRES_DBNAME')}"


# --- create -------------------------------------------------------------------------------------


def _write_secret(path: Path, text: str | bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)
        fh.flush()
        os.fsync(fh.fileno())


def _make_keys(keys: Path) -> None:
    from eventsourcing.cryptography import AESCipher

    from engagement_tracker.adapters.audit import generate_signing_key

    keys.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        keys.mkdir(mode=0o700)
    except FileExistsError:
        raise StoreError(f"{keys} exists already: keys of a tenant of another store? Move it away, or set "
                         f"{KEYS_ENV} to another directory; nothing was created") from None
    _write_secret(keys / RECORD_KEY_FILE, secrets.token_hex(32) + "\n")
    _write_secret(keys / CIPHER_KEY_FILE, AESCipher.create_key(32) + "\n")
    generate_signing_key(keys / SIGNING_KEY_FILE)


def create_tenant(url: str | None, org: str, environ: Mapping[str, str] | None = None) -> Tenant:
    """Make tenant ``org`` under the main store at ``url``: its line in the list (PostgreSQL: of two creates at
    once, the second stops there), its keys, then its store (schema or file). A tenant that exists is
    refused; a failure part-way removes what it made."""
    from engagement_tracker.adapters.bootstrap import open_tracker

    name = tenant_name(org)
    config = _base(url)
    known = known_tenants(config.url, environ)
    if name in known:
        raise StoreError(f"the tenant {name} exists already in {_where(config)}; nothing was created")
    tenant = _tenant(config, name, environ)
    if config.kind == "sqlite" and Path(parse_url(tenant.url).path or "").exists():
        raise StoreError(f"{parse_url(tenant.url).path} exists already (not a tenant of {config.path}): move it "
                         "away; nothing was created")
    if config.kind == "postgresql":
        with _connect(config) as conn:
            if conn.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
                            (tenant_schema(config, name),)).fetchone()[0]:
                raise StoreError(f"the schema {tenant_schema(config, name)} exists already in {_where(config)} "
                                 "(not a tenant): nothing was created")
        _register(config, name)  # first: of two creates at once, the second stops here, having made nothing
    try:
        _make_keys(tenant.keys)
    except BaseException:
        _unregister(config, name)
        raise
    try:
        open_tracker(tenant.url, env=tenant.env(), create=True).close()
    except BaseException:
        _drop_store(config, tenant)
        _destroy_keys(tenant.keys)
        _unregister(config, name)
        raise
    return tenant


def _register(config: StoreConfig, name: str) -> None:
    import psycopg

    with _connect(config) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{config.schema}"')
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{config.schema}".{REGISTRY_TABLE} (name text PRIMARY KEY, '
                     "schema_name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now())")
        try:
            conn.execute(f'INSERT INTO "{config.schema}".{REGISTRY_TABLE} (name, schema_name) VALUES (%s, %s)',
                         (name, tenant_schema(config, name)))
        except psycopg.errors.UniqueViolation:
            raise StoreError(f"the tenant {name} exists already in {_where(config)}; nothing was created") from None


def _unregister(config: StoreConfig, name: str) -> None:
    if config.kind != "postgresql":
        return
    with contextlib.suppress(Exception), _connect(config) as conn:
        conn.execute(f'DELETE FROM "{config.schema}".{REGISTRY_TABLE} WHERE name = %s', (name,))


# --- delete -------------------------------------------------------------------------------------


def delete_tenant(url: str | None, org: str, actor: Actor, environ: Mapping[str, str] | None = None) -> str:
    """Drop tenant ``org``'s store and destroy its keys; ``actor`` must hold the tenant's admin grant, checked
    again in the transaction that drops it (a revocation that commits first wins: NotPermitted, nothing
    dropped). Every other tenant is untouched. Returns the tenant's name."""
    from engagement_tracker.adapters.bootstrap import open_tracker
    from engagement_tracker.domain.access import grant_guard, recheck_moved, relying_on_grants, require_grant
    from engagement_tracker.domain.vocabulary import Role

    tenant = resolve(url, org, environ)
    config = _base(url)
    if not isinstance(actor, Actor) or actor.role is not Role.ADMIN:
        raise InvalidInput("actor", "deleting a tenant takes its admin: --as admin:ID")
    app = open_tracker(tenant.url, env=tenant.env(), create=False, adopt=False)
    try:
        with relying_on_grants():
            action = f"delete the tenant {tenant.name}"
            for _attempt in range(5):
                require_grant(actor, Role.ADMIN, app.held_grants, action)
                guard = grant_guard()
                if _drop_checked(config, tenant, None if guard is None else guard.version):
                    break
                recheck_moved(app.held_grants)  # the register moved: NotPermitted if the grant is gone
            else:
                raise StoreError(f"the access register of {tenant.name} kept changing; nothing was dropped, try again")
    finally:
        app.close()
    _destroy_keys(tenant.keys)
    return tenant.name


def _drop_checked(config: StoreConfig, tenant: Tenant, version: int | None) -> bool:
    """Drop the tenant's store if its access register is still at ``version`` (read in the dropping
    transaction, under the lock every change to the register takes); False when it moved."""
    from engagement_tracker.adapters.grant_guards import REGISTER_LOCK, postgres_register_version, sqlite_register_version

    if config.kind == "sqlite":
        import sqlite3

        path = parse_url(tenant.url).path or ""
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # no writer commits until the files are gone
            if (sqlite_register_version(conn.cursor(), "stored_events") or 0) != version:
                conn.execute("ROLLBACK")
                return False
            _remove_files(path)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return True
    schema = tenant_schema(config, tenant.name)
    with _connect(config) as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (REGISTER_LOCK,))
        if (postgres_register_version(curs, schema, "etrack_events") or 0) != version:
            return False
        curs.execute(f'DROP SCHEMA "{schema}" CASCADE')
        curs.execute(f'DELETE FROM "{config.schema}".{REGISTRY_TABLE} WHERE name = %s', (tenant.name,))
    return True


def _remove_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", "-vault", "-vault-wal", "-vault-shm", "-record-key"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _drop_store(config: StoreConfig, tenant: Tenant) -> None:
    """Remove what a failed create made (best effort: the create's own error is what is reported)."""
    with contextlib.suppress(Exception):
        if config.kind == "sqlite":
            _remove_files(parse_url(tenant.url).path or "")
        else:
            with _connect(config) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{tenant_schema(config, tenant.name)}" CASCADE')


def _destroy_keys(keys: Path) -> None:
    """Overwrite each key file with zeros, flush it to disk, and unlink it; then the directory."""
    if not keys.is_dir():
        return
    for path in keys.iterdir():
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            with path.open("r+b") as fh:
                fh.write(b"\0" * size)
                fh.flush()
                os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with contextlib.suppress(OSError):
        keys.rmdir()

