"""The confidential audit trail as a read model: its view, its projection, and what auditors do with it.

The chain and its verification are pure functions in ``audit_chain``. Here the trail is kept
current exactly once (entries and position in one transaction, in the view it is handed), checked
against the store, signed into checkpoints and exported. Auditors (and admins) do that; no one
else (``domain.access.require_auditor``). Nothing here decrypts content: verification reads
stored records as bytes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import Tracking

from engagement_tracker.domain.application.audit import AuditService, Publication, require_origin
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.projections.audit_chain import (
    GENESIS,
    AuditEntry,
    EntryRow,
    Fault,
    JoinedPages,
    Report,
    StoredRecord,
    build_rows,
    canonical_checkpoint,
    export_lines,
    finish,
    verify,
    verify_scan,
)
from engagement_tracker.projections.audit_log import (
    ed25519_public_key,
    entry_leaf_hash,
    note_signed_by,
    row_leaf_hashes,
)
from engagement_tracker.projections.audit_proofs import (
    bundle,
    check_against,
    check_note,
    consistency,
    leaves,
    note_fields,
    signed_checkpoint,
)
from engagement_tracker.projections.audit_tree import Key, Node, StoredTree, frontier_keys, grow
from engagement_tracker.projections.record_seals import SealCheck
from engagement_tracker.projections.release_ledger import LedgerRow, LoggedRelease, check_dp_leaves, check_ledger
from engagement_tracker.projections.seal_macs import Seals
from engagement_tracker.projections.tlog_tiles import Tile, new_tiles, tile_contents
from engagement_tracker.projections.tracking import Record, StoredEvents, TrackedProjection, View
from engagement_tracker.projections.witness import cosigned_by
from engagement_tracker.projections.witness_policy import Policy

if TYPE_CHECKING:  # cryptography is imported where a key is used, not by a read that uses none (issue #28)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TRAIL_NAME = "audit_trail"
PUBLIC_KEY_ENV = "ETRACK_AUDIT_PUBLIC_KEY"  # named in the refusal of an unsigned-for checkpoint
T = TypeVar("T")

#: ``verify --jobs``: at most this many processes.
MAX_VERIFY_JOBS = 64


class AuditTrailView(View):
    """Where the trail is kept: entries and the tracked position, written in one transaction."""

    @abstractmethod
    def append(self, rows: Sequence[EntryRow], tracking: Tracking, nodes: Iterable[Node] = ()) -> None:
        """Insert entries (as rows), the Merkle tree's nodes they complete (``audit_tree.grow``) and
        ``tracking``, atomically (a duplicate position fails)."""

    @abstractmethod
    def add_nodes(self, nodes: Iterable[Node]) -> None:
        """Insert tree nodes in one transaction, keeping those already there (the tree of a trail
        written before the tree was stored)."""

    @abstractmethod
    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """The stored tree nodes among ``keys`` (level, idx)."""

    @abstractmethod
    def leaf_count(self) -> int:
        """How many leaves the stored tree has."""

    @abstractmethod
    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        """Entries from position ``start`` on, in order."""

    @abstractmethod
    def head(self) -> AuditEntry | None:
        """The last entry."""


class ReleaseSource(Protocol):
    """The releases logged in the store, and the release ledger (``adapters/release_leaves.ReleaseLeaves``)."""

    def logged(self) -> Iterator[LoggedRelease]:
        """Every ``ReleaseLog.Released`` in store order, with its position."""
        ...

    def stored_states(self, analyst: UUID) -> dict[int, bytes]:
        """An analyst's release log as stored: version -> state bytes."""
        ...

    def ledger(self) -> Mapping[int, LedgerRow]:
        """Every row of the release ledger, by id."""
        ...

    def dp_answers(self, keys: Iterable[str]) -> Mapping[str, str | None]:
        """The recorded DP answers (JSON documents) under ``keys``: None for a key with none."""
        ...

    def paid(self) -> Mapping[str, set[str]]:
        """Per analyst (party id), the query digests their budget's spends name."""
        ...


class StoredRecords(StoredEvents, Protocol):
    """The store as the trail's verification reads it: every row as stored, none skipped."""

    def records(self) -> Iterator[StoredRecord]:
        """Every stored record in position order, positions below 1 included."""
        ...

    def scan(self, consume: Callable[[JoinedPages, int, Seals | None], T]) -> T | None:
        """``consume(joined, trail_count, seals)`` over the store's rows in position order, a page at a time,
        each joined with the trail entry and the seal at its position, inside one consistent read
        (``seals`` is None when the store keeps none or no record key is at hand); ``None`` when the
        backend cannot join in the database (then verification compares :meth:`records` with the entries)."""
        ...

    def seal_check(self) -> SealCheck | None:
        """Every stored record against the seal written with it; None when the store keeps no seals."""
        ...


