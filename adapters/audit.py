"""The audit trail's storage (SQLite and memory), its runner, and signed checkpoints.

Auditors (and admins) read the trail, verify it, sign checkpoints and export it; no one else.
Nothing here decrypts content: verification reads stored records as bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from engagement_tracker.adapters.projection import Decoded, TrackedProjection, view_for
from engagement_tracker.domain.access import require_auditor
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import InvalidInput, StoreError
from engagement_tracker.domain.values import Actor
from engagement_tracker.projections.audit_trail import (
    GENESIS,
    PAGE,
    TRAIL_NAME,
    AuditEntry,
    AuditTrailView,
    EntryRow,
    Fault,
    JoinedRow,
    Report,
    StoredRecord,
    T,
    build_rows,
    canonical_checkpoint,
    export_lines,
    verify,
    verify_scan,
)

SIGNING_KEY_ENV = "ETRACK_AUDIT_SIGNING_KEY"
PUBLIC_KEY_ENV = "ETRACK_AUDIT_PUBLIC_KEY"

_COLUMNS = ("position", "aggregate_id", "aggregate_type", "version", "topic", "event_type", "actor", "role",
            "recorded_at", "state_sha256", "prev_hash", "entry_hash")


def _stream(cursor: Any, size: int = 2_000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


class SQLiteAuditTrailView(SQLiteTrackingRecorder, AuditTrailView):
    """The trail in the event store's SQLite file: table ``audit_trail`` plus eventsourcing's tracking row."""

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            "CREATE TABLE IF NOT EXISTS audit_trail ("
            "position INTEGER PRIMARY KEY, aggregate_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, "
            "version INTEGER NOT NULL, topic TEXT NOT NULL, event_type TEXT NOT NULL, actor TEXT, role TEXT, "
            "recorded_at TEXT, state_sha256 TEXT NOT NULL, prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL)"
        )
        return statements

    def append(self, rows: Sequence[EntryRow], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT INTO audit_trail VALUES ({','.join('?' * len(_COLUMNS))})", rows)
            self._insert_tracking(c, tracking)

    def records(self, events_table: str) -> Iterator[tuple[Any, ...]] | None:
        if not events_table.isidentifier():
            raise StoreError(f"unexpected events table name {events_table!r}")
        with self.datastore.transaction(commit=False) as c:  # every row, rowid 0 and below included
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {events_table} "
                      "ORDER BY rowid")
            yield from _stream(c.sqlite_cursor)

    def scan(self, events_table: str, consume: Callable[[Iterable[JoinedRow], int], T]) -> T | None:
        if not events_table.isidentifier():
            raise StoreError(f"unexpected events table name {events_table!r}")
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT count(*) FROM audit_trail")
            count = int(c.fetchone()[0])
            c.execute(
                "SELECT s.rowid, s.originator_id, s.originator_version, s.topic, s.state, a.aggregate_id, a.version, "
                "a.topic, a.state_sha256, a.actor, a.role, a.recorded_at, a.prev_hash, a.entry_hash "
                f"FROM {events_table} s LEFT JOIN audit_trail a ON a.position = s.rowid ORDER BY s.rowid"
            )
            return consume(_stream(c.sqlite_cursor), count)

    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {','.join(_COLUMNS)} FROM audit_trail WHERE position >= ? ORDER BY position LIMIT ?",
                (start, -1 if limit is None else limit),
            )
            return [AuditEntry(*tuple(row)) for row in c.fetchall()]

    def head(self) -> AuditEntry | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {','.join(_COLUMNS)} FROM audit_trail ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return None if row is None else AuditEntry(*tuple(row))

    def clear(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM audit_trail")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (TRAIL_NAME,))


class MemoryAuditTrailView(POPOTrackingRecorder, AuditTrailView):
    """The trail in memory, for the ``memory:`` store."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[AuditEntry] = []

    def append(self, rows: Sequence[EntryRow], tracking: Tracking) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            last = self._entries[-1].position if self._entries else 0
            if rows and rows[0][0] <= last:
                raise IntegrityError(f"audit trail position {rows[0][0]} already recorded")
            self._entries.extend(AuditEntry(*row) for row in rows)
            self._insert_tracking(tracking)

    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        with self._database_lock:
            chosen = [e for e in self._entries if e.position >= start]
        return chosen if limit is None else chosen[:limit]

    def head(self) -> AuditEntry | None:
        with self._database_lock:
            return self._entries[-1] if self._entries else None

    def clear(self) -> None:
        with self._database_lock:
            self._entries.clear()
            self._max_tracking_ids.pop(TRAIL_NAME, None)


class AuditTrail(TrackedProjection):
    """Keeps the trail current (exactly once) and verifies the store against it."""

    name = TRAIL_NAME

    def __init__(self, app: EngagementTracker, view: AuditTrailView | None = None) -> None:
        self.app = app
        self.view = view if view is not None else view_for(
            app, SQLiteAuditTrailView, MemoryAuditTrailView, "PostgresAuditTrailView")

    def apply(self, page: Sequence[Decoded]) -> int:
        """Append entries for a page that follows the trail's position."""
        head = self.view.head()
        rows = build_rows(page, head.entry_hash if head else GENESIS, [d.stamp for d in page])
        self.view.append(rows, Tracking(TRAIL_NAME, page[-1].id))
        return len(rows)

    def stored_records(self) -> Iterator[StoredRecord]:
        """Every stored record, as stored: ids in their stored form, positions below 1 included."""
        rows = self.view.records(self.app.recorder.events_table_name)
        if rows is not None:
            yield from (StoredRecord.of_row(*r) for r in rows)
            return
        start: int | None = None  # the first page has no lower bound
        while True:
            page = self.app.recorder.select_notifications(start, PAGE)
            yield from (StoredRecord.of(n) for n in page)
            if len(page) < PAGE:
                return
            start = page[-1].id + 1

    def verify(self, checkpoint: dict[str, Any] | None = None, public_key: Ed25519PublicKey | None = None) -> Report:
        tracked = self.position()  # read first: a runner may append while we scan, never remove
        report = self.view.scan(self.app.recorder.events_table_name,
                                lambda rows, count: verify_scan(rows, count, checkpoint, tracked))
        if report is None:  # no in-database scan, or something differs: find and name every fault
            report = verify(self.stored_records(), self.view.entries(), checkpoint, tracked=tracked)
        if checkpoint is not None:
            problem = checkpoint_signature_problem(checkpoint, public_key)
            if problem:
                report.faults.append(Fault(int(checkpoint.get("position", 0) or 0), "bad_signature", problem))
        return report


