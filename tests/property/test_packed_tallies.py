"""A whole-history release holds each fine cell's stored row until the cell is refined (issue #28: most of
what such a release holds). It keeps only the persons and sources, deflated (``analytics.packed``), and
reads the tally back from them, its fine key and its facts (``analytics.unpacked``): the same tally as the
stored row decodes to, whatever the names, units and dimensions."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.projections.analytics import packed, unpacked
from engagement_tracker.projections.anonymity import Fact, tally, tally_of, tally_row
from engagement_tracker.projections.regions import fine_key

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
facts = st.lists(st.builds(
    Fact, st.sampled_from(["signal", "activity"]), st.sampled_from(["signal", "sessions_held"]),
    st.sampled_from(["A", "A/x", "Bé/ü \"q\"", "C\nD"]), st.sampled_from(["2026-01", "2027-12"]), names,
    st.frozensets(names, min_size=1, max_size=4), st.none() | names, st.none() | names, st.none() | names,
    st.none() | st.integers(-3, 5)), min_size=1, max_size=30)


@given(facts)
def test_a_packed_row_reads_back_as_the_stored_row_decodes(items: list[Fact]) -> None:
    for t in tally(items):
        row = tally_row(t)
        kept = packed(row)
        assert unpacked(fine_key(t), t.facts, kept) == tally_of(row, sys.intern) == t
        assert len(kept) < len(row[10]) + len(row[11]) + 64  # never much more than the JSON it keeps
