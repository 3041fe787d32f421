"""PrivacyBudget, store-free: budgets are kept in rho (zCDP), which adds up across releases; a query
digest is paid for once; the budget is never exceeded; a repeat or a refusal records nothing;
replaying the events gives the same budget."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.errors import BudgetExceeded, InvalidInput
from engagement_tracker.domain.privacy_budget import MAX_RHO, DpCost, PrivacyBudget, rho_of_pure_epsilon
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

AT = datetime(2026, 5, 1, tzinfo=UTC)
ANALYST = Actor(UUID("00000000-0000-4000-8000-00000000a001"), Role.ANALYST)
ADMIN = Actor(UUID("00000000-0000-4000-8000-00000000ad01"), Role.ADMIN)


def cost(rho: float) -> DpCost:
    return DpCost(rho, 1.0, 1e-6, "gaussian_threshold", 40)


rhos = st.floats(min_value=1e-6, max_value=2.0, allow_nan=False)
spends = st.lists(st.tuples(st.sampled_from(["q1", "q2", "q3", "q4", "q5", "q6"]), rhos), max_size=30)


@given(grants=st.lists(rhos, min_size=1, max_size=4), asked=spends)
def test_spends_compose_by_addition_each_digest_paid_once_and_the_budget_never_exceeded(
    grants: list[float], asked: list[tuple[str, float]],
) -> None:
    budget = PrivacyBudget.start(ANALYST.party, AT)
    for rho in grants:
        budget.grant(ADMIN, rho, AT)
    granted = math.fsum(grants)
    paid: dict[str, float] = {}  # the model: digest -> rho paid
    for query, rho in asked:
        if query in paid:
            assert budget.affords(rho, query)  # a repeat is free, whatever it would cost new
            assert budget.spend(ANALYST, cost(rho), query, AT) is False  # paid already: nothing recorded
        elif math.fsum(paid.values()) + rho > granted + 1e-12:
            assert not budget.affords(rho, query)
            with pytest.raises(BudgetExceeded, match="remains"):
                budget.spend(ANALYST, cost(rho), query, AT)
        else:
            assert budget.spend(ANALYST, cost(rho), query, AT) is True
            paid[query] = rho
        assert len(budget.pending_events) == 1 + len(grants) + len(paid)  # Created, grants, one BudgetSpent per digest
        assert budget.spent == pytest.approx(math.fsum(paid.values()), abs=1e-12)  # rho composes by addition
        assert budget.spent <= granted + 1e-12 and budget.remaining == pytest.approx(granted - budget.spent, abs=1e-12)
        assert budget.paid == paid and budget.releases == len(paid)
    replayed = None
    for event in budget.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, PrivacyBudget)
    assert (replayed.granted, replayed.spent, replayed.paid, replayed.releases) == (
        budget.granted, budget.spent, budget.paid, budget.releases)


def test_a_spend_records_what_the_release_was_made_under() -> None:
    budget = PrivacyBudget.start(ANALYST.party, AT)
    budget.grant(ADMIN, 0.5, AT)
    budget.spend(ANALYST, DpCost(0.02, 1.0, 1e-6, "gaussian_threshold", 49), "q", AT)
    spent = budget.pending_events[-1]
    assert isinstance(spent, PrivacyBudget.BudgetSpent)
    assert (spent.rho, spent.epsilon, spent.delta, spent.mechanism, spent.threshold, spent.query) == (
        0.02, 1.0, 1e-6, "gaussian_threshold", 49, "q")


@pytest.mark.parametrize("bad", [0, -0.1, math.inf, math.nan, MAX_RHO * 2, "1", True, None])
def test_a_grant_of_anything_but_a_positive_rho_is_refused_and_records_nothing(bad: object) -> None:
    budget = PrivacyBudget.start(ANALYST.party, AT)
    with pytest.raises(InvalidInput, match="rho"):
        budget.grant(ADMIN, bad, AT)  # type: ignore[arg-type]
    assert len(budget.pending_events) == 1


@pytest.mark.parametrize(("field", "args"), [
    ("rho", (0.0, 1.0, 1e-6, "gaussian_threshold", 40)), ("epsilon", (0.1, 0.0, 1e-6, "gaussian_threshold", 40)),
    ("delta", (0.1, 1.0, 1.0, "gaussian_threshold", 40)), ("delta", (0.1, 1.0, 0.0, "gaussian_threshold", 40)),
])
def test_a_cost_out_of_range_is_refused(field: str, args: tuple[float, float, float, str, int]) -> None:
    with pytest.raises(InvalidInput, match=field):
        DpCost(*args)


def test_a_spend_that_is_no_cost_is_refused_and_records_nothing() -> None:
    budget = PrivacyBudget.start(ANALYST.party, AT)
    budget.grant(ADMIN, 1.0, AT)
    with pytest.raises(InvalidInput, match="DpCost"):
        budget.spend(ANALYST, 0.5, "q", AT)  # type: ignore[arg-type]
    assert len(budget.pending_events) == 2


@given(epsilon=st.floats(min_value=1e-3, max_value=10.0))
def test_the_old_epsilon_form_reads_as_rho_epsilon_squared_over_two(epsilon: float) -> None:
    granted = {"epsilon": epsilon}
    PrivacyBudget.BudgetGranted.upcast_v2_v3(granted)
    assert granted == {"rho": rho_of_pure_epsilon(epsilon)} and granted["rho"] == pytest.approx(epsilon**2 / 2)
    spent = {"epsilon": epsilon, "query": "q"}
    PrivacyBudget.BudgetSpent.upcast_v2_v3(spent)
    assert spent == {"epsilon": epsilon, "query": "q", "rho": epsilon * epsilon / 2, "delta": 1e-6,
                     "mechanism": "laplace_threshold", "threshold": None}
