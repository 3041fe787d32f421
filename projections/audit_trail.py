"""The confidential audit trail as a read model: its view, its projection, and what auditors do with it.

The chain and its verification are pure functions in ``audit_chain``. Here the trail is kept
current exactly once (entries and position in one transaction, in the view it is handed), checked
against the store, signed into checkpoints and exported. Auditors (and admins) do that; no one
else (``domain.access.require_auditor``). Nothing here decrypts content: verification reads
stored records as bytes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Protocol, TypeVar

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import Tracking

from engagement_tracker.domain.access import GrantsSource, grant_checked, recheck, relied_on, require_auditor
from engagement_tracker.domain.checks import require_writer
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput, NotPermitted, StoreError
from engagement_tracker.domain.values import Actor
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
from engagement_tracker.projections.audit_log import DEFAULT_ORIGIN, entry_leaf_hash, note_signed_by, row_leaf_hashes
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
from engagement_tracker.projections.seal_macs import Seals
from engagement_tracker.projections.tlog_tiles import Tile, new_tiles, tile_contents
from engagement_tracker.projections.tracking import Record, StoredEvents, TrackedProjection, View
from engagement_tracker.projections.witness import cosigned_by
from engagement_tracker.projections.witness_policy import Policy

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


@attrs.frozen
class Publication:
    """What ``AuditService.publish`` hands the writer: the signed checkpoint, the size already published,
    and the tiles to write (``contents`` yields each with its bytes, read lazily)."""

    checkpoint: dict[str, Any]
    old_size: int
    tiles: list[Tile]
    contents: Iterator[tuple[Tile, bytes]]


class AuditService:
    """What auditors do: read, verify, checkpoint and export the trail."""

    def __init__(self, trail: AuditTrail, clock: Callable[[], datetime], *, grants: GrantsSource) -> None:
        self.trail = trail
        self.clock = clock
        #: Who holds which grants now (the access register, handed in by bootstrap).
        self.grants = grants

    def entries(self, viewer: Actor, start: int = 1, limit: int | None = None) -> list[AuditEntry]:
        require_auditor(viewer, "read the audit trail", self.grants)
        self.trail.catch_up()
        return self.trail.view.entries(start, limit)

    def verify(
        self, viewer: Actor, checkpoint: dict[str, Any] | None = None, public_key: Ed25519PublicKey | None = None,
        witnesses: Sequence[tuple[str, Ed25519PublicKey]] = (), against: Iterable[dict[str, Any]] | None = None,
        on_progress: Callable[[int], None] | None = None,
        jobs: int = 1,
        policy: Policy | None = None,
    ) -> Report:
        """Verify the store (see :meth:`AuditTrail.verify`); ``witnesses`` (name, key) must all have
        cosigned the checkpoint."""
        checkpoint = require_checkpoint(checkpoint)
        if public_key is not None and not isinstance(public_key, Ed25519PublicKey):
            raise InvalidInput("public_key", f"expected an Ed25519 public key (or None), got {type(public_key).__name__}")
        witnesses = list(witnesses)
        if any(not (isinstance(w, tuple) and len(w) == 2 and isinstance(w[1], Ed25519PublicKey)) for w in witnesses):
            raise InvalidInput("witnesses", "expected (name, Ed25519 public key) pairs (see projections.witness.parse_vkey)")
        if witnesses and checkpoint is None:
            raise InvalidInput("witnesses", "witness cosignatures are checked on a checkpoint: give one")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_VERIFY_JOBS:
            raise InvalidInput("jobs", f"{jobs!r}: expected a whole number of processes, 1 to {MAX_VERIFY_JOBS}")
        if policy is not None and not isinstance(policy, Policy):
            raise InvalidInput("policy", "expected a witness policy (projections.witness_policy.parse_policy)")
        if policy is not None and checkpoint is None:
            raise InvalidInput("policy", "a witness policy is checked on a checkpoint: give one")
        try:
            require_auditor(viewer, "verify the audit trail", self.grants)
        except NotPermitted as refused:
            report = self._unless_cut(refused, checkpoint, public_key, against, policy)
            if report is None:
                raise
            return report
        return self.trail.verify(checkpoint, public_key, witnesses, against, on_progress, jobs=jobs, policy=policy)

    def _unless_cut(self, refused: NotPermitted, checkpoint: dict[str, Any] | None, public_key: Ed25519PublicKey | None,
                    against: Iterable[dict[str, Any]] | None, policy: Policy | None) -> Report | None:
        """A tail cut never hides behind a refusal: the grant the live store consults may be among the records
        removed. Whoever shows a checkpoint signed by the trusted log key (given, or the policy's) or an export
        they kept learns whether the log still extends it: the faults when it does not (the refusal beside
        them), None when it does (the refusal stands: nothing else is shown)."""
        note = checkpoint.get("note") if checkpoint is not None else None
        trusted = public_key
        if isinstance(note, str) and trusted is None and policy is not None:
            trusted = policy.log_key(note_fields(note)[1])
        signed = isinstance(note, str) and trusted is not None and note_signed_by(note, trusted)
        if not signed and against is None:
            return None
        report = self.trail.verify(checkpoint if signed else None, trusted, (), against)  # no quorum: only the log
        if report.ok:
            return None
        report.refused = (f"{refused}; the log was checked only because you showed what it signed (a checkpoint) "
                          "or an export you kept, and it no longer holds all of it: see the faults")
        return report

    def checkpoint(self, viewer: Actor, signing_key: Ed25519PrivateKey, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
        """Sign the trail after checking the store against it: a C2SP signed note over the Merkle tree
        (``origin``, ``size``, ``root_hash``, ``note``, and the ``frontier`` that names where a later
        history diverges), and the 0.1.0 signed chain head (``position``, ``head_hash``, ...)."""
        require_auditor(viewer, "sign a checkpoint", self.grants)
        if not isinstance(signing_key, Ed25519PrivateKey):
            raise InvalidInput("signing_key", f"expected an Ed25519 private key, got {type(signing_key).__name__}")
        require_origin(origin)
        self.trail.catch_up()
        report = self.trail.verify()
        if not report.ok:
            first = report.first
            raise StoreError(f"refusing to sign a checkpoint over a damaged store: {first.kind if first else '?'} "
                             f"at position {first.position if first else '?'}")
        head = self.trail.view.head()
        position, head_hash = (head.position, head.entry_hash) if head else (0, GENESIS)
        created_at = self.clock().astimezone(UTC).isoformat()
        signature = signing_key.sign(canonical_checkpoint(position, head_hash, created_at))
        return {
            **signed_checkpoint(self.trail.view, signing_key, origin, self.trail.stored_tree()),
            "position": position,
            "head_hash": head_hash,
            "created_at": created_at,
            "public_key": public_key_hex(signing_key.public_key()),
            "signature": signature.hex(),
        }

    def publish(self, viewer: Actor, signing_key: Ed25519PrivateKey, origin: str = DEFAULT_ORIGIN,
                published: str | None = None) -> Publication:
        """Sign a checkpoint and list the C2SP tlog-tiles that publish the trail up to it
        (``projections/tlog_tiles.py``). ``published`` is the checkpoint note already published (a
        directory's ``checkpoint``): only the tiles the tree gained since are listed, and a trail that no
        longer extends it (records at its end removed, or any rewritten) is refused
        (:class:`HistoryRewritten`) before anything is signed."""
        require_auditor(viewer, "publish the audit trail's tiles", self.grants)
        if not isinstance(signing_key, Ed25519PrivateKey):
            raise InvalidInput("signing_key", f"expected an Ed25519 private key, got {type(signing_key).__name__}")
        require_origin(origin)
        old_size, old_root = 0, None
        if published is not None:
            note, published_origin, old_size, old_root = note_fields(published)
            if published_origin != origin or not note_signed_by(note, signing_key.public_key(), origin):
                raise InvalidInput("out", f"the published checkpoint is another log's ({published_origin!r}, or "
                                   f"signed by another key than this log's {origin!r}): publish into a new directory")
        self.trail.catch_up()
        tree = self.trail.stored_tree()
        if old_size > tree.size:
            raise HistoryRewritten(f"{origin}: the published checkpoint signs {old_size} entries; the trail now holds "
                                   f"{tree.size}: records at its end were removed. Nothing was published")
        if old_root is not None and old_size and tree.root(old_size) != old_root:
            raise HistoryRewritten(f"{origin}: the trail's first {old_size} entries no longer have the published "
                                   "root: its history was rewritten. Nothing was published")
        checkpoint = self.checkpoint(viewer, signing_key, origin)
        tiles = new_tiles(old_size, int(checkpoint["size"]))
        return Publication(checkpoint, old_size, tiles, tile_contents(self.trail.view, self.trail.view, tiles))

    @grant_checked
    def export(self, viewer: Actor, out: IO[str], on_page: Callable[[int], None] | None = None) -> int:
        """Write the trail as JSON Lines (each entry with its leaf ``index`` and ``leaf_hash``);
        returns the number of entries. Entries are read a page at a time (memory stays flat in the
        size of the trail); ``on_page(n)`` is called after each page written."""
        require_writer(out, "out")
        require_auditor(viewer, "read the audit trail", self.grants)
        self.trail.catch_up()
        n = 0

        def pages() -> Iterator[AuditEntry]:
            start = 1
            while True:
                page = self.trail.view.entries(start, EXPORT_PAGE)
                if not page:
                    return
                yield from page
                start = page[-1].position + 1
                if on_page is not None:
                    on_page(len(page))

        for line in export_lines(pages(), entry_leaf_hash):
            out.write(line + "\n")
            n += 1
        # checked again once written: an export whose reader lost the grant while it ran is refused
        # (the command line then leaves the file it was to replace as it was)
        recheck(relied_on(), self.grants())
        return n

    def prove(self, viewer: Actor, aggregate_id: object, checkpoint: dict[str, Any] | str | None = None,
              signing_key: Ed25519PrivateKey | None = None, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
        """An offline bundle: every record of one engagement or cohort (or any aggregate), each with its
        leaf and its inclusion proof against ``checkpoint`` (else a new one signed with ``signing_key``)."""
        require_auditor(viewer, "prove records of the audit trail", self.grants)
        aggregate = _aggregate_id(aggregate_id)
        if checkpoint is None:
            if signing_key is None:
                raise InvalidInput("checkpoint", "give a checkpoint, or a signing key to sign a new one")
            checkpoint = self.checkpoint(viewer, signing_key, origin)
        elif isinstance(checkpoint, str):
            checkpoint = {"note": checkpoint}
        elif not isinstance(checkpoint, dict):
            raise InvalidInput("checkpoint", f"expected a checkpoint (dict or note text), got {type(checkpoint).__name__}")
        self.trail.catch_up()
        return bundle(self.trail.view, aggregate, checkpoint, self.trail.stored_tree())

    def consistency(self, viewer: Actor, old: int | dict[str, Any] | str,
                    new: int | dict[str, Any] | str | None = None) -> dict[str, Any]:
        """A consistency proof (RFC 9162 §2.1.4) that the trail's tree at ``new`` (a size or a
        checkpoint; the current tree when None) extends the one at ``old``; a checkpoint's root must
        be the trail's at its size."""
        require_auditor(viewer, "prove the audit trail's consistency", self.grants)
        self.trail.catch_up()
        sizes: list[int | None] = []
        roots: list[str | None] = []
        for value in (old, new):
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                sizes.append(value)
                roots.append(None)
            elif isinstance(value, dict | str):
                _, _, size, signed_root = note_fields(value)
                sizes.append(size)
                roots.append(signed_root.hex())
            else:
                raise InvalidInput("size", f"expected a tree size or a checkpoint, got {type(value).__name__}")
        if sizes[0] is None:
            raise InvalidInput("old", "the old tree needs a size or a checkpoint")
        proof = consistency(self.trail.stored_tree(), sizes[0], sizes[1])
        for side, wanted in zip(("old", "new"), roots, strict=True):
            if wanted is not None and proof[f"{side}_root"] != wanted:
                raise StoreError(f"the trail's tree of {proof[f'{side}_size']} entries does not have the {side} "
                                 "checkpoint's root: that history was rewritten (`etrack audit verify --checkpoint`)")
        return proof


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



def require_origin(origin: object) -> str:
    """A checkpoint's origin: one line of printable text without spaces at its ends."""
    if not isinstance(origin, str) or not origin or origin != origin.strip() or not origin.isprintable():
        raise InvalidInput("origin", f"{origin!r} is not an origin line (printable text, e.g. {DEFAULT_ORIGIN!r})")
    return origin


def _aggregate_id(value: object) -> str:
    from uuid import UUID

    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidInput("aggregate_id", f"{value!r} is not an engagement or cohort id (a UUID)") from None


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


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
