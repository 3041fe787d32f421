"""The trail's Merkle tree, read from its view: roots, checkpoints, inclusion bundles, consistency proofs.

The leaves are the trail's entries in store order (``audit_log.leaf_bytes``). Roots that are
signed or checked are computed from the entries, read in pages of the view, in one streaming pass
with O(log n) hashes in memory; proofs read the tree's stored levels (``audit_tree.StoredTree``),
O(log n) nodes each, and the recipient verifies them against the signed root.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from engagement_tracker.domain.errors import InvalidInput, StoreError
from engagement_tracker.projections.audit_chain import AuditEntry, Fault, Report
from engagement_tracker.projections.audit_log import (
    BUNDLE_FORMAT,
    NoteError,
    checkpoint_body,
    entry_leaf_hash,
    fields_leaf_hash,
    note_signed_by,
    parse_checkpoint,
    sign_note,
    split_note,
)
from engagement_tracker.projections.audit_tree import StoredTree
from engagement_tracker.projections.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    root_of_frontier,
    verify_consistency,
    verify_inclusion,
)

if TYPE_CHECKING:  # cryptography is imported where a key is used, not by a read that uses none (issue #28)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


PAGE = 5_000


class Entries(Protocol):
    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]: ...


def entries_in_order(view: Entries) -> Iterator[AuditEntry]:
    """Every trail entry, leaf 0 first, read a page at a time."""
    start = -(2**62)
    while page := view.entries(start, PAGE):
        yield from page
        if len(page) < PAGE:
            return
        start = page[-1].position + 1


def leaves(view: Entries) -> Iterator[tuple[AuditEntry, bytes]]:
    """Every trail entry with its leaf hash, in order, a page at a time."""
    for e in entries_in_order(view):
        yield e, entry_leaf_hash(e)


def compact_range(view: Entries, size: int | None = None) -> CompactRange:
    """The tree's compact range over its first ``size`` leaves (all when None), in one streaming pass."""
    r = CompactRange()
    for _, h in leaves(view):
        if size is not None and r.size >= size:
            break
        r.append(h)
    return r


def signed_checkpoint(view: Entries, key: Ed25519PrivateKey, origin: str, tree: StoredTree) -> dict[str, Any]:
    """A checkpoint of the whole trail: the signed note, and its fields as JSON. The root is computed
    from the entries (one streaming pass); the stored tree must agree, else nothing is signed."""
    r = compact_range(view)
    if tree.size != r.size or tree.root() != r.root():
        raise StoreError("the stored Merkle tree differs from the trail's entries: run `etrack projections rebuild`")
    note = sign_note(checkpoint_body(origin, r.size, r.root()), key, origin)
    return {"origin": origin, "size": r.size, "root_hash": r.root().hex(), "note": note,
            "frontier": [[s, c, h.hex()] for s, c, h in r.frontier()]}


def note_fields(checkpoint: dict[str, Any] | str) -> tuple[str, str, int, bytes]:
    """(note, origin, size, root) of a checkpoint given as its note text or as its JSON form."""
    note = checkpoint if isinstance(checkpoint, str) else checkpoint.get("note")
    if not isinstance(note, str):
        raise InvalidInput("checkpoint", "expected a signed note (text) or a JSON checkpoint with `note`")
    try:
        body, _ = split_note(note)
        origin, size, root = parse_checkpoint(body)
    except NoteError as exc:
        raise InvalidInput("checkpoint", f"not a signed checkpoint: {exc}") from None
    return note, origin, size, root


def check_note(report: Report, view: Entries, checkpoint: dict[str, Any], trusted: Ed25519PublicKey | None,
               tree: StoredTree) -> None:
    """The current tree must extend the signed checkpoint. One streaming pass over the entries recomputes
    the tree at the checkpoint's size and now (O(log n) hashes in memory); where the signed root no
    longer holds, the first complete subtree of the old tree whose root changed names where the two
    histories diverge. The consistency proof from its size to now, built from the stored tree, is
    verified too (stored nodes that disagree with the entries are ``trail_modified``)."""
    note, origin, size, root = note_fields(checkpoint)
    facts: dict[str, Any] = {"origin": origin, "size": size, "root_hash": root.hex()}
    report.checkpoint = {**(report.checkpoint or {}), **facts}
    r, at_size = CompactRange(), None
    signed_head = last_position = 0
    starts: dict[int, int] = {}  # leaf index -> position, for the leaves that begin the old frontier's subtrees
    frontier = _frontier(checkpoint, root)
    wanted = {s for s, _, _ in frontier} | {s + c - 1 for s, c, _ in frontier}
    for e, h in leaves(view):
        if r.size in wanted:
            starts[r.size] = e.position
        r.append(h)
        last_position = e.position
        if r.size == size:
            at_size, signed_head = r.copy(), e.position
    if trusted is None:
        report.faults.append(Fault(signed_head, "bad_signature", "no trusted public key was given: a checkpoint "
                                   "signs nothing unless its signer is known (pass --public-key)"))
    elif not note_signed_by(note, trusted):
        report.faults.append(Fault(signed_head, "bad_signature", "the checkpoint's note is not signed by the "
                                   "trusted key (another key, or its content was edited)"))
        return
    if size > r.size:
        report.faults.append(Fault(last_position + 1, "deleted", f"the checkpoint signs {size} entries; the trail "
                                   f"holds {r.size}: records at its end were removed"))
        return
    old_root = at_size.root() if at_size is not None else EMPTY_ROOT
    extends = old_root == root
    report.checkpoint["extends"] = extends
    if not extends:
        report.faults.append(_divergence(frontier, at_size, starts, size))
        return
    try:
        proof = consistency_proof(size, r.size, tree) if size else []
        stored_ok = (tree.size == r.size and tree.root() == r.root()
                     and (size == 0 or verify_consistency(size, r.size, root, r.root(), proof)))
    except (LookupError, ValueError):
        proof, stored_ok = [], False
    if not stored_ok:
        report.faults.append(Fault(last_position, "trail_modified", "the stored Merkle tree disagrees with the "
                                   "trail's entries (`etrack projections rebuild` stores it again)"))
        return
    report.checkpoint["consistency_proof"] = [p.hex() for p in proof]


