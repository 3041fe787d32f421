"""DP you can plan (issue #24, item 5): the preview gives a release's threshold and 95% interval
before anything is spent, from the parameters alone; a release past the budget is refused before
any noise is drawn. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import BudgetExceeded, NotPermitted, Role
from engagement_tracker.projections.analytics import RELEASE_RULES, AnalystService
from tests.integration.test_differential_privacy import many_facts, service_with
from tests.support import admin, granted, new_tracker


class CountingRules(type(RELEASE_RULES)):  # type: ignore[misc]  # the real rules, counting the noise they draw
    def __init__(self) -> None:
        self.draws = 0

    def dp_release(self, *args: Any, **kwargs: Any) -> Any:
        self.draws += 1
        return super().dp_release(*args, **kwargs)


@pytest.fixture
def app(store_url):  # type: ignore[no-untyped-def]
    tracker = new_tracker(store_url)
    yield tracker
    tracker.close()


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_the_preview_is_what_the_release_is_made_under_and_costs_nothing(app, epsilon: float) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, 3.0, admin(app))
    empty = bootstrap.analyst_service(app).preview(analyst, epsilon)  # before any fact exists
    service = service_with(app, many_facts())
    balance, ledger = app.budgets.balance(analyst), service.analytics.view.ledger("signal")
    preview = service.preview(analyst, epsilon)
    assert preview == empty  # the parameters alone: the facts change nothing
    assert app.budgets.balance(analyst) == balance and service.analytics.view.ledger("signal") == ledger
    assert {"mechanism", "epsilon", "delta", "threshold", "half_width_95"} <= set(preview)
    rel = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=epsilon)
    assert (rel.mechanism, rel.epsilon, rel.delta, rel.threshold) == (
        preview["mechanism"], preview["epsilon"], preview["delta"], preview["threshold"])
    assert rel.rows and all(r.high - r.value == preview["half_width_95"] == r.value - r.low for r in rel.rows)
    assert all(r.value >= preview["threshold"] for r in rel.rows)


def test_a_preview_needs_the_analyst_grant(app) -> None:  # type: ignore[no-untyped-def]
    outsider = granted(app, Role.AUDITOR, "Aude")
    with pytest.raises(NotPermitted):
        bootstrap.analyst_service(app).preview(outsider, 1.0)


def test_a_release_past_the_budget_is_refused_before_any_noise_is_drawn(app) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, 0.6, admin(app))
    service_with(app, many_facts())  # the facts, in the app's view
    rules = CountingRules()
    real = bootstrap.analyst_service(app)
    service = AnalystService(real.analytics, app.clock, 5, grants=app.held_grants, rules=rules,
                             spend=lambda a, e, q: app.budgets.spend(a, e, q).value,
                             afford=app.budgets.require_affordable)
    service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.5)
    assert rules.draws == 1
    before = app.budgets.balance(analyst)
    with pytest.raises(BudgetExceeded, match="before any noise was drawn"):
        service.summary(analyst, ["context"], period="year", privacy="dp", epsilon=0.5)
    assert rules.draws == 1 and app.budgets.balance(analyst) == before  # no noise drawn, nothing spent
    service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.5)  # the recorded answer: free
    assert rules.draws == 1 and app.budgets.balance(analyst) == before
