"""Whole-history releases stream: a release is built from stored tally rows decoded one at a time,
and recorded a page of fine cells at a time. The result is the one the whole-at-once path gives
(the same release, parts and regions), on every backend, and the memory it takes is bounded by
the page, not by the history."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable
from typing import Any

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.views.memory import MemoryAnalyticsView
from engagement_tracker.projections.analytics import pseudonymous
from engagement_tracker.projections.anonymity import (
    Fact,
    Level,
    Policy,
    Tallies,
    Tally,
    release,
    tally,
    tally_of,
    tally_row,
)
from engagement_tracker.projections.regions import cover, refine
from tests.integration.test_regions_backends import plan, run
from tests.regions_harness import ANALYST, CONTEXTS, MONTHS, SOURCES, THEMES, UNITS, Harness, fact
from tests.support import new_tracker


def whole_at_once(h: Harness, seq: int, by: list[str], period: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The release, and the parts and regions it leaves, as computed before streaming: every tally
    decoded, every covered cell refined at once against every part and region of the family."""
    tallies = h.view.tallies("signal")
    k = max([3, *(e["k"] for e in h.view.ledger("signal"))])
    rel = release(tallies, by, Policy(k=k), Level(time=period)).published()
    covered = {key: (label, cell, pseudonymous(t)) for key, (label, cell, t) in cover(rel, tallies).items()}
    parts, regions = h.view.parts("signal"), h.view.regions("signal")
    change = refine("signal", seq, covered, parts, regions, k, 0.5)
    return (rel, {**parts, **change.parts},
            {**{sig: b for sig, b in regions.items() if sig not in change.drop}, **{b.sig: b for b in change.put}})


def test_a_release_recorded_a_page_at_a_time_equals_the_whole_at_once_path(store_url) -> None:  # type: ignore[no-untyped-def]
    app = new_tracker(store_url)
    try:
        h = Harness.open(app, bootstrap.analytics(app).view)
        h.view.release_page = 2  # many pages, even on this small store
        rng = random.Random(5)
        h.add([fact(s, u, m, rng.choice(THEMES), rng.choice(CONTEXTS))
               for s in sorted(SOURCES) for u in UNITS for m in MONTHS])
        for seq, (by, period) in enumerate([(["theme", "period"], "quarter"), (["theme", "period"], "year"),
                                            (["theme"], "month")], start=1):  # nested: each one accepted
            expected_rel, expected_parts, expected_regions = whole_at_once(h, seq, by, period)
            assert h.summary(ANALYST, by=by, period=period) == expected_rel
            assert len(h.view.ledger("signal")) == seq  # recorded
            assert h.view.parts("signal") == expected_parts
            assert h.view.regions("signal") == expected_regions
        assert h.view.regions("signal") == h.regions_from_scratch()
    finally:
        app.close()


def test_paged_and_unpaged_views_keep_the_same_ledger_regions_and_parts(store_url) -> None:  # type: ignore[no-untyped-def]
    app, reference_app = new_tracker(store_url), new_tracker("memory:")
    try:
        paged = Harness.open(app, bootstrap.analytics(app).view)
        paged.view.release_page = 1
        whole = Harness.open(reference_app, MemoryAnalyticsView())
        whole.view.release_page = 10**9
        steps = plan(3)
        assert run(paged, steps) == run(whole, steps)
        assert len(paged.releases) >= 3
        assert paged.recorded() == whole.recorded()
        assert paged.view.regions("signal") == paged.regions_from_scratch()
    finally:
        app.close()
        reference_app.close()


# --- memory ------------------------------------------------------------------------------------


def peak_of(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes traced while ``fn`` runs (above what was allocated before it)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


def many_cells(cells: int = 3_000, persons: int = 25) -> list[Tally]:
    rng = random.Random(11)
    people = [f"{i:08d}-0000-4000-8000-{i:012d}" for i in range(400)]
    out = []
    for i in range(cells):
        chosen = rng.sample(people, persons)
        out.append(Tally("signal", "signal", f"U{i % 7}", f"{2020 + i // 600}-{(i // 50) % 12 + 1:02d}",
                         ("turnover", "energy_gain")[i % 2], f"c{i % 3}", "drains", 1 + i % 5, persons,
                         tuple(sorted((p, 1) for p in chosen)), tuple(sorted((f"s-{p}", 1) for p in chosen))))
    return out


def test_a_release_over_stored_rows_holds_one_decoded_tally_at_a_time() -> None:
    rows = [tally_row(t) for t in many_cells()]
    decoded, tallies = peak_of(lambda: [tally_of(r) for r in rows])
    streamed, rel = peak_of(lambda: release(Tallies(rows), ["theme", "period"], Policy(k=5), Level(time="quarter")))
    assert rel == release(tallies, ["theme", "period"], Policy(k=5), Level(time="quarter"))  # the same release
    assert rel.released  # something is published
    assert streamed < decoded / 3, (streamed, decoded)


def test_recording_a_release_a_page_at_a_time_bounds_its_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    sources = {f"s{i}": frozenset({f"person-{i:04d}-with-a-long-enough-name"}) for i in range(60)}
    facts = [Fact("signal", "signal", unit, f"202{y}-{m:02d}", source, sources[source], theme, context, "drains", n)
             for unit in ("A", "B", "C") for y in (4, 5) for m in range(1, 13) for theme in ("turnover", "energy")
             for context in ("tech", "management") for n in (1, 2, 3)
             for source in rng.sample(sorted(sources), 16)]
    peaks, recorded = {}, {}
    for page in (25, 10**9):
        app = new_tracker(f"sqlite:///{tmp_path / f'page-{page}.sqlite'}")
        try:
            h = Harness.open(app, bootstrap.analytics(app).view)
            h.add(facts)
            h.view.release_page = page
            peaks[page], rel = peak_of(lambda h=h: h.service.summary(ANALYST, by=["theme", "period"], period="year"))
            assert rel.released and len(h.view.ledger("signal")) == 1
            recorded[page] = h.recorded()
        finally:
            app.close()
    assert recorded[25] == recorded[10**9]  # the same ledger, regions and parts
    assert len(tally(facts)) > 400  # many pages of cells
    assert peaks[25] < peaks[10**9] / 2, peaks