#: Entries read at a time by an export.
EXPORT_PAGE = 2_000


_R = TypeVar("_R")


def counted(rows: Iterable[_R], on_progress: Callable[[int], None] | None, every: int = 2_000) -> Iterator[_R]:
    """``rows`` as they are, telling ``on_progress`` of every ``every`` rows read (and of the rest)."""
    if on_progress is None:
        yield from rows
        return
    n = 0
    for row in rows:
        yield row
        n += 1
        if n == every:
            on_progress(n)
            n = 0
    if n:
        on_progress(n)


class AuditTrail(TrackedProjection[AuditTrailView]):
    """Keeps the trail current (exactly once) and verifies the store against it."""

    name = TRAIL_NAME
    events: StoredRecords
    #: The releases logged in the store and the release ledger (``adapters/release_leaves.ReleaseLeaves``,
    #: handed in by bootstrap): verify compares them. None: no release is listed or checked.
    release_log: ReleaseSource | None = None

    def __init__(self, view: AuditTrailView, events: StoredRecords) -> None:
        super().__init__(view, events)

    def apply(self, page: Sequence[Record]) -> int:
        """Append entries for a page that follows the trail's position, with the tree nodes they complete."""
        head = self.view.head()
        rows = build_rows(page, head.entry_hash if head else GENESIS, [r.stamp for r in page])
        size = self.tree_size()
        frontier = self.view.nodes(frontier_keys(size))
        nodes = list(grow(frontier, size, row_leaf_hashes(rows)))
        self.view.append(rows, Tracking(TRAIL_NAME, page[-1].id), nodes)
        return len(rows)

    def tree_size(self) -> int:
        """The stored tree's leaves, after storing the tree of a trail written before trees were stored
        (in one transaction: a reader sees no tree or all of it)."""
        size = self.view.leaf_count()
        if size == 0 and self.view.head() is not None:
            self.view.add_nodes(grow({}, 0, (h for _, h in leaves(self.view))))
            size = self.view.leaf_count()
        return size

    def stored_tree(self) -> StoredTree:
        self.tree_size()
        return StoredTree(self.view)

    def releases(self) -> Iterator[LoggedRelease]:
        """Every release logged in the store (``ReleaseLog.Released``), in store order, with its position."""
        return self.release_log.logged() if self.release_log is not None else iter(())

    def release_states(self, analyst: UUID) -> dict[int, bytes]:
        """An analyst's release log as stored: version -> the state bytes its leaves cover."""
        return self.release_log.stored_states(analyst) if self.release_log is not None else {}

    def stored_records(self) -> Iterator[StoredRecord]:
        """Every stored record, as stored: positions below 1 included."""
        return self.events.records()

    def _verify_in_ranges(self, jobs: int, checkpoint: dict[str, Any] | None, tracked: int) -> Report | None:
        return _ranges_report(self.events, jobs, checkpoint, tracked)

    def verify(self, checkpoint: dict[str, Any] | None = None, public_key: Ed25519PublicKey | None = None,
               witnesses: Sequence[tuple[str, Ed25519PublicKey]] = (),
               against: Iterable[dict[str, Any]] | None = None,
               on_progress: Callable[[int], None] | None = None, jobs: int = 1, policy: Policy | None = None) -> Report:
        """The store against the trail; against a checkpoint's signed chain head (0.1.0 and later) and
        its signed Merkle root (a note: the current tree must extend it) when it has them; and the
        note must carry a valid cosignature of every witness in ``witnesses`` (name, key); ``against``, an
        export the auditor kept, must be a prefix of today's trail, leaf for leaf. ``on_progress(n)``
        is told of every ``n`` records read (for a progress bar). A ``policy`` (c2sp.org/tlog-policy) must
        list the checkpoint's log (its key is then the trusted one when none is given) and its quorum of
        witnesses must have cosigned the checkpoint."""
        policy_faults: list[Fault] = []
        if policy is not None:
            public_key, policy_faults = _policy_check(policy, checkpoint, public_key)
        tracked = self.position()  # read first: a runner may append while we scan, never remove
        chained = checkpoint if checkpoint is not None and "position" in checkpoint else None
        report = self._verify_in_ranges(jobs, chained, tracked) if jobs > 1 else None
        if report is None:  # one process (or the ranges could not prove it: the one-process pass decides)
            report = self.events.scan(lambda joined, count, seals: verify_scan(joined, count, chained, tracked, seals,
                                                                               on_progress))
        if report is None:  # no in-database scan, or something differs: find and name every fault
            report = verify(counted(self.stored_records(), on_progress), self.view.entries(), chained,
                            tracked=tracked)
        if chained is not None:
            problem = checkpoint_signature_problem(chained, public_key)
            if problem:
                report.faults.append(Fault(int(chained.get("position", 0) or 0), "bad_signature", problem))
        if checkpoint is not None and "note" in checkpoint:
            check_note(report, self.view, checkpoint, public_key, self.stored_tree())
        for name, key in witnesses:
            note = checkpoint.get("note") if checkpoint is not None else None
            if not isinstance(note, str) or not cosigned_by(note, name, key):
                report.faults.append(Fault(0, "bad_signature", f"the checkpoint carries no valid cosignature of "
                                           f"the witness {name!r}"))
        if policy is not None:
            report.faults.extend(policy_faults)
            if checkpoint is not None and isinstance(checkpoint.get("note"), str):
                report.checkpoint = {**(report.checkpoint or {}), "witnesses": policy.cosigners(checkpoint["note"])}
        if against is not None:
            check_against(report, self.view, against)
        sealed = None if report.sealed is not None else self.events.seal_check()  # the scan checked them
        if sealed is not None:
            report.sealed = sealed.checked
            report.faults.extend(sealed.faults)
        if self.release_log is not None:  # the release ledger's rows and the DP answers against their leaves
            logged = list(self.release_log.logged())
            ledger_faults, _predating = check_ledger(logged, self.release_log.ledger())
            report.faults.extend(ledger_faults)
            answers = self.release_log.dp_answers({str(r.fields["answer"]) for r in logged if r.fields["privacy"] == "dp"})
            report.faults.extend(check_dp_leaves(logged, answers, self.release_log.paid() if answers else {}))
        return report


