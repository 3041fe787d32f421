"""An attacker inside the test: random data, random query sequences, and after every accepted
release the released linear system is solved. No combination of releases may depend on fewer
than k persons alone; no suppressed cell may be pinned to less than one fact; every refusal
records nothing; the regions kept incrementally are the regions computed from scratch."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters.views.memory import MemoryAnalyticsView
from engagement_tracker.domain import EtrackError, InvalidInput
from engagement_tracker.domain.errors import DisclosureRisk, PeriodCut
from engagement_tracker.projections.anonymity import Release
from tests.regions_harness import (
    ANALYST,
    CONTEXTS,
    MONTHS,
    OTHER_ANALYST,
    SOURCES,
    THEMES,
    UNITS,
    Harness,
    fact,
    isolating_sets,
    narrow_hidden_cells,
)
from tests.support import new_tracker

facts = st.lists(st.builds(fact, st.sampled_from(sorted(SOURCES)), st.sampled_from(UNITS), st.sampled_from(MONTHS),
                           st.sampled_from(THEMES), st.sampled_from(CONTEXTS)), max_size=25)
dataset = st.lists(st.builds(fact, st.sampled_from(sorted(SOURCES)), st.sampled_from(UNITS), st.sampled_from(MONTHS),
                             st.sampled_from(THEMES), st.sampled_from(CONTEXTS)), min_size=10, max_size=60)
queries = st.fixed_dictionaries({
    "by": st.lists(st.sampled_from(["theme", "context", "unit", "period"]), min_size=1, max_size=2, unique=True),
    "unit": st.sampled_from([None, None, "A", "B", "A/x"]),
    "period": st.sampled_from(["month", "quarter", "year"]),
    "k": st.sampled_from([None, 3, 3, 4]),
    "since": st.sampled_from([None, None, "2026-01", "2026-04", "2026-02"]),
    "until": st.sampled_from([None, None, "2026-03", "2026-06", "2026-05"]),
})
steps = st.lists(st.one_of(facts.map(lambda f: ("facts", f)), queries.map(lambda q: ("query", q)),
                           queries.map(lambda q: ("other", q)),
                           st.lists(queries, min_size=2, max_size=4).map(lambda qs: ("batch", qs))),
                 min_size=2, max_size=12)


def attack(h: Harness) -> None:
    k = min(e["k"] for e in h.view.ledger("signal"))  # every region stands for the k in force when it was made
    assert isolating_sets(h, k) == []  # rank(A) == rank(A without S's columns) for every |S| < k
    assert narrow_hidden_cells(h) == []
    assert h.view.regions("signal") == h.regions_from_scratch()  # incremental == from scratch


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=dataset, plan=steps)
def test_no_combination_of_releases_singles_out_fewer_than_k_persons(first, plan) -> None:
    app = new_tracker("memory:")
    try:
        h = Harness.open(app, MemoryAnalyticsView())
        h.add(first)
        for kind, step in plan:
            if kind == "facts":
                h.add(step)
                continue
            if kind == "batch":  # one command's releases (a note's sections): recorded together, each checked
                recorded = h.batch(OTHER_ANALYST, step)  # against the ones before it in the command
                event(f"a command recorded {min(recorded, 2)}+ releases together")
                if recorded:
                    attack(h)
                continue
            before = h.recorded()
            accepted = len(h.releases)
            try:
                h.summary(ANALYST if kind == "query" else OTHER_ANALYST, **step)
            except (DisclosureRisk, InvalidInput):
                assert h.recorded() == before  # a refused call records nothing
                continue
            if len(h.releases) > accepted:
                attack(h)
            else:
                assert h.recorded() == before  # nothing published, nothing recorded
    finally:
        app.close()


def test_the_attacker_finds_what_the_pairwise_ledger_let_through() -> None:
    """The oracle is not vacuous: three releases the old pairwise check accepted isolate one person."""
    app = new_tracker("memory:")
    try:
        h = Harness.open(app, MemoryAnalyticsView())
        h.add([fact(f"e{i}", "A/x", "2026-01", "turnover", "tech") for i in range(5)]
              + [fact(f"e{i}", "B", "2026-01", "turnover", "tech") for i in range(5)])
        h.summary(by=["theme"], period="year")
        h.add([fact("c0", "A/x", "2026-01", "turnover", "tech")])
        try:
            h.summary(by=["theme"], unit="A", period="year")
        except DisclosureRisk:
            pass
        else:
            raise AssertionError("release 2 isolates the cohort's fact and must be refused")
        for unit in ("A", "B"):  # what the attacker would hold without the rule (each pair differs by >= 5)
            h.releases.append((len(h.facts), *_bypass(h, unit)))
        assert ("p6", "p7", "p8") in {group[:3] for group in isolating_sets(h, 5)}  # R2 + R3 - R1: the cohort's fact
    finally:
        app.close()


def _bypass(h: Harness, unit: str) -> tuple[Release, dict[str, tuple[str | None, str | None]], dict[str, Any]]:
    from engagement_tracker.projections.anonymity import Level, Policy, release, tally
    from tests.regions_harness import in_scope

    scope = in_scope(h.facts, unit, None, None)
    rel = release(tally(scope), ["theme"], Policy(k=3), Level(time="year")).published()
    return rel, {}, {"unit": unit}


def test_every_error_is_an_etrack_error() -> None:
    assert issubclass(DisclosureRisk, EtrackError)


periods = st.sampled_from(["2026-Q1", "2026-Q2", "2026", "2026-02", "2026-05"])


def _ask_as_planned(h: Harness, analyst: Any, row: dict[str, Any]) -> Any:
    ask = {"signal": h.service.summary, "activity": h.service.activity, "testimonial": h.service.testimonials}
    return ask[row["family"]](analyst, row["by"].split(","), None, row["level"], row["k"], row["since"], row["until"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=dataset, plan=steps, period=periods, data=st.data())
def test_the_planner_says_what_asking_would_answer(first, plan, period, data) -> None:
    """After any history of releases by two analysts (alone or in one command), the plan records
    nothing, and asking one of its shapes answers as the plan said: a releasable one is released
    (never refused), a closed one refused, an empty one empty."""
    app = new_tracker("memory:")
    try:
        h = Harness.open(app, MemoryAnalyticsView())
        h.add(first)
        for kind, step in plan:
            if kind == "facts":
                h.add(step)
            elif kind == "batch":
                h.batch(OTHER_ANALYST, step)
            else:
                try:
                    h.summary(ANALYST if kind == "query" else OTHER_ANALYST, **step)
                except (DisclosureRisk, InvalidInput):
                    pass
        before = h.recorded()
        rows = h.service.plan(ANALYST, period)
        assert h.recorded() == before  # planning records nothing
        signal_rows = [r for r in rows if r["family"] == "signal"]
        row = data.draw(st.sampled_from(signal_rows))
        event(f"planned {row['status']}")
        if row["status"] == "releasable":
            rel = _ask_as_planned(h, ANALYST, row)
            assert rel.rows and len(h.view.ledger("signal")) == before[0] + 1
        elif row["status"] == "closed":
            try:
                _ask_as_planned(h, ANALYST, row)
            except DisclosureRisk:
                pass
            else:
                raise AssertionError(f"planned closed, yet released: {row}")
            assert h.recorded() == before
        elif row["status"] == "empty":
            assert not _ask_as_planned(h, ANALYST, row).rows
            assert h.recorded() == before
        else:
            assert row["status"] == "cut", row
            try:
                _ask_as_planned(h, ANALYST, row)
            except PeriodCut:
                pass
            else:
                raise AssertionError(f"planned cut, yet released: {row}")
    finally:
        app.close()
