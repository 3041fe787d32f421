"""transparency-dev/merkle's published test vectors (``testdata/{inclusion,consistency}``), read in place from
``../shared/merkle-vectors/`` (never copied here): every ``happy-path`` and every case not marked ``wantErr``
verifies, and every case marked ``wantErr`` is refused by ``projections/merkle.py``."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

import pytest

from engagement_tracker.projections.merkle import verify_consistency, verify_inclusion

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [Path(os.environ["ETRACK_MERKLE_VECTORS"])] if os.environ.get("ETRACK_MERKLE_VECTORS") else [
    ROOT.parent / "shared" / "merkle-vectors", ROOT.parent.parent / "shared" / "merkle-vectors"]
VECTORS = next((p / "testdata" for p in CANDIDATES if (p / "testdata").is_dir()), None)


def cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).glob("*/*.json")) if VECTORS else []


def b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return b"not base64: " + value.encode()


needs_vectors = pytest.mark.skipif(VECTORS is None, reason=f"the published vectors are not in {CANDIDATES}")


@needs_vectors
def test_every_vector_is_there() -> None:
    inclusion, consistency = cases("inclusion"), cases("consistency")
    assert len(inclusion) > 50 and len(consistency) > 50
    assert sum(p.name == "happy-path.json" for p in inclusion + consistency) >= 10


@needs_vectors
@pytest.mark.parametrize("path", cases("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]),
                          [b64(p) for p in case["proof"] or []], b64(case["root"]))
    assert ok is not case["wantErr"], case["desc"]
    if path.name == "happy-path.json":
        assert ok


@needs_vectors
@pytest.mark.parametrize("path", cases("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = verify_consistency(case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]),
                            [b64(p) for p in case["proof"] or []])
    assert ok is not case["wantErr"], case["desc"]
    if path.name == "happy-path.json":
        assert ok
