"""Region bookkeeping on every backend: the same releases give the same regions and parts in
memory, SQLite and PostgreSQL, and those regions are the ones computed fact by fact."""

from __future__ import annotations

import random

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.views.memory import MemoryAnalyticsView
from engagement_tracker.domain import DisclosureRisk, InvalidInput
from tests.regions_harness import ANALYST, CONTEXTS, MONTHS, OTHER_ANALYST, SOURCES, THEMES, UNITS, Harness, fact
from tests.support import new_tracker


def plan(seed: int, batches: bool = False) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    steps: list[tuple[str, object]] = []
    for _ in range(24):
        if batches and rng.random() < 0.15:  # one command asking several releases (recorded together)
            steps.append(("batch", [{"by": [rng.choice(["theme", "context", "unit"])], "period": rng.choice(["quarter", "year"]),
                                     "unit": rng.choice([None, "A", "B"])} for _ in range(rng.randint(2, 3))]))
        elif rng.random() < 0.3:
            steps.append(("facts", [fact(rng.choice(sorted(SOURCES)), rng.choice(UNITS), rng.choice(MONTHS),
                                         rng.choice(THEMES), rng.choice(CONTEXTS)) for _ in range(rng.randint(1, 12))]))
        else:
            steps.append(("query", {
                "by": rng.sample(["theme", "context", "unit", "period"], rng.randint(1, 2)),
                "unit": rng.choice([None, None, "A", "B"]), "period": rng.choice(["month", "quarter", "year"]),
                "since": rng.choice([None, "2026-01", "2026-04"]), "until": rng.choice([None, "2026-03", "2026-06"]),
            }))
    return steps


def run(h: Harness, steps: list[tuple[str, object]]) -> list[str]:
    outcomes = []
    h.add([fact(s, u, m, "turnover", "tech") for s in sorted(SOURCES) for u in ("A/x", "B") for m in MONTHS[:3]])
    for i, (kind, step) in enumerate(steps):
        if kind == "facts":
            h.add(step)  # type: ignore[arg-type]
            continue
        if kind == "batch":
            outcomes.append(f"batch recorded {h.batch(ANALYST, step)}")  # type: ignore[arg-type]
            continue
        before = h.recorded()
        try:
            rel = h.summary(ANALYST if i % 2 else OTHER_ANALYST, **step)  # type: ignore[arg-type]
            outcomes.append(f"released {len(rel.released)} total {rel.total}")
        except (DisclosureRisk, InvalidInput) as refused:
            assert h.recorded() == before  # nothing recorded
            outcomes.append(type(refused).__name__)
    return outcomes


@pytest.mark.parametrize("seed", [1, 2])
def test_every_backend_keeps_the_same_regions_and_they_equal_a_recount(store_url, seed: int) -> None:  # type: ignore[no-untyped-def]
    app, reference_app = new_tracker(store_url), new_tracker("memory:")
    try:
        stored = Harness.open(app, bootstrap.analytics(app).view)
        reference = Harness.open(reference_app, MemoryAnalyticsView())
        steps = plan(seed, batches=True)
        assert run(stored, steps) == run(reference, steps)
        assert len(stored.releases) >= 3  # the plan is not all refusals
        assert stored.recorded() == reference.recorded()  # the same ledger size, regions and parts
        assert stored.view.regions("signal") == stored.regions_from_scratch()
    finally:
        app.close()
        reference_app.close()


def test_two_releases_at_the_same_instant_are_checked_one_after_the_other(durable_store_url) -> None:  # type: ignore[no-untyped-def]
    """Each release alone is safe; together they would leave unit B (one cohort's signal) as a region of
    its own: of two analysts releasing at the same instant, exactly one gets through."""
    import threading
    from datetime import UTC, datetime

    from engagement_tracker.adapters.bootstrap import read_model_backend
    from engagement_tracker.projections.analytics import RELEASE_RULES, AnalystService, Analytics

    setup = new_tracker(durable_store_url)
    h = Harness.open(setup, bootstrap.analytics(setup).view)
    h.add([fact(f"e{i}", "A/x", "2026-01", "turnover", "tech") for i in range(6)]
          + [fact("c0", "A/y", "2026-01", "turnover", "tech"), fact("c1", "B", "2026-01", "turnover", "tech")])
    setup.close()
    grants = {str(a.party): frozenset({"analyst"}) for a in (ANALYST, OTHER_ANALYST)}
    apps = [new_tracker(durable_store_url) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def release(app, analyst, unit) -> None:  # type: ignore[no-untyped-def]
        service = AnalystService(Analytics(bootstrap.analytics(app).view, read_model_backend(app).records),
                                 lambda: datetime(2026, 7, 1, tzinfo=UTC), 3, grants=lambda: grants,
                                 rules=RELEASE_RULES)
        start.wait()
        try:
            service.summary(analyst, ["theme"], unit=unit, period="year")
            outcomes.append("released")
        except DisclosureRisk:
            outcomes.append("refused")

    threads = [threading.Thread(target=release, args=(a, who, unit))
               for a, who, unit in zip(apps, (ANALYST, OTHER_ANALYST), (None, "A"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "released"]
    assert len(bootstrap.analytics(apps[0]).view.ledger("signal")) == 1
    for a in apps:
        a.close()