def _policy_check(policy: Policy, checkpoint: dict[str, Any] | None,
                  public_key: Ed25519PublicKey | None) -> tuple[Ed25519PublicKey | None, list[Fault]]:
    """(the trusted log key, the faults) of a checkpoint under a witness policy."""
    note = checkpoint.get("note") if checkpoint is not None else None
    if not isinstance(note, str):
        return public_key, [Fault(0, "bad_signature", "a witness policy is checked on a checkpoint note: give one")]
    _, origin, _, _ = note_fields(note)
    faults = []
    if policy.logs:
        key = policy.log_key(origin)
        if key is None:
            faults.append(Fault(0, "bad_signature", f"the policy lists no log {origin!r}: the checkpoint's log "
                                "is not one it trusts"))
        elif public_key is None:
            public_key = key
        elif public_key_hex(public_key) != public_key_hex(key):
            faults.append(Fault(0, "bad_signature", f"the policy trusts another key for the log {origin!r}"))
    cosigners = policy.cosigners(note)
    if not policy.satisfied(cosigners):
        faults.append(Fault(0, "bad_signature", f"the policy's quorum ({policy.quorum}) is not met: valid "
                            f"cosignatures of {', '.join(cosigners) or 'no witness'} (of {len(policy.witnesses)} "
                            "witnesses it lists)"))
    return public_key, faults


def _ranges_report(events: object, jobs: int, checkpoint: dict[str, Any] | None, tracked: int) -> Report | None:
    """The streaming pass in ``jobs`` processes, where the store can split it (SQLite files)."""
    split = getattr(events, "scan_ranges", None)
    cp_position = int(checkpoint["position"]) if checkpoint is not None else None
    scanned = split(jobs, cp_position) if callable(split) else None
    if scanned is None:
        return None
    result, count, seals = scanned
    return finish(result, count, checkpoint, tracked, seals)


