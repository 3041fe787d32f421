"""PrivacyBudget, store-free: a query digest is paid for once; the budget is never exceeded; a
repeat or a refusal records nothing; replaying the events gives the same budget."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.errors import BudgetExceeded
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

AT = datetime(2026, 5, 1, tzinfo=UTC)
ANALYST = Actor(UUID("00000000-0000-4000-8000-00000000a001"), Role.ANALYST)
ADMIN = Actor(UUID("00000000-0000-4000-8000-00000000ad01"), Role.ADMIN)

spends = st.lists(st.tuples(st.sampled_from(["q1", "q2", "q3", "q4"]), st.sampled_from([0.25, 0.5, 1.0, 2.0])),
                  max_size=25)


@given(granted=st.sampled_from([0.5, 1.0, 2.5, 4.0]), asked=spends)
def test_each_query_digest_is_paid_once_and_the_budget_never_exceeded(granted: float, asked: list[tuple[str, float]]) -> None:
    budget = PrivacyBudget.start(ANALYST.party, AT)
    budget.grant(ADMIN, granted, AT)
    paid: dict[str, float] = {}  # the model: digest -> epsilon paid
    for query, epsilon in asked:
        if query in paid:
            assert budget.spend(ANALYST, epsilon, query, AT) is False  # paid already: nothing recorded
        elif sum(paid.values()) + epsilon > granted + 1e-9:
            with pytest.raises(BudgetExceeded):
                budget.spend(ANALYST, epsilon, query, AT)
        else:
            assert budget.spend(ANALYST, epsilon, query, AT) is True
            paid[query] = epsilon
        assert len(budget.pending_events) == 2 + len(paid)  # Created, BudgetGranted, one BudgetSpent per digest
        assert budget.spent == pytest.approx(sum(paid.values())) and budget.spent <= granted + 1e-9
        assert budget.paid == paid and budget.releases == len(paid)
    replayed = None
    for event in budget.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, PrivacyBudget)
    assert (replayed.spent, replayed.paid, replayed.releases) == (budget.spent, budget.paid, budget.releases)
