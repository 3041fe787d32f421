"""Every inclusion and consistency proof verifies; any flipped bit of a proof, a leaf or a root fails."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.projections.merkle import (
    CompactRange,
    LeafHashes,
    TreeLevels,
    consistency_proof,
    first_difference,
    inclusion_proof,
    leaf_hash,
    root_of,
    root_of_frontier,
    verify_consistency,
    verify_inclusion,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def mth(hashes: list[bytes]) -> bytes:
    """RFC 9162's recursive definition, written out: the reference the iterative code must meet."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


sizes = st.integers(min_value=1, max_value=300)


@given(n=sizes, data=st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    root = root_of(hashes)
    assert root == mth(hashes)
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(i, n, LeafHashes(hashes))
    assert verify_inclusion(i, n, hashes[i], proof, root)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(i, n, flip(hashes[i], bit), proof, root)
    assert not verify_inclusion(i, n, hashes[i], proof, flip(root, bit))
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        assert not verify_inclusion(i, n, hashes[i], [*proof[:j], flip(proof[j], bit), *proof[j + 1:]], root)
        assert not verify_inclusion(i, n, hashes[i], proof[:-1], root)
    assert not verify_inclusion(i, n, hashes[i], [*proof, root], root)
    other = data.draw(st.integers(0, n - 1).filter(lambda k: hashes[k] != hashes[i]) if n > 1 else st.just(i))
    if other != i:
        assert not verify_inclusion(other, n, hashes[i], proof, root)


@given(n=sizes, data=st.data())
def test_consistency_proofs_verify_and_any_flipped_bit_fails(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    m = data.draw(st.integers(1, n), label="old size")
    old, new = root_of(hashes[:m]), root_of(hashes)
    proof = consistency_proof(m, n, LeafHashes(hashes))
    assert verify_consistency(m, n, old, new, proof)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_consistency(m, n, flip(old, bit), new, proof)
    assert not verify_consistency(m, n, old, flip(new, bit), proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        assert not verify_consistency(m, n, old, new, [*proof[:j], flip(proof[j], bit), *proof[j + 1:]])
    # a rewritten history: any changed leaf of the old tree breaks consistency with it
    k = data.draw(st.integers(0, m - 1), label="rewritten leaf")
    forged = [*hashes[:k], flip(hashes[k], bit), *hashes[k + 1:]]
    assert not verify_consistency(m, n, old, root_of(forged), consistency_proof(m, n, LeafHashes(forged)))


@given(n=sizes, data=st.data())
def test_a_frontier_names_the_subtree_where_two_trees_diverge(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    r = CompactRange()
    for h in hashes:
        r.append(h)
    assert root_of_frontier(r.frontier()) == r.root() == root_of(hashes)
    assert first_difference(r.frontier(), LeafHashes(hashes)) is None
    k = data.draw(st.integers(0, n - 1), label="rewritten leaf")
    forged = [*hashes[:k], flip(hashes[k], 3), *hashes[k + 1:], *leaves(3)]
    start, count = first_difference(r.frontier(), LeafHashes(forged)) or (-1, 0)
    assert start <= k < start + count


@given(n=sizes, data=st.data())
def test_tree_levels_answer_every_subtree_as_the_definition(n: int, data: st.DataObject) -> None:
    from engagement_tracker.projections.merkle import TreeLevels

    hashes = leaves(n)
    levels = TreeLevels(hashes)
    lo = data.draw(st.integers(0, n - 1), label="lo")
    hi = data.draw(st.integers(lo + 1, n), label="hi")
    assert levels(0, hi) == mth(hashes[:hi])
    while lo and (lo & -lo) < hi - lo:  # proofs ask only for ranges aligned on their own size
        lo -= lo & -lo
    assert levels(lo, hi) == mth(hashes[lo:hi])
    i = data.draw(st.integers(0, n - 1), label="index")
    assert inclusion_proof(i, n, levels) == inclusion_proof(i, n, LeafHashes(hashes))
    assert consistency_proof(lo + 1, n, levels) == consistency_proof(lo + 1, n, LeafHashes(hashes))


class NodeStore:
    """Stored levels as a view keeps them: a dict of (level, idx) -> hash, counting its reads."""

    def __init__(self) -> None:
        self.tree: dict[tuple[int, int], bytes] = {}

    def nodes(self, keys):  # type: ignore[no-untyped-def]
        return {k: self.tree[k] for k in keys if k in self.tree}

    def leaf_count(self) -> int:
        return sum(1 for level, _ in self.tree if level == 0)


@given(batches=st.lists(st.integers(1, 40), min_size=1, max_size=8), data=st.data())
def test_stored_levels_grown_page_by_page_answer_proofs_in_log_n_reads(batches: list[int],
                                                                      data: st.DataObject) -> None:
    """Nodes written page by page (as the trail's projection writes them) are every complete subtree,
    and a proof reads O(log n) of them."""
    from engagement_tracker.projections.audit_tree import StoredTree, frontier_keys, grow

    store, hashes = NodeStore(), leaves(sum(batches))
    size = 0
    for n in batches:
        frontier = store.nodes(frontier_keys(size))
        for level, idx, h in grow(frontier, size, hashes[size:size + n]):
            assert (level, idx) not in store.tree  # each node written once
            store.tree[(level, idx)] = h
        size += n
    full = TreeLevels(hashes)
    assert store.tree == {(level, i): h for level, row in enumerate(full.levels) for i, h in enumerate(row)}
    tree = StoredTree(store)
    assert tree.root() == root_of(hashes)
    i = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(i, size, tree)
    assert verify_inclusion(i, size, hashes[i], proof, root_of(hashes))
    assert tree.reads <= size.bit_length() + 1
    m = data.draw(st.integers(1, size), label="old size")
    assert consistency_proof(m, size, tree) == consistency_proof(m, size, LeafHashes(hashes))


texts = st.one_of(st.none(), st.text(max_size=30))


@given(st.tuples(st.integers(0, 2**40), st.text(min_size=1, max_size=40), st.integers(1, 2**31), st.text(max_size=40),
                 st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), texts, texts, texts))
def test_the_projections_leaf_hash_is_the_documented_one(fields: tuple) -> None:  # type: ignore[type-arg]
    from engagement_tracker.projections.audit_chain import AuditEntry
    from engagement_tracker.projections.audit_log import entry_leaf_hash, row_leaf_hashes

    position, aggregate_id, version, topic, digest, actor, role, recorded_at = fields
    row = (position, aggregate_id, "Engagement", version, topic, "X", actor, role, recorded_at, digest, "p", "e")
    assert list(row_leaf_hashes([row])) == [entry_leaf_hash(AuditEntry(*row))]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                        max_size=4), max_leaves=20)


@given(st.dictionaries(st.sampled_from(["checkpoint", "entries", "aggregate_id", "format"]), json_values))
def test_check_bundle_answers_any_document_with_reasons_never_an_exception(doc: dict) -> None:  # type: ignore[type-arg]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engagement_tracker.projections.audit_log import check_bundle

    assert check_bundle(doc, Ed25519PrivateKey.generate().public_key())  # never holds, never raises


@given(st.lists(st.dictionaries(st.sampled_from(["position", "aggregate_id", "version", "topic", "state_sha256",
                                                  "actor", "role", "recorded_at", "index", "leaf_hash",
                                                  "inclusion_proof"]), json_values), max_size=3))
def test_check_bundle_answers_any_entries_under_a_real_checkpoint(entries: list) -> None:  # type: ignore[type-arg]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engagement_tracker.projections.audit_log import check_bundle, checkpoint_body, sign_note

    key = Ed25519PrivateKey.generate()
    note = sign_note(checkpoint_body("example.org/log", 4, bytes(32)), key, "example.org/log")
    assert check_bundle({"checkpoint": {"note": note}, "entries": entries, "aggregate_id": "x"}, key.public_key())