# --- role-checked service ----------------------------------------------------------------------


class AuditService:
    """What auditors do: read, verify, checkpoint and export the trail, replay history."""

    def __init__(self, app: EngagementTracker) -> None:
        self.app = app
        self.trail = AuditTrail(app)

    def entries(self, viewer: Actor, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        require_auditor(viewer, "read the audit trail")
        self.trail.catch_up()
        return self.trail.view.entries(start, limit)

    def verify(
        self, viewer: Actor, checkpoint: dict[str, Any] | None = None, public_key: Ed25519PublicKey | None = None
    ) -> Report:
        require_auditor(viewer, "verify the audit trail")
        return self.trail.verify(checkpoint, public_key)

    def checkpoint(self, viewer: Actor, signing_key: Ed25519PrivateKey) -> dict[str, Any]:
        """Sign the trail's head after checking the store against the trail."""
        require_auditor(viewer, "sign a checkpoint")
        self.trail.catch_up()
        report = self.trail.verify()
        if not report.ok:
            first = report.first
            raise StoreError(f"refusing to sign a checkpoint over a damaged store: {first.kind if first else '?'} "
                             f"at position {first.position if first else '?'}")
        head = self.trail.view.head()
        position, head_hash = (head.position, head.entry_hash) if head else (0, GENESIS)
        created_at = self.app.clock().astimezone(UTC).isoformat()
        signature = signing_key.sign(canonical_checkpoint(position, head_hash, created_at))
        return {
            "position": position,
            "head_hash": head_hash,
            "created_at": created_at,
            "public_key": public_key_hex(signing_key.public_key()),
            "signature": signature.hex(),
        }

    def export(self, viewer: Actor, out: IO[str]) -> int:
        """Write the trail as JSON Lines; returns the number of entries."""
        n = 0
        for line in export_lines(self.entries(viewer)):
            out.write(line + "\n")
            n += 1
        return n


# --- keys and checkpoint signatures ------------------------------------------------------------


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def generate_signing_key(path: str | Path) -> Ed25519PublicKey:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``path``; returns its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    p = Path(path)
    if p.exists():
        raise InvalidInput("key", f"{p} exists already; refusing to overwrite a signing key")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key.public_key()


def load_signing_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """The signing key from a PEM file, else ETRACK_AUDIT_SIGNING_KEY (PEM text or 64 hex characters)."""
    raw: bytes
    if path is not None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput("key", f"cannot read the signing key {path}: {exc.strerror}") from None
    elif os.environ.get(SIGNING_KEY_ENV):
        raw = os.environ[SIGNING_KEY_ENV].encode()
    else:
        raise InvalidInput("key", f"no signing key: pass --key FILE or set {SIGNING_KEY_ENV}")
    try:
        text = raw.strip()
        if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.decode()))
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("key", f"not an Ed25519 private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("key", "not an Ed25519 private key")
    return key


def load_public_key(value: str | None = None) -> Ed25519PublicKey | None:
    """A trusted public key: 64 hex characters, or a file holding them (else ETRACK_AUDIT_PUBLIC_KEY)."""
    value = value or os.environ.get(PUBLIC_KEY_ENV)
    if not value:
        return None
    text = Path(value).read_text().strip() if Path(value).is_file() else value.strip()
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise InvalidInput("public_key", f"expected 64 hex characters (an Ed25519 public key): {exc}") from None


def checkpoint_signature_problem(checkpoint: dict[str, Any], trusted: Ed25519PublicKey | None) -> str | None:
    """Why the checkpoint's signature does not hold, or None when it does."""
    try:
        position, head, created = int(checkpoint["position"]), str(checkpoint["head_hash"]), str(checkpoint["created_at"])
        signature = bytes.fromhex(str(checkpoint["signature"]))
        embedded = Ed25519PublicKey.from_public_bytes(bytes.fromhex(str(checkpoint["public_key"])))
    except (KeyError, ValueError, TypeError) as exc:
        return f"malformed checkpoint: {exc}"
    if trusted is None:
        return ("no trusted public key was given: a checkpoint signs nothing unless its signer is known "
                f"(pass --public-key or set {PUBLIC_KEY_ENV})")
    if public_key_hex(trusted) != public_key_hex(embedded):
        return "the checkpoint was signed with another key than the trusted one"
    try:
        trusted.verify(signature, canonical_checkpoint(position, head, created))
    except InvalidSignature:
        return "the checkpoint's signature does not match its content"
    return None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput("checkpoint", f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or "head_hash" not in data or "position" not in data:
        raise InvalidInput("checkpoint", f"{path} is not an etrack checkpoint")
    return data
