"""What auditors do with the trail: read, verify, checkpoint, publish, export and prove it.

The service is the application's (``app.audit``); the trail itself is a read model kept in
``projections/`` and the hashing, notes, proofs, tiles and Ed25519 signatures are its rules. The
application names what it needs of them as two ports, :class:`TrailPort` (the kept trail) and
:class:`TrailRules` (the pure rules and the signing), and ``adapters/bootstrap.py`` hands in the
projections' implementations. Keys stay opaque here: the rules check and use them (signing is a
backend concern: ``cryptography`` is not imported by the domain).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Protocol

import attrs

from engagement_tracker.domain.access import GrantsSource, grant_checked, recheck, relied_on, require_auditor
from engagement_tracker.domain.checks import require_writer
from engagement_tracker.domain.errors import HistoryRewritten, InvalidInput, NotPermitted, StoreError
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.domain.release_log import ReleaseLog
from engagement_tracker.domain.values import Actor

#: The origin line a checkpoint names when none is given (C2SP signed note).
DEFAULT_ORIGIN = "etrack.local/audit-trail"
#: ``export`` reads this many entries at a time.
EXPORT_PAGE = 2_000
#: An Ed25519 private key (signing) or public key (trusting): opaque to the application, checked by the rules.
SigningKey = Any
PublicKey = Any


class VerifyReport(Protocol):
    """What a verification found (``projections.audit_chain.Report``)."""

    @property
    def ok(self) -> bool: ...

    @property
    def first(self) -> Any: ...

    refused: str | None


class TrailPort(Protocol):
    """The kept trail (``projections.audit_trail.AuditTrail``): caught up exactly once, verified
    against the store, its entries and Merkle tree read from its view."""

    @property
    def view(self) -> Any: ...

    def catch_up(self) -> int: ...

    def stored_tree(self) -> Any: ...

    def releases(self) -> Iterator[Any]:
        """Every release logged in the store, with its position (``projections.release_ledger.LoggedRelease``)."""

    def release_states(self, analyst: Any) -> dict[int, bytes]:
        """An analyst's release log as stored: version -> state bytes."""

    def verify(self, checkpoint: dict[str, Any] | None = None, public_key: Any = None,
               witnesses: Sequence[tuple[str, Any]] = (), against: Iterable[dict[str, Any]] | None = None,
               on_progress: Callable[[int], None] | None = None, jobs: int = 1, policy: Any = None) -> Any: ...


class TrailRules(Protocol):
    """The trail's pure rules and its signatures (``projections.audit_trail.TRAIL_RULES``)."""

    max_verify_jobs: int

    def is_private_key(self, key: object) -> bool: ...

    def is_public_key(self, key: object) -> bool: ...

    def is_policy(self, policy: object) -> bool: ...

    def require_checkpoint(self, checkpoint: object) -> dict[str, Any] | None: ...

    def note_fields(self, checkpoint: dict[str, Any] | str) -> tuple[str, str, int, bytes]: ...

    def note_signed_by(self, note: str, key: PublicKey, name: str | None = None) -> bool: ...

    def public_key_of(self, key: SigningKey) -> PublicKey: ...

    def sign_checkpoint(self, view: Any, tree: Any, key: SigningKey, origin: str, created_at: datetime,
                        ) -> dict[str, Any]: ...

    def new_tiles(self, old: int, new: int) -> list[Any]: ...

    def tile_contents(self, view: Any, tiles: list[Any]) -> Iterator[tuple[Any, bytes]]: ...

    def export_lines(self, entries: Iterable[Any]) -> Iterator[str]: ...

    def bundle(self, view: Any, aggregate_id: str, checkpoint: dict[str, Any], tree: Any) -> dict[str, Any]: ...

    def consistency(self, tree: Any, old: int, new: int | None) -> dict[str, Any]: ...


@attrs.frozen
class Publication:
    """What ``AuditService.publish`` hands the writer: the signed checkpoint, the size already published,
    and the tiles to write (``contents`` yields each with its bytes, read lazily)."""

    checkpoint: dict[str, Any]
    old_size: int
    tiles: list[Any]
    contents: Iterator[tuple[Any, bytes]]


