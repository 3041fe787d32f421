"""DP you can plan (issue #24, item 5): the preview gives a release's threshold and 95% interval
before anything is spent, from the parameters alone; a release past the budget is refused before
any noise is drawn. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import BudgetExceeded, InvalidInput, NotPermitted, Role
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.projections.analytics import RELEASE_RULES, AnalystService
from engagement_tracker.projections.privacy import calibrate, epsilon_of
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
    assert {"mechanism", "rho", "epsilon", "delta", "threshold", "half_width_95"} <= set(preview)
    assert preview["mechanism"] == "gaussian_threshold" and preview["delta"] == 1e-6
    rel = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=epsilon)
    assert (rel.mechanism, rel.rho, rel.epsilon, rel.delta, rel.threshold) == (
        preview["mechanism"], preview["rho"], preview["epsilon"], preview["delta"], preview["threshold"])
    assert app.budgets.balance(analyst)["spent_rho"] == round(preview["rho"], 9)  # what the preview said it costs
    assert rel.rows and all(r.high - r.value == preview["half_width_95"] == r.value - r.low for r in rel.rows)
    assert all(r.value >= preview["threshold"] for r in rel.rows)


def test_a_preview_needs_the_analyst_grant(app) -> None:  # type: ignore[no-untyped-def]
    outsider = granted(app, Role.AUDITOR, "Aude")
    with pytest.raises(NotPermitted):
        bootstrap.analyst_service(app).preview(outsider, 1.0)


def test_a_release_past_the_budget_is_refused_before_any_noise_is_drawn(app) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, 1.5 * calibrate(0.5).rho, admin(app))  # one release at epsilon 0.5, not two
    service_with(app, many_facts())  # the facts, in the app's view
    rules = CountingRules()
    real = bootstrap.analyst_service(app)
    service = AnalystService(real.analytics, app.clock, 5, grants=app.held_grants, rules=rules,
                             spend=lambda a, cost, q: app.budgets.spend(a, cost, q).value,
                             afford=app.budgets.require_affordable)
    service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.5)
    assert rules.draws == 1
    before = app.budgets.balance(analyst)
    with pytest.raises(BudgetExceeded, match="before any noise was drawn"):
        service.summary(analyst, ["context"], period="year", privacy="dp", epsilon=0.5)
    assert rules.draws == 1 and app.budgets.balance(analyst) == before  # no noise drawn, nothing spent
    preview = service.preview(analyst, 0.5)  # the preview said so, for free
    assert preview["within_budget"] is False and "would refuse it now" in preview["note"] and "remains" in preview["note"]
    assert service.preview(analyst, 0.1)["within_budget"] is True and rules.draws == 1
    service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.5)  # the recorded answer: free
    assert rules.draws == 1 and app.budgets.balance(analyst) == before


def test_the_deployments_delta_is_every_releases_and_the_ledgers(store_url: str) -> None:
    """ETRACK_DP_DELTA sets the delta of every release: in the preview, the release, the budget's spend
    event (the DP ledger) and the budget's epsilon; an unusable delta is refused when the tracker opens."""
    with pytest.raises(InvalidInput, match="ETRACK_DP_DELTA"):
        new_tracker(store_url, ETRACK_DP_DELTA="0.5")
    app = new_tracker(store_url, ETRACK_DP_DELTA="1e-8")
    try:
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        app.budgets.grant(analyst.party, 1.0, admin(app))
        service = service_with(app, many_facts())
        preview = service.preview(analyst, 1.0)
        cal = calibrate(1.0, 1e-8)
        assert (preview["delta"], preview["rho"], preview["threshold"]) == (1e-8, cal.rho, cal.threshold)
        assert cal.rho < calibrate(1.0).rho  # a smaller delta asks for more noise
        rel = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=1.0)
        assert (rel.delta, rel.rho, rel.mechanism) == (1e-8, cal.rho, "gaussian_threshold")
        (spent,) = [e for e in app.events.get(PrivacyBudget.id_for(analyst.party))
                    if isinstance(e, PrivacyBudget.BudgetSpent)]
        assert (spent.mechanism, spent.rho, spent.epsilon, spent.delta, spent.threshold) == (
            "gaussian_threshold", cal.rho, 1.0, 1e-8, cal.threshold)
        balance = app.budgets.balance(analyst)
        assert balance["delta"] == 1e-8 and balance["spent_epsilon"] == round(epsilon_of(cal.rho, 1e-8), 6)
    finally:
        app.close()
