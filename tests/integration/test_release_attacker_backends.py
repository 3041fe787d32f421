"""The release attacker on every backend, with differentially private releases mixed in (issue #24's
tests): sequences (hypothesis draws each one's seed) of calendar releases (at tick and at a period's
first note), exploratory exact releases by two analysts (alone, or several in one command), DP
releases paid from each analyst's budget, and new facts, run on the store's own analytics view (in
memory, a real SQLite file, a PostgreSQL schema). After every recorded exact release the released linear system is solved
(``tests/regions_harness.attack``): no combination singles out fewer than k persons, no suppressed
cell is pinned, and the regions kept incrementally are the regions from scratch. A DP release reads
the facts but never the regions: it records no exact release and leaves the regions as they were,
and a budget that cannot pay it refuses it before any noise is drawn, spending nothing. The same
sequence gives the same outcomes on every backend as in memory (the noise aside)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engagement_tracker.domain import InvalidInput
from engagement_tracker.domain.errors import BudgetExceeded, CalendarReserved, DisclosureRisk
from tests.conftest import _drop_schema
from tests.property.test_release_calendar import STOPS, SYSTEM, Calendar, _exploratory, _note
from tests.property.test_release_regions import attack
from tests.regions_harness import ANALYST, CONTEXTS, OTHER_ANALYST, SOURCES, THEMES, UNITS, fact

pytest.importorskip("opendp")

#: A new store per example (hypothesis runs several in one test).
EXAMPLES = itertools.count()
MONTHS = tuple(f"2026-{m:02d}" for m in range(1, 7))


def plan(seed: int) -> list[tuple[str, Any]]:
    rng = random.Random(seed)

    def query() -> dict[str, Any]:
        return {"by": rng.sample(["theme", "context", "unit", "period"], rng.randint(1, 2)),
                "unit": rng.choice([None, None, "A", "B"]), "period": rng.choice(["month", "quarter", "year"]),
                "since": rng.choice([None, "2026-01", "2026-04"]), "until": rng.choice([None, "2026-03", "2026-06"])}

    steps: list[tuple[str, Any]] = []
    for _ in range(22):
        r = rng.random()
        if r < 0.2:
            steps.append(("facts", [fact(rng.choice(sorted(SOURCES)), rng.choice(UNITS), rng.choice(MONTHS),
                                         rng.choice(THEMES), rng.choice(CONTEXTS)) for _ in range(rng.randint(1, 10))]))
        elif r < 0.4:
            steps.append(("dp", (rng.choice([ANALYST, OTHER_ANALYST]), query())))
        elif r < 0.5:
            steps.append(("tick", None))
        elif r < 0.58:
            steps.append(("note", rng.choice(["2026-Q1", "2026-Q2"])))
        elif r < 0.68:
            steps.append(("batch", [query() for _ in range(rng.randint(2, 3))]))
        else:
            steps.append((rng.choice(["query", "other"]), query()))
    return steps


def run(c: Calendar, steps: list[tuple[str, Any]]) -> list[str]:
    c.h.add([fact(s, u, m, "turnover", "tech") for s in sorted(SOURCES) for u in ("A/x", "B") for m in MONTHS[:3]])
    outcomes = []
    for kind, step in steps:
        before, regions = len(c.committed), c.h.view.regions("signal")
        if kind == "facts":
            c.h.add(step)
            continue
        if kind == "dp":
            analyst, query = step
            spent = c.app.budgets.balance(analyst)["spent_rho"]
            try:
                c.h.service.summary(analyst, **query, privacy="dp", epsilon=0.5)
                outcomes.append("dp released")
                assert c.app.budgets.balance(analyst)["spent_rho"] >= spent
            except BudgetExceeded:
                outcomes.append("dp refused: budget")
                assert c.app.budgets.balance(analyst)["spent_rho"] == spent  # refused before any noise: nothing spent
            except (InvalidInput, DisclosureRisk) as exc:
                outcomes.append(f"dp refused: {type(exc).__name__}")
            assert len(c.committed) == before and c.h.view.regions("signal") == regions  # DP never touches regions
            continue
        if kind == "tick":
            c.stop = min(c.stop + 1, len(STOPS) - 1)
            outcomes.append(f"tick recorded {c.h.service.publish_calendar(SYSTEM, STOPS[c.stop])}")
        elif kind == "note":
            _note(c, step)
            outcomes.append(f"note of {step}")
        else:
            try:
                outcomes.append(f"{kind} recorded {_exploratory(c, kind, step)}")
            except CalendarReserved:  # pragma: no cover - _exploratory catches it
                raise
        if len(c.committed) > before:
            attack(c.h)
    return outcomes


def fresh(url: str, n: int) -> tuple[str, str | None]:
    """A new store of the same backend as ``url`` for each example: the same file's folder with another
    name, or another PostgreSQL schema (returned, to drop)."""
    if url == "memory:":
        return url, None
    if url.startswith("sqlite:///"):
        return url.replace("etrack.sqlite", f"etrack-{n}.sqlite"), None
    base, schema = url.rsplit("schema=", 1)
    return f"{base}schema={schema}_{n}", f"{schema}_{n}"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_calendar_exploration_and_dp_releases_single_out_no_one_on_every_backend(store_url: str, seed: int) -> None:
    url, schema = fresh(store_url, next(EXAMPLES))
    steps = plan(seed)
    stored, reference = Calendar([], url, budgets=True), Calendar([], "memory:", budgets=True)
    try:
        ran = run(stored, steps)
        assert [o for o in ran if not o.startswith("dp")] == [o for o in run(reference, steps) if not o.startswith("dp")]
        event(f"{sum(o == 'dp released' for o in ran)} DP release(s), "
              f"{sum(o.endswith('recorded True') for o in ran)} exploratory recorded")
        assert stored.h.view.regions("signal") == stored.h.regions_from_scratch()
    finally:
        stored.close()
        reference.close()
        if schema is not None:
            _drop_schema(schema)


@pytest.mark.parametrize("seed", [1, 2])
def test_known_sequences_release_both_kinds(store_url: str, seed: int) -> None:
    """Two fixed sequences where both an exploratory exact release and a DP release get through."""
    stored = Calendar([], store_url, budgets=True)
    try:
        ran = run(stored, plan(seed))
        assert any(o == "dp released" for o in ran) and any(o.endswith("recorded True") for o in ran), ran
    finally:
        stored.close()
