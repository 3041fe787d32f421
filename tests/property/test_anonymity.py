"""The release rules, proven over random datasets and random query shapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain import DisclosureRisk, InvalidInput
from engagement_tracker.projections.anonymity import (
    DIMENSIONS,
    Fact,
    Level,
    Policy,
    build_cells,
    hidden_interval,
    release,
    tally,
    trends,
)
from engagement_tracker.projections.regions import Refinement, cover, refine

persons = st.sampled_from([f"p{n}" for n in range(25)])
facts_strategy = st.lists(
    st.builds(
        lambda family_metric, unit, month, source, who, theme, context, polarity, intensity: Fact(
            "signal", family_metric, unit, month, source, frozenset(who), theme, context, polarity, intensity),
        st.just("signal"),
        st.sampled_from(["Ops/Lyon", "Ops/Lille", "Finance", "Digital/Web/Front"]),
        st.sampled_from([f"2026-{m:02d}" for m in range(1, 13)]),
        st.sampled_from([f"e{n}" for n in range(12)]),
        st.sets(persons, min_size=1, max_size=3),
        st.sampled_from(["turnover", "misalignment", "energy_gain", "learning_dip"]),
        st.sampled_from(["tech", "business", "management"]),
        st.sampled_from(["drains", "gives"]),
        st.integers(1, 5),
    ),
    max_size=120,
)
shapes = st.lists(st.sampled_from([d for d in DIMENSIONS if d != "metric"]), min_size=1, max_size=3, unique=True)
policies = st.builds(Policy, k=st.integers(3, 8), dominance=st.sampled_from([0.5, 0.6, 0.8]),
                     max_hidden_share=st.sampled_from([0.0, 0.25, 1.0]))


@given(facts=facts_strategy, by=shapes, policy=policies, time=st.sampled_from(["month", "quarter", "year"]))
def test_released_cells_stand_for_k_persons_and_hidden_cells_stay_hidden(facts, by, policy, time) -> None:
    rel = release(facts, by, policy, Level(time=time))
    cells = build_cells(facts, by, rel.level)
    for row in rel.rows:
        cell = cells[tuple(row.dims[d] for d in by)]
        if row.status == "released":
            assert len(cell.persons) >= policy.k
            assert max(cell.sources.values()) < policy.dominance * cell.facts
            if policy.dominance == 0.5:
                assert len(cell.sources) >= 3  # no source makes half: at least three sources
            assert row.value == cell.facts
            assert "reason" not in row.to_dict()
        else:
            assert row.value is None and row.reason in ("k", "dominance", "complementary")
            assert row.to_dict()["status"] == "suppressed" and "reason" not in row.to_dict()
    if len(rel.population) >= policy.k:
        assert {tuple(r.dims[d] for d in by) for r in rel.rows} == set(cells)  # every cell is marked
    interval = hidden_interval(rel)
    if interval is not None:  # the released data leave every hidden cell undetermined
        low, high = interval
        assert high - low > 1
        for row in rel.hidden:
            assert low <= cells[tuple(row.dims[d] for d in by)].facts <= high
    if rel.hidden and rel.total is not None:
        assert len(rel.hidden) >= 2
        hidden_cells = [cells[tuple(r.dims[d] for d in by)] for r in rel.hidden]
        assert len(set().union(*(c.persons for c in hidden_cells))) >= policy.k  # the remainder stands for k
    if len(rel.population) < policy.k:
        assert rel.total is None and rel.rows == ()  # not even which cells exist


@given(facts=facts_strategy, by=shapes)
def test_no_identifier_leaves_in_a_release(facts, by) -> None:
    rel = release(facts, by)
    text = repr([r.to_dict() for r in rel.rows]) + repr(rel.total)
    assert not any(f"'p{n}'" in text for n in range(25)) and "'e1'" not in text


@given(facts=facts_strategy)
def test_coarsening_comes_before_suppressing(facts) -> None:
    rel = release(facts, ["theme", "period"], Policy(k=5, max_hidden_share=0.0))
    finer = release(facts, ["theme", "period"], Policy(k=5, max_hidden_share=0.0), auto_coarsen=False)
    hidden_share = lambda r: sum(  # noqa: E731
        c.facts for k, c in build_cells(facts, r.by, r.level).items()
        if any(tuple(h.dims[d] for d in r.by) == k for h in r.hidden)) / max(len(facts), 1)
    assert hidden_share(rel) <= hidden_share(finer)


def test_two_releases_whose_populations_differ_by_one_person_refuse_the_second() -> None:
    """The region rule, purely: the same release again is harmless; one new person is a region of one."""
    facts = [Fact("signal", "signal", "Ops", "2026-01", f"e{n}", frozenset({f"p{n}"}), "turnover", "tech", "drains", 3)
             for n in range(10)]

    def publish(seq: int, facts: list[Fact], parts: dict, regions: dict) -> Refinement:  # type: ignore[type-arg]
        rel = release(facts, ["theme"])
        return refine("signal", seq, cover(rel.published(), tally(facts)), parts, regions, 5, 0.5)

    first = publish(1, facts, {}, {})
    regions = {b.sig: b for b in first.put}
    again = publish(2, facts, first.parts, regions)  # the same release again is harmless
    assert [b.facts for b in again.put] == [10] and again.drop == [b.sig for b in first.put]
    one_more = [*facts, Fact("signal", "signal", "Ops", "2026-01", "e99", frozenset({"p99"}), "turnover", "tech",
                             "drains", 3)]
    with pytest.raises(DisclosureRisk, match="fewer than 5 persons"):
        publish(2, one_more, first.parts, regions)
    five_more = one_more + [Fact("signal", "signal", "Ops", "2026-01", f"x{n}", frozenset({f"x{n}"}), "turnover",
                                 "tech", "drains", 3) for n in range(4)]
    assert publish(2, five_more, first.parts, regions).put  # 5 more persons: allowed


def test_k_is_never_below_three_and_shapes_are_checked() -> None:
    with pytest.raises(InvalidInput):
        Policy(k=2)
    with pytest.raises(InvalidInput):
        release([], ["theme", "theme"])
    with pytest.raises(InvalidInput):
        release([], ["person"])


def test_trends_rise_fall_and_flag_a_weak_signal_becoming_strong() -> None:
    facts = []
    for month, n in zip(range(1, 6), [6, 8, 10, 13, 16], strict=True):
        for i in range(n):
            facts.append(Fact("signal", "signal", "Ops", f"2026-{month:02d}", f"e{i % 8}",
                              frozenset({f"p{i}"}), "turnover", "management", "drains", 3))
    for month in range(1, 6):
        for i in range(6):
            facts.append(Fact("signal", "signal", "Ops", f"2026-{month:02d}", f"e{i}", frozenset({f"q{i}"}),
                              "learning_dip", "tech", "drains", 2))
    out = {t["theme"]: t for t in trends(release(facts, ["theme", "period"]).published())}
    assert out["turnover"]["direction"] == "rising" and out["turnover"]["becoming_strong"]
    assert {t["released_as"] for t in out.values()} == {"exact"}  # trends say what they read
    assert out["learning_dip"]["kind"] == "learning_dip" and out["learning_dip"]["direction"] == "stable"


@given(facts=facts_strategy, by=shapes, policy=policies, split=st.integers(0, 120))
def test_a_release_from_tallies_equals_the_release_from_facts(facts, by, policy, split) -> None:
    tallies = tally(tally(facts[:split]) + tally(facts[split:]))  # built in two increments, merged
    assert tallies == tally(facts)
    from_facts, from_tallies = release(facts, by, policy), release(tallies, by, policy)
    assert (from_tallies.rows, from_tallies.total, from_tallies.level) == (
        from_facts.rows, from_facts.total, from_facts.level)
    assert {p for t in tallies for p, _ in t.persons} == {p for f in facts for p in f.persons}
