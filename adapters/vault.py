"""Key vaults: one AES-256-GCM key per subject (a person or a team), kept apart from events.

Sealing encrypts text under the subject's key (the subject id as associated data, so a
ciphertext moved to another subject fails) and adds a keyed digest (HMAC-SHA256 under a key
derived from the subject key): auditors can compare digests without reading content, and a
digest of a short name cannot be brute-forced from a dictionary. Erasing a subject destroys its
key: every sealed value and digest of that subject becomes meaningless, history still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from engagement_tracker.adapters.store_files import SQLITE_VAULT_STAMP_DDL, VAULT_STAMP_TABLE
from engagement_tracker.domain.errors import SealingError, StoreError, SubjectErased
from engagement_tracker.domain.sealing import key_for
from engagement_tracker.domain.values import Sealed

NONCE_BYTES = 12
KEY_BYTES = 32


def _digest_key(key: bytes) -> bytes:
    return hmac.new(key, b"etrack/digest/v1", hashlib.sha256).digest()


# ``cryptography`` is imported by the first seal or unseal, not by opening a vault: a read that
# unseals nothing (``etrack engagements``) never loads it (issue #28, tests/integration/test_startup.py).


def seal_with(key: bytes, subject: str, plaintext: str) -> Sealed:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = plaintext.encode("utf-8")
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = nonce + AESGCM(key).encrypt(nonce, data, subject.encode("utf-8"))
    digest = hmac.new(_digest_key(key), data, hashlib.sha256).hexdigest()
    return Sealed(subject, ciphertext, digest)


def unseal_with(key: bytes, sealed: Sealed) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
    try:
        data = AESGCM(key).decrypt(nonce, body, sealed.subject.encode("utf-8"))
    except InvalidTag:
        raise SealingError(
            f"sealed content of subject {sealed.subject} does not decrypt: tampered, or not sealed by this vault"
        ) from None
    return data.decode("utf-8")


class _KeyedVault:
    """Seal/unseal on top of get-key and mark-erased primitives."""

    def _key(self, subject: str) -> bytes | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_erased(self, subject: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _require_key(self, subject: str) -> bytes:
        return key_for(subject, self._look_up)

    def _look_up(self, subject: str) -> bytes:
        key = self._key(subject)
        if key is None:
            if self.is_erased(subject):
                raise SubjectErased(subject)
            raise SealingError(f"no key for subject {subject}: register the party first")
        return key

    def seal(self, subject: str, plaintext: str) -> Sealed:
        return seal_with(self._require_key(subject), subject, plaintext)

    def unseal(self, sealed: Sealed) -> str:
        return unseal_with(self._require_key(sealed.subject), sealed)

    def matches(self, sealed: Sealed, claimed_plaintext: str) -> bool:
        """Does ``claimed_plaintext`` have the digest recorded in ``sealed``? (no decryption)"""
        key = self._require_key(sealed.subject)
        digest = hmac.new(_digest_key(key), claimed_plaintext.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(digest, sealed.digest)


class MemoryVault(_KeyedVault):
    """Keys in a dict: for unit and property tests and the ``memory:`` store."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes | None] = {}
        self._lock = threading.Lock()

    def create_subject(self, subject: str) -> None:
        with self._lock:
            if subject not in self._keys:
                self._keys[subject] = os.urandom(KEY_BYTES)

    def _key(self, subject: str) -> bytes | None:
        return self._keys.get(subject)

    def is_erased(self, subject: str) -> bool:
        return subject in self._keys and self._keys[subject] is None

    def erase_subject(self, subject: str) -> bool:
        with self._lock:
            if self._keys.get(subject) is None:
                return False
            self._keys[subject] = None
            return True