def _frontier(checkpoint: dict[str, Any] | str, root: bytes) -> list[tuple[int, int, bytes]]:
    """The checkpoint's frontier when it has one that folds into its signed root, else none."""
    raw = checkpoint.get("frontier") if isinstance(checkpoint, dict) else None
    try:
        parts = [(int(s), int(c), bytes.fromhex(h)) for s, c, h in raw or []]
    except (TypeError, ValueError):
        return []
    return parts if parts and root_of_frontier(parts) == root else []


def _divergence(frontier: list[tuple[int, int, bytes]], at_size: CompactRange | None, starts: dict[int, int],
                size: int) -> Fault:
    """The fault for a checkpoint whose root the trail no longer has: at the end of the first subtree of
    its frontier whose root changed (like the 0.1.0 chain head: which record inside it changed, only
    the seals or a kept export, `--against`, can say)."""
    now = {(s, c): h for s, c, h in at_size.frontier()} if at_size is not None else {}
    for s, c, h in frontier:
        if now.get((s, c)) != h:
            first, last = starts.get(s, 0), starts.get(s + c - 1, 0)
            return Fault(last, "checkpoint_mismatch", f"the history signed in the checkpoint diverges within leaves "
                         f"{s}..{s + c - 1} (positions {first}..{last})")
    return Fault(starts.get(size - 1, 0), "checkpoint_mismatch", f"the first {size} entries no longer have the "
                 "signed root")


def bundle(view: Entries, aggregate_id: str, checkpoint: dict[str, Any], tree: StoredTree) -> dict[str, Any]:
    """Every record of one aggregate with its leaf and its inclusion proof against the checkpoint: the
    entries are found in one pass (only theirs hashed), each proof read from the stored tree."""
    note, origin, size, root = note_fields(checkpoint)
    mine: list[tuple[int, AuditEntry]] = []
    for index, e in enumerate(entries_in_order(view)):
        if index >= size:
            break
        if e.aggregate_id == aggregate_id:
            mine.append((index, e))
    if tree.size < size:
        raise StoreError(f"the checkpoint signs {size} entries but the trail holds {tree.size}")
    if tree.root(size) != root:
        raise StoreError("the trail no longer has the checkpoint's root: run `etrack audit verify --checkpoint`")
    if not mine:
        raise InvalidInput("aggregate_id", f"no record of {aggregate_id} in the first {size} entries of the trail")
    entries = []
    for i, e in mine:
        leaf, proof = entry_leaf_hash(e), inclusion_proof(i, size, tree)
        if not verify_inclusion(i, size, leaf, proof, root):  # never hand out a proof that fails
            raise StoreError(f"the trail entry at position {e.position} is not the leaf the checkpoint signed: "
                             "run `etrack audit verify --checkpoint`")
        entries.append({**e.to_dict(), "index": i, "leaf_hash": leaf.hex(), "inclusion_proof": [p.hex() for p in proof]})
    return {"format": BUNDLE_FORMAT, "aggregate_id": aggregate_id,
            "checkpoint": {"origin": origin, "size": size, "root_hash": root.hex(), "note": note},
            "entries": entries}


def consistency(tree: StoredTree, old: int, new: int | None) -> dict[str, Any]:
    """A consistency proof between the trail's trees of ``old`` and ``new`` leaves (RFC 9162 §2.1.4),
    read from the stored tree."""
    new = tree.size if new is None else new
    if not 0 <= old <= new <= tree.size:
        raise InvalidInput("size", f"expected 0 <= old ({old}) <= new ({new}) <= the trail's size ({tree.size})")
    return {"old_size": old, "old_root": tree.root(old).hex(), "new_size": new, "new_root": tree.root(new).hex(),
            "proof": [p.hex() for p in consistency_proof(old, new, tree)]}


def check_against(report: Report, view: Entries, kept: Iterable[dict[str, Any]]) -> None:
    """Compare the trail with an export the auditor kept (``etrack audit export``), leaf by leaf: the first
    leaf that differs is named (its position in the kept export), as are leaves the trail lost."""
    current = leaves(view)
    compared = 0
    for index, old in enumerate(kept):
        try:
            old_hash = fields_leaf_hash(old)
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            raise InvalidInput("against", f"line {index + 1} is not an exported entry: {exc}") from None
        now = next(current, None)
        if now is None:
            report.faults.append(Fault(int(old["position"]), "deleted", f"leaf {index} of the kept export "
                                       f"({old['aggregate_id']} v{old['version']}) is no longer in the trail"))
            break
        entry, new_hash = now
        if new_hash != old_hash:
            same = (entry.aggregate_id, entry.version) == (old["aggregate_id"], old["version"])
            report.faults.append(Fault(int(old["position"]), "modified" if same else "reordered",
                                       f"leaf {index} differs from the kept export: it held {old['aggregate_id']} "
                                       f"v{old['version']}, the trail has {entry.aggregate_id} v{entry.version}"
                                       + (" with other fields" if same else "")))
            break
        compared += 1
    report.checkpoint = {**(report.checkpoint or {}), "against": {"leaves_compared": compared}}
