"""The published RFC 6962 / 9162 test vectors (transparency-dev/merkle, kept in tests/fixtures/merkle)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.projections.merkle import (
    EMPTY_ROOT,
    LeafHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "merkle"
TREE: dict[str, Any] = json.loads((VECTORS / "tree.json").read_text())
INCLUSION: list[dict[str, Any]] = json.loads((VECTORS / "inclusion.json").read_text())["cases"]
CONSISTENCY: list[dict[str, Any]] = json.loads((VECTORS / "consistency.json").read_text())["cases"]
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in TREE["leaf_inputs"]]


def b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def proof_of(case: dict[str, Any]) -> list[bytes]:
    return [b64(p) for p in case["proof"] or []]


def test_the_vectors_are_all_there() -> None:
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98
    assert sum(not c["wantErr"] for c in INCLUSION) >= 5 and sum(not c["wantErr"] for c in CONSISTENCY) >= 5


def test_tree_hashes_of_every_size() -> None:
    assert EMPTY_ROOT.hex() == TREE["root_hashes"][0]
    for size, want in enumerate(TREE["root_hashes"]):
        assert root_of(LEAVES[:size]).hex() == want, size
    for level, hashes in enumerate(TREE["node_hashes"]):  # every complete subtree
        for i, want in enumerate(hashes):
            assert root_of(LEAVES[i << level:(i + 1) << level]).hex() == want, (level, i)


@pytest.mark.parametrize("case", INCLUSION, ids=[c["file"] for c in INCLUSION])
def test_inclusion_vector(case: dict[str, Any]) -> None:
    ok = verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof_of(case), b64(case["root"]))
    assert ok is not case["wantErr"], case["desc"]


@pytest.mark.parametrize("case", CONSISTENCY, ids=[c["file"] for c in CONSISTENCY])
def test_consistency_vector(case: dict[str, Any]) -> None:
    ok = verify_consistency(case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof_of(case))
    assert ok is not case["wantErr"], case["desc"]


def test_our_proofs_equal_the_published_ones() -> None:
    """Every happy-path proof over the reference leaves is the one we build."""
    subtree = LeafHashes(LEAVES)
    for case in INCLUSION:
        if not case["wantErr"] and case["treeSize"] <= len(LEAVES) and b64(case["root"]) == root_of(
                LEAVES[:case["treeSize"]]):
            assert inclusion_proof(case["leafIdx"], case["treeSize"], subtree) == proof_of(case), case["file"]
    for case in CONSISTENCY:
        if not case["wantErr"] and case["size2"] <= len(LEAVES) and b64(case["root2"]) == root_of(
                LEAVES[:case["size2"]]):
            assert consistency_proof(case["size1"], case["size2"], subtree) == proof_of(case), case["file"]