class SQLiteVault(_KeyedVault):
    """Keys in the ``etrack_vault`` table of the vault's own SQLite file (never the event store).

    Erasure must leave no copy of a destroyed key in any file. So the vault runs without a
    write-ahead log (a WAL keeps old pages long after a checkpoint) in rollback-journal mode,
    whose journal is deleted at each commit; ``secure_delete`` zeroes the freed cell; and after
    an erasure the file is read back, vacuumed if the key's bytes are still found, and checked
    again: a key that cannot be proven gone is an error, not a silent success.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.execute("PRAGMA journal_mode=DELETE")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS etrack_vault ("
                " subject TEXT PRIMARY KEY,"
                " key BLOB,"
                " created_at TEXT NOT NULL,"
                " erased_at TEXT)"
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the key vault in {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def stamp(self, store_id: str) -> None:
        """Mark this vault as the store's (once): a vault carries the id of the store that made it."""
        try:
            with self._lock:
                self._conn.execute(SQLITE_VAULT_STAMP_DDL)
                self._conn.execute(f"INSERT OR IGNORE INTO {VAULT_STAMP_TABLE} (one, store_id) VALUES (1, ?)",
                                   (store_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"the key vault could not write in {self.path}: {exc}") from None

    def create_subject(self, subject: str) -> None:
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR IGNORE INTO etrack_vault (subject, key, created_at) VALUES (?, ?, ?)",
                    (subject, os.urandom(KEY_BYTES), datetime.now(UTC).isoformat()),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"the key vault could not write in {self.path}: {exc}; nothing was recorded") from None

    def _row(self, subject: str) -> tuple[bytes | None, str | None] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT key, erased_at FROM etrack_vault WHERE subject = ?", (subject,)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def _key(self, subject: str) -> bytes | None:
        row = self._row(subject)
        return None if row is None else row[0]

    def is_erased(self, subject: str) -> bool:
        row = self._row(subject)
        return row is not None and row[1] is not None

    def erase_subject(self, subject: str) -> bool:
        try:
            return self._erase(subject)
        except sqlite3.Error as exc:
            raise SealingError(f"erasing {subject} failed in {self.path}: {exc}; nothing was reported erased") from None

    def _erase(self, subject: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT key FROM etrack_vault WHERE subject = ?", (subject,)).fetchone()
            if row is None:
                raise SealingError(f"no key for subject {subject}: nothing to erase")
            key = row[0]
            if key is None:
                return False
            self._conn.execute(
                "UPDATE etrack_vault SET key = NULL, erased_at = ? WHERE subject = ?",
                (datetime.now(UTC).isoformat(), subject),
            )
            if self._key_bytes_remain(key):
                self._conn.execute("VACUUM")
            if self._key_bytes_remain(key):
                raise SealingError(
                    f"the key of {subject} was cleared but its bytes are still in {self.path}: "
                    "close other connections to the vault and erase again"
                )
        return True

    def _key_bytes_remain(self, key: bytes) -> bool:
        for suffix in ("", "-journal", "-wal"):
            path = Path(self.path + suffix)
            if path.exists() and key in path.read_bytes():
                return True
        return False


class _Broken(Exception):
    """Raised when a vault statement failed because its connection is gone (the driver's error is its cause)."""


class PostgresVault(_KeyedVault):
    """Keys in ``<schema>.etrack_vault`` of the PostgreSQL database (never the events table).

    Erasure clears the key and runs ``VACUUM FULL`` on the vault table, which rewrites it into
    new files so the old tuple's bytes are gone from the table's files. PostgreSQL's own
    write-ahead log and backups are the operator's to rotate (see the README).
    """

    def __init__(self, conninfo: str, schema: str = "public", pool_size: int = 2, timeout: float = 10.0,
                 read_only: bool = False, connect_kwargs: dict[str, Any] | None = None, pre_ping: bool = False) -> None:
        from psycopg_pool import ConnectionPool

        self.schema = schema
        self._table = f'"{schema}".etrack_vault'
        #: A read replica's vault (``open_tracker(..., replica=True)``): it opens keys and makes none.
        self.read_only = read_only
        #: Check each pooled connection before each statement (the URL's ``pre_ping=y``, as the event
        #: store's pool). Off by default: a command asks the vault three times, and three empty round
        #: trips were about 8% of it; a cut connection is found by the statement that fails on it instead.
        self.pre_ping = pre_ping
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=max(1, pool_size), timeout=timeout,
                                    kwargs={"autocommit": True, **(connect_kwargs or {})},
                                    check=ConnectionPool.check_connection if pre_ping else None, open=True)
        if not read_only:  # not on a read replica (a standby refuses DDL; the primary made the table)
            self._run(
                f"CREATE TABLE IF NOT EXISTS {self._table} (subject TEXT PRIMARY KEY, key BYTEA, "
                "created_at TIMESTAMPTZ NOT NULL DEFAULT now(), erased_at TIMESTAMPTZ)"
            )

    def _run(self, sql: str, params: tuple[object, ...] = (), fetch: bool = False) -> list[tuple[object, ...]]:
        import psycopg

        if self.read_only and not sql.lstrip().upper().startswith("SELECT"):
            raise StoreError("this key vault is read from a replica (ETRACK_READ_URL, open_tracker(..., replica=True)) "
                             "and makes or erases no key: write through the primary's URL; nothing was recorded")
        try:
            try:
                return self._once(sql, params, fetch)
            except _Broken:
                # The server cut this connection (a restart, a failover, an idle timeout): the pool drops
                # it when it comes back; its idle siblings were likely cut too, so check them now (once
                # per failure, not before every statement), then run the statement on a fresh connection.
                # Safe: every vault statement is idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING,
                # SELECT, clearing a key, VACUUM), each in its own transaction (autocommit).
                self._pool.check()
                return self._once(sql, params, fetch)
        except (_Broken, psycopg.OperationalError) as exc:
            cause = exc.__cause__ if isinstance(exc, _Broken) else exc
            raise StoreError(f"the key vault is unreachable: {str(cause).strip().splitlines()[0]}") from None

    def _once(self, sql: str, params: tuple[object, ...], fetch: bool) -> list[tuple[object, ...]]:
        import psycopg

        with self._pool.connection() as conn:
            try:
                cur = conn.execute(sql, params)
                return list(cur.fetchall()) if fetch else []
            except psycopg.OperationalError as exc:
                if conn.broken:
                    raise _Broken() from exc
                raise

    def close(self) -> None:
        self._pool.close()

    def stamp(self, store_id: str) -> None:
        """Mark this vault table as the store's (once)."""
        table = f'"{self.schema}".{VAULT_STAMP_TABLE}'
        self._run(f"CREATE TABLE IF NOT EXISTS {table} (one integer PRIMARY KEY CHECK (one = 1), store_id text NOT NULL)")
        self._run(f"INSERT INTO {table} (one, store_id) VALUES (1, %s) ON CONFLICT (one) DO NOTHING", (store_id,))

    def create_subject(self, subject: str) -> None:
        self._run(f"INSERT INTO {self._table} (subject, key) VALUES (%s, %s) ON CONFLICT (subject) DO NOTHING",
                  (subject, os.urandom(KEY_BYTES)))

    def _row(self, subject: str) -> tuple[bytes | None, object] | None:
        rows = self._run(f"SELECT key, erased_at FROM {self._table} WHERE subject = %s", (subject,), fetch=True)
        if not rows:
            return None
        key, erased_at = rows[0]
        return (bytes(cast(bytes, key)) if key is not None else None, erased_at)

    def _key(self, subject: str) -> bytes | None:
        row = self._row(subject)
        return None if row is None else row[0]

    def is_erased(self, subject: str) -> bool:
        row = self._row(subject)
        return row is not None and row[1] is not None

    def erase_subject(self, subject: str) -> bool:
        row = self._row(subject)
        if row is None:
            raise SealingError(f"no key for subject {subject}: nothing to erase")
        if row[0] is None:
            return False
        self._run(f"UPDATE {self._table} SET key = NULL, erased_at = now() WHERE subject = %s", (subject,))
        self._run(f"VACUUM FULL {self._table}")
        return True
