"""Publishing a growing trail a step at a time gives the tiles publishing it once gives (plus the partial tiles
earlier checkpoints need), and never writes a full tile twice."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.projections.tlog_tiles import WIDTH, tiles_of
from tests.interop.test_go_sumdb import publish, synthetic_records
from tests.support import FakeClock, new_tracker

KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 600), min_size=1, max_size=3))
def test_a_step_by_step_publication_equals_one_publication(steps: list[int]) -> None:
    app = new_tracker("memory:", FakeClock())
    trail = bootstrap.audit_trail(app)
    with tempfile.TemporaryDirectory() as tmp:
        stepwise, once = Path(tmp) / "stepwise", Path(tmp) / "once"
        size, written = 0, set[str]()
        records = list(synthetic_records(1, sum(steps)))
        for step in steps:
            trail.apply(records[size:size + step])
            before = files(stepwise) if stepwise.exists() else {}
            summary = publish(trail, KEY, stepwise, size)
            after = files(stepwise)
            new = {p for p in after if p not in before and p != "checkpoint"}
            assert summary["tiles_written"] == len(new) == len(set(tiles_of(size + step)) - set(tiles_of(size)))
            assert not new & written  # nothing written twice
            assert all(after[p] == data for p, data in before.items() if p != "checkpoint")
            written |= new
            size += step
        publish(trail, KEY, once, 0)
        a, b = files(stepwise), files(once)
        assert {p: a[p] for p in b if p != "checkpoint"} == {p: d for p, d in b.items() if p != "checkpoint"}
        assert all(".p/" in p for p in set(a) - set(b))  # only the partial tiles of earlier checkpoints
        assert len(b) - 1 == len(tiles_of(size)) and size // WIDTH == sum(1 for p in b if p.startswith("tile/0/")
                                                                            and ".p/" not in p)
    app.close()