class _TrailRules:
    """The trail's rules and Ed25519 signatures, as the application's ``TrailRules`` port names them
    (``domain/application/audit.py``): handed to ``app.audit`` by bootstrap."""

    max_verify_jobs = MAX_VERIFY_JOBS

    def is_private_key(self, key: object) -> bool:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return isinstance(key, Ed25519PrivateKey)

    def is_public_key(self, key: object) -> bool:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return isinstance(key, Ed25519PublicKey)

    def is_policy(self, policy: object) -> bool:
        return isinstance(policy, Policy)

    def require_checkpoint(self, checkpoint: object) -> dict[str, Any] | None:
        return require_checkpoint(checkpoint)

    def note_fields(self, checkpoint: dict[str, Any] | str) -> tuple[str, str, int, bytes]:
        return note_fields(checkpoint)

    def note_signed_by(self, note: str, key: Ed25519PublicKey, name: str | None = None) -> bool:
        return note_signed_by(note, key, name)

    def public_key_of(self, key: Ed25519PrivateKey) -> Ed25519PublicKey:
        return key.public_key()

    def sign_checkpoint(self, view: AuditTrailView, tree: StoredTree, key: Ed25519PrivateKey, origin: str,
                        created_at: datetime) -> dict[str, Any]:
        """The C2SP signed note over the tree, and the 0.1.0 signed chain head."""
        head = view.head()
        position, head_hash = (head.position, head.entry_hash) if head else (0, GENESIS)
        created = created_at.astimezone(UTC).isoformat()
        signature = key.sign(canonical_checkpoint(position, head_hash, created))
        return {
            **signed_checkpoint(view, key, origin, tree),
            "position": position,
            "head_hash": head_hash,
            "created_at": created,
            "public_key": public_key_hex(key.public_key()),
            "signature": signature.hex(),
        }

    def new_tiles(self, old: int, new: int) -> list[Tile]:
        return new_tiles(old, new)

    def tile_contents(self, view: AuditTrailView, tiles: list[Tile]) -> Iterator[tuple[Tile, bytes]]:
        return tile_contents(view, view, tiles)

    def export_lines(self, entries: Iterable[AuditEntry]) -> Iterator[str]:
        return export_lines(entries, entry_leaf_hash)

    def bundle(self, view: AuditTrailView, aggregate_id: str, checkpoint: dict[str, Any], tree: StoredTree,
               ) -> dict[str, Any]:
        return bundle(view, aggregate_id, checkpoint, tree)

    def consistency(self, tree: StoredTree, old: int, new: int | None) -> dict[str, Any]:
        return consistency(tree, old, new)


#: What ``app.audit`` is handed (bootstrap): the trail's rules and signatures.
TRAIL_RULES = _TrailRules()


# --- checkpoint signatures ---------------------------------------------------------------------


def require_checkpoint(checkpoint: object) -> dict[str, Any] | None:
    """None, or a checkpoint as ``AuditService.checkpoint`` writes it: a dict whose ``position``
    is a whole number >= 0 and whose ``head_hash`` is text (its signature is checked by verify)."""
    if checkpoint is None:
        return None
    accepted = ("a dict as `etrack audit checkpoint` writes it (origin, size, root_hash, note; or 0.1.0's position, "
                "head_hash, created_at, public_key, signature)")
    if not isinstance(checkpoint, dict):
        raise InvalidInput("checkpoint", f"expected {accepted}, got {type(checkpoint).__name__}")
    if "note" in checkpoint and "position" not in checkpoint:
        note_fields(checkpoint)  # a signed note alone: well-formed, or refused here
        return checkpoint
    missing = [k for k in ("position", "head_hash") if k not in checkpoint]
    if missing:
        raise InvalidInput("checkpoint", f"lacks {', '.join(missing)}; expected {accepted}")
    position, head = checkpoint["position"], checkpoint["head_hash"]
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidInput("checkpoint", f"position {position!r} is not a whole number >= 0")
    if not isinstance(head, str):
        raise InvalidInput("checkpoint", f"head_hash {head!r} is not text (a hex digest)")
    return checkpoint



def public_key_hex(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def checkpoint_signature_problem(checkpoint: dict[str, Any], trusted: Ed25519PublicKey | None) -> str | None:
    """Why the checkpoint's signature does not hold, or None when it does."""
    from cryptography.exceptions import InvalidSignature

    try:
        position, head, created = int(checkpoint["position"]), str(checkpoint["head_hash"]), str(checkpoint["created_at"])
        signature = bytes.fromhex(str(checkpoint["signature"]))
        embedded = ed25519_public_key(bytes.fromhex(str(checkpoint["public_key"])))
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


#: AuditService and Publication live in the application layer now (``domain/application/audit.py``);
#: their 0.2 import path from here keeps working.
__all__ = [
    "MAX_VERIFY_JOBS", "PUBLIC_KEY_ENV", "TRAIL_NAME", "TRAIL_RULES", "AuditService", "AuditTrail", "AuditTrailView",
    "Publication", "StoredRecords", "checkpoint_signature_problem", "public_key_hex", "require_checkpoint",
    "require_origin",
]
