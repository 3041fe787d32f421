"""The trail's Merkle tree, read from its view: roots, checkpoints, inclusion bundles, consistency proofs.

The leaves are the trail's entries in store order (``audit_log.leaf_bytes``). The tree is read
in pages of the view, so a root is computed in one streaming pass with O(log n) hashes in
memory; a proof builds the tree's levels once (2n hashes) and answers each subtree it needs in
O(log n).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
from engagement_tracker.projections.merkle import (
    CompactRange,
    TreeLevels,
    consistency_proof,
    inclusion_proof,
    root_of_frontier,
    verify_consistency,
)

PAGE = 5_000


class Entries(Protocol):
    def entries(self, start: int = 1, limit: int | None = None) -> list[AuditEntry]: ...


def leaves(view: Entries) -> Iterator[tuple[AuditEntry, bytes]]:
    """Every trail entry with its leaf hash, in order, a page at a time."""
    start = -(2**62)
    while page := view.entries(start, PAGE):
        for e in page:
            yield e, entry_leaf_hash(e)
        if len(page) < PAGE:
            return
        start = page[-1].position + 1


def compact_range(view: Entries, size: int | None = None) -> CompactRange:
    """The tree's compact range over its first ``size`` leaves (all when None), in one streaming pass."""
    r = CompactRange()
    for _, h in leaves(view):
        if size is not None and r.size >= size:
            break
        r.append(h)
    return r


def signed_checkpoint(view: Entries, key: Ed25519PrivateKey, origin: str) -> dict[str, Any]:
    """A checkpoint of the whole trail: the signed note, and its fields as JSON."""
    r = compact_range(view)
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


def check_note(report: Report, view: Entries, checkpoint: dict[str, Any], trusted: Ed25519PublicKey | None) -> None:
    """The current tree must extend the signed checkpoint: a consistency proof from its size to the
    current size is built and verified; where it does not hold, the first subtree of the old tree
    whose root changed names where the two histories diverge."""
    note, origin, size, root = note_fields(checkpoint)
    facts: dict[str, Any] = {"origin": origin, "size": size, "root_hash": root.hex()}
    report.checkpoint = {**(report.checkpoint or {}), **facts}
    tree_entries = list(leaves(view))
    hashes = [h for _, h in tree_entries]
    signed_head = tree_entries[min(size, len(tree_entries)) - 1][0].position if tree_entries and size else 0
    if trusted is None:
        report.faults.append(Fault(signed_head, "bad_signature", "no trusted public key was given: a checkpoint "
                                   "signs nothing unless its signer is known (pass --public-key)"))
    elif not note_signed_by(note, trusted):
        report.faults.append(Fault(signed_head, "bad_signature", "the checkpoint's note is not signed by the "
                                   "trusted key (another key, or its content was edited)"))
        return
    if size > len(hashes):
        at = tree_entries[-1][0].position + 1 if tree_entries else 1
        report.faults.append(Fault(at, "deleted", f"the checkpoint signs {size} entries; the trail holds "
                                   f"{len(hashes)}: records at its end were removed"))
        return
    levels = TreeLevels(hashes)
    current = levels.root()
    proof = consistency_proof(size, len(hashes), levels) if size else []
    extends = size == 0 or verify_consistency(size, len(hashes), root, current, proof)
    report.checkpoint["extends"] = extends
    if extends:
        report.checkpoint["consistency_proof"] = [p.hex() for p in proof]
        return
    frontier = checkpoint.get("frontier") if isinstance(checkpoint, dict) else None
    where = _divergence(frontier, root, levels)
    if where is None:
        report.faults.append(Fault(tree_entries[0][0].position if tree_entries else 0, "checkpoint_mismatch",
                                   f"the first {size} entries no longer have the signed root"))
        return
    lo, hi = where
    first, last = tree_entries[lo][0].position, tree_entries[hi - 1][0].position
    # named at the range's end, like the 0.1.0 chain head: a record inside it changed, which one
    # only the seals or a kept export (`--against`) can say
    report.faults.append(Fault(last, "checkpoint_mismatch",
                               f"the history signed in the checkpoint diverges within leaves {lo}..{hi - 1} "
                               f"(positions {first}..{last})"))


def _divergence(frontier: object, root: bytes, levels: TreeLevels) -> tuple[int, int] | None:
    """The first subtree (lo, hi) of the checkpoint's frontier the current tree no longer has."""
    try:
        parts = [(int(s), int(c), bytes.fromhex(h)) for s, c, h in frontier]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if root_of_frontier(parts) != root:  # the frontier is authenticated by the signed root
        return None
    for s, c, h in parts:
        if s + c > levels.size or levels(s, s + c) != h:
            return (s, min(s + c, levels.size))
    return None


def bundle(view: Entries, aggregate_id: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Every record of one aggregate with its leaf and its inclusion proof against the checkpoint."""
    note, origin, size, root = note_fields(checkpoint)
    hashes: list[bytes] = []
    mine: list[tuple[int, AuditEntry]] = []
    for e, h in leaves(view):
        if len(hashes) >= size:
            break
        if e.aggregate_id == aggregate_id:
            mine.append((len(hashes), e))
        hashes.append(h)
    if len(hashes) < size:
        raise StoreError(f"the checkpoint signs {size} entries but the trail holds {len(hashes)}")
    levels = TreeLevels(hashes)
    if levels.root() != root:
        raise StoreError("the trail no longer has the checkpoint's root: run `etrack audit verify --checkpoint`")
    if not mine:
        raise InvalidInput("aggregate_id", f"no record of {aggregate_id} in the first {size} entries of the trail")
    entries = [{**e.to_dict(), "index": i, "leaf_hash": hashes[i].hex(),
                "inclusion_proof": [p.hex() for p in inclusion_proof(i, size, levels)]} for i, e in mine]
    return {"format": BUNDLE_FORMAT, "aggregate_id": aggregate_id,
            "checkpoint": {"origin": origin, "size": size, "root_hash": root.hex(), "note": note},
            "entries": entries}


def consistency(view: Entries, old: int, new: int | None) -> dict[str, Any]:
    """A consistency proof between the trail's trees of ``old`` and ``new`` leaves (RFC 9162 §2.1.4)."""
    hashes = [h for _, h in leaves(view)]
    new = len(hashes) if new is None else new
    if not 0 <= old <= new <= len(hashes):
        raise InvalidInput("size", f"expected 0 <= old ({old}) <= new ({new}) <= the trail's size ({len(hashes)})")
    levels = TreeLevels(hashes[:new])
    old_root = TreeLevels(hashes[:old]).root()
    return {"old_size": old, "old_root": old_root.hex(), "new_size": new, "new_root": levels.root().hex(),
            "proof": [p.hex() for p in consistency_proof(old, new, levels)]}


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