def require_origin(origin: object) -> str:
    """A checkpoint's origin: one line of printable text without spaces at its ends."""
    if not isinstance(origin, str) or not origin or origin != origin.strip() or not origin.isprintable():
        raise InvalidInput("origin", f"{origin!r} is not an origin line (printable text, e.g. {DEFAULT_ORIGIN!r})")
    return origin


def _instant(value: object, field: str) -> datetime | None:
    """An ISO date or time as an instant (a date or a time without an offset: UTC), or None."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(field, f"{value!r}: expected an ISO date or time (2026-03-01, "
                                  "2026-03-01T12:00:00+00:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _party_id(value: object) -> Any:
    from uuid import UUID

    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise InvalidInput("analyst", f"{value!r} is not a party id (a UUID)") from None


def _aggregate_id(value: object) -> str:
    from uuid import UUID

    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidInput("aggregate_id", f"{value!r} is not an engagement or cohort id (a UUID)") from None


class AuditService:
    """What auditors do: read, verify, checkpoint and export the trail (``app.audit``)."""

    def __init__(self, trail: TrailPort, clock: Callable[[], datetime], *, grants: GrantsSource,
                 rules: TrailRules) -> None:
        #: The kept trail (``projections.audit_trail.AuditTrail``, handed in by bootstrap).
        self.trail = trail
        self.clock = clock
        #: Who holds which grants now (the access register, handed in by bootstrap).
        self.grants = grants
        #: The trail's rules and signatures (``projections.audit_trail.TRAIL_RULES``).
        self.rules = rules

    def _signing_key(self, signing_key: object) -> SigningKey:
        if not self.rules.is_private_key(signing_key):
            raise InvalidInput("signing_key", f"expected an Ed25519 private key, got {type(signing_key).__name__}")
        return signing_key

    def entries(self, viewer: Actor, start: int = 1, limit: int | None = None) -> list[Any]:
        """The trail's entries from position ``start`` (at most ``limit``)."""
        require_auditor(viewer, "read the audit trail", self.grants)
        self.trail.catch_up()
        entries: list[Any] = self.trail.view.entries(start, limit)
        return entries

    def verify(
        self, viewer: Actor, checkpoint: dict[str, Any] | None = None, public_key: PublicKey | None = None,
        witnesses: Sequence[tuple[str, PublicKey]] = (), against: Iterable[dict[str, Any]] | None = None,
        on_progress: Callable[[int], None] | None = None,
        jobs: int = 1,
        policy: Any = None,
    ) -> Any:
        """Verify the store (see ``projections.audit_trail.AuditTrail.verify``); ``witnesses`` (name, key)
        must all have cosigned the checkpoint. Returns the report (``projections.audit_chain.Report``)."""
        rules = self.rules
        checkpoint = rules.require_checkpoint(checkpoint)
        if public_key is not None and not rules.is_public_key(public_key):
            raise InvalidInput("public_key", f"expected an Ed25519 public key (or None), got {type(public_key).__name__}")
        witnesses = list(witnesses)
        if any(not (isinstance(w, tuple) and len(w) == 2 and rules.is_public_key(w[1])) for w in witnesses):
            raise InvalidInput("witnesses", "expected (name, Ed25519 public key) pairs (see projections.witness.parse_vkey)")
        if witnesses and checkpoint is None:
            raise InvalidInput("witnesses", "witness cosignatures are checked on a checkpoint: give one")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= rules.max_verify_jobs:
            raise InvalidInput("jobs", f"{jobs!r}: expected a whole number of processes, 1 to {rules.max_verify_jobs}")
        if policy is not None and not rules.is_policy(policy):
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

    def _unless_cut(self, refused: NotPermitted, checkpoint: dict[str, Any] | None, public_key: PublicKey | None,
                    against: Iterable[dict[str, Any]] | None, policy: Any) -> Any:
        """A tail cut never hides behind a refusal: the grant the live store consults may be among the records
        removed. Whoever shows a checkpoint signed by the trusted log key (given, or the policy's) or an export
        they kept learns whether the log still extends it: the faults when it does not (the refusal beside
        them), None when it does (the refusal stands: nothing else is shown)."""
        note = checkpoint.get("note") if checkpoint is not None else None
        trusted = public_key
        if isinstance(note, str) and trusted is None and policy is not None:
            trusted = policy.log_key(self.rules.note_fields(note)[1])
        signed = isinstance(note, str) and trusted is not None and self.rules.note_signed_by(note, trusted)
        if not signed and against is None:
            return None
        report: VerifyReport = self.trail.verify(checkpoint if signed else None, trusted, (), against)  # only the log
        if report.ok:
            return None
        report.refused = (f"{refused}; the log was checked only because you showed what it signed (a checkpoint) "
                          "or an export you kept, and it no longer holds all of it: see the faults")
        return report

    def checkpoint(self, viewer: Actor, signing_key: SigningKey, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
        """Sign the trail after checking the store against it: a C2SP signed note over the Merkle tree
        (``origin``, ``size``, ``root_hash``, ``note``, and the ``frontier`` that names where a later
        history diverges), and the 0.1.0 signed chain head (``position``, ``head_hash``, ...)."""
        require_auditor(viewer, "sign a checkpoint", self.grants)
        key = self._signing_key(signing_key)
        require_origin(origin)
        self.trail.catch_up()
        report: VerifyReport = self.trail.verify()
        if not report.ok:
            first = report.first
            raise StoreError(f"refusing to sign a checkpoint over a damaged store: {first.kind if first else '?'} "
                             f"at position {first.position if first else '?'}")
        return self.rules.sign_checkpoint(self.trail.view, self.trail.stored_tree(), key, origin, self.clock())

    def publish(self, viewer: Actor, signing_key: SigningKey, origin: str = DEFAULT_ORIGIN,
                published: str | None = None) -> Publication:
        """Sign a checkpoint and list the C2SP tlog-tiles that publish the trail up to it
        (``projections/tlog_tiles.py``). ``published`` is the checkpoint note already published (a
        directory's ``checkpoint``): only the tiles the tree gained since are listed, and a trail that no
        longer extends it (records at its end removed, or any rewritten) is refused
        (:class:`HistoryRewritten`) before anything is signed."""
        require_auditor(viewer, "publish the audit trail's tiles", self.grants)
        key = self._signing_key(signing_key)
        require_origin(origin)
        old_size, old_root = 0, None
        if published is not None:
            note, published_origin, old_size, old_root = self.rules.note_fields(published)
            if published_origin != origin or not self.rules.note_signed_by(note, self.rules.public_key_of(key), origin):
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
        checkpoint = self.checkpoint(viewer, key, origin)
        tiles = self.rules.new_tiles(old_size, int(checkpoint["size"]))
        return Publication(checkpoint, old_size, tiles, self.rules.tile_contents(self.trail.view, tiles))

    @grant_checked
    def export(self, viewer: Actor, out: IO[str], on_page: Callable[[int], None] | None = None) -> int:
        """Write the trail as JSON Lines (each entry with its leaf ``index`` and ``leaf_hash``);
        returns the number of entries. Entries are read a page at a time (memory stays flat in the
        size of the trail); ``on_page(n)`` is called after each page written."""
        require_writer(out, "out")
        require_auditor(viewer, "read the audit trail", self.grants)
        self.trail.catch_up()
        n = 0

        def pages() -> Iterator[Any]:
            start = 1
            while True:
                page = self.trail.view.entries(start, EXPORT_PAGE)
                if not page:
                    return
                yield from page
                start = page[-1].position + 1
                if on_page is not None:
                    on_page(len(page))

        for line in self.rules.export_lines(pages()):
            out.write(line + "\n")
            n += 1
        # checked again once written: an export whose reader lost the grant while it ran is refused
        # (the command line then leaves the file it was to replace as it was)
        recheck(relied_on(), self.grants())
        return n

    def prove(self, viewer: Actor, aggregate_id: object, checkpoint: dict[str, Any] | str | None = None,
              signing_key: SigningKey | None = None, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
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
        return self.rules.bundle(self.trail.view, aggregate, checkpoint, self.trail.stored_tree())

    def releases(self, viewer: Actor, analyst: object = None, since: str | None = None,
                 until: str | None = None) -> list[dict[str, Any]]:
        """Every release logged in the store (a leaf of the audit log each, ``domain/release_log.py``), in
        order: its store ``position``, who (``analyst``: a party id), when (``released_at``), the shape,
        k, and the digest of the rows released; only ``analyst``'s when given, only those released on or
        after ``since`` / before ``until`` (ISO dates or times; UTC unless they say) when given. Auditors and admins."""
        require_auditor(viewer, "list the releases", self.grants)
        party = None if analyst is None else str(_party_id(analyst))
        start, end = _instant(since, "since"), _instant(until, "until")
        rows = []
        for leaf in self.trail.releases():
            f = leaf.fields
            if party is not None and f["analyst"] != party:
                continue
            at = datetime.fromisoformat(f["released_at"])
            if (start is not None and at < start) or (end is not None and at >= end):
                continue
            rows.append({"position": leaf.position, "release": f["release"], "answer": f["answer"],
                         "released_at": f["released_at"],
                         "analyst": f["analyst"], "family": f["family"], "privacy": f["privacy"],
                         "by": ",".join(f["by"]), "unit": f["unit"], "period": f["period"], "since": f["since"],
                         "until": f["until"], "level": f["level"], "k": f["k"], "epsilon": f["epsilon"],
                         "rho": f["rho"], "delta": f["delta"], "mechanism": f["mechanism"], "threshold": f["threshold"],
                         "rows": f["rows"], "rows_sha256": f["rows_sha256"]})
        return rows

    def prove_releases(self, viewer: Actor, analyst: object, checkpoint: dict[str, Any] | str | None = None,
                       signing_key: SigningKey | None = None, origin: str = DEFAULT_ORIGIN) -> dict[str, Any]:
        """An offline bundle of everything ``analyst`` released: every record of their release log
        (``ReleaseLog``) with its inclusion proof, each with its stored state (base64: it hashes to the
        leaf's ``state_sha256``) and its fields (``release``); and, under ``grants``, the access register's
        records with theirs: who could release, when; under ``budget``, their privacy budget's records (epsilon
        granted and spent, each spend naming the query digest a DP release's ``answer`` names), when they have
        one. ``audit check-bundle`` verifies them all offline."""
        require_auditor(viewer, "prove the releases of the audit trail", self.grants)
        party = _party_id(analyst)
        if checkpoint is None:
            if signing_key is None:
                raise InvalidInput("checkpoint", "give a checkpoint, or a signing key to sign a new one")
            checkpoint = self.checkpoint(viewer, signing_key, origin)
        bundle = self.prove(viewer, ReleaseLog.id_for(party), checkpoint, origin=origin)
        states = self.trail.release_states(party)
        fields = {leaf.position: leaf.fields for leaf in self.trail.releases() if leaf.fields["analyst"] == str(party)}
        for entry in bundle["entries"]:
            state = states.get(int(entry["version"]))
            if state is not None:
                entry["state"] = base64.b64encode(state).decode("ascii")
            if entry["position"] in fields:
                entry["release"] = fields[entry["position"]]
        bundle["analyst"] = str(party)
        bundle["grants"] = self.prove(viewer, AccessRegister.ID, checkpoint, origin=origin)
        try:  # the analyst's privacy budget: what was granted and spent (DP), when there is one
            bundle["budget"] = self.prove(viewer, PrivacyBudget.id_for(party), checkpoint, origin=origin)
        except InvalidInput:
            pass  # no budget recorded for this analyst
        return bundle

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
                _, _, size, signed_root = self.rules.note_fields(value)
                sizes.append(size)
                roots.append(signed_root.hex())
            else:
                raise InvalidInput("size", f"expected a tree size or a checkpoint, got {type(value).__name__}")
        if sizes[0] is None:
            raise InvalidInput("old", "the old tree needs a size or a checkpoint")
        proof = self.rules.consistency(self.trail.stored_tree(), sizes[0], sizes[1])
        for side, wanted in zip(("old", "new"), roots, strict=True):
            if wanted is not None and proof[f"{side}_root"] != wanted:
                raise StoreError(f"the trail's tree of {proof[f'{side}_size']} entries does not have the {side} "
                                 "checkpoint's root: that history was rewritten (`etrack audit verify --checkpoint`)")
        return proof


__all__ = ["DEFAULT_ORIGIN", "AuditService", "Publication", "TrailPort", "TrailRules", "require_origin"]
