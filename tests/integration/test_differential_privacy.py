"""Differential privacy: budgets as events, repeated queries free and identical, refusals record
nothing, the budget never exceeded (also at the same instant), and the noise has its stated scale."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import BudgetExceeded, EngagementTracker, InvalidInput, NotFound, NotPermitted, Role
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.projections.analytics import NAME, AnalystService
from engagement_tracker.projections.anonymity import Fact, Level, tally
from engagement_tracker.projections.privacy import (
    BOUND,
    SELECTION_SHARE,
    _epsilon_at,
    _opendp,
    calibrate,
    clipped_counts,
    dp_release,
    epsilon_of,
    half_width_95,
    largest_epsilon,
    outside,
)
from tests.support import admin, granted, new_tracker

THEMES = ("turnover", "energy_gain", "misalignment")


def many_facts(persons: int = 900) -> list[Fact]:
    """Each person: one or two signals, in 2026-01..2026-03, over three themes."""
    return [Fact("signal", "signal", "Ops", f"2026-0{1 + i % 3}", f"e{i}", frozenset({f"p{i}"}), THEMES[(i + j) % 3],
                 "tech", "drains", 3) for i in range(persons) for j in range(1 + i % 2)]


def service_with(app: EngagementTracker, facts: list[Fact]) -> AnalystService:
    service = bootstrap.analyst_service(app)
    service.analytics.catch_up()
    position = (service.analytics.view.max_tracking_id(NAME) or 0) + 1_000_000
    service.analytics.view.append([(position, f) for f in facts], {}, Tracking(NAME, position), tally(facts))
    return service


@pytest.fixture
def app(store_url):  # type: ignore[no-untyped-def]
    tracker = new_tracker(store_url)
    yield tracker
    tracker.close()


def test_the_same_query_twice_returns_the_same_values_and_spends_once(app) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, 2.0, admin(app))
    service = service_with(app, many_facts())
    first = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=1.0)
    again = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=1.0)
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in first.rows] and first.rows
    assert (first.repeated, again.repeated) == (False, True)
    rho = calibrate(1.0).rho  # what a release at epsilon 1 costs, in zCDP
    assert app.budgets.balance(analyst) == {
        "analyst": str(analyst.party), "granted_rho": 2.0, "spent_rho": round(rho, 9),
        "remaining_rho": round(2.0 - rho, 9), "releases": 1, "delta": 1e-6,
        "spent_epsilon": round(epsilon_of(rho), 6), "remaining_epsilon": round(epsilon_of(2.0 - rho), 6)}
    doc = first.to_document()
    assert doc["mechanism"] == "gaussian_threshold" and doc["epsilon"] == 1.0 and doc["contribution_bound"] == BOUND
    assert doc["rho"] == rho and doc["delta"] == 1e-6 and doc["threshold"] == calibrate(1.0).threshold
    for row in doc["rows"]:
        assert row["low_95"] < row["value"] < row["high_95"]
    other = granted(app, Role.ANALYST, "Other Analyst")  # the recorded answer, to anyone, costs nothing
    assert [r.value for r in service.summary(other, ["theme"], period="year", privacy="dp", epsilon=1.0).rows] == [
        r.value for r in first.rows]
    trends = service.trends(analyst, privacy="dp", epsilon=0.5)
    assert trends and {t["released_as"] for t in trends} == {"dp"}
    events = [type(e).__name__ for e in app.events.get(PrivacyBudget.id_for(analyst.party))]
    assert events == ["Created", "BudgetGranted", "BudgetSpent", "BudgetSpent"]


def test_a_release_past_the_budget_is_refused_and_records_nothing(app) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    service = service_with(app, many_facts())
    with pytest.raises(BudgetExceeded, match="holds no privacy budget"):
        service.summary(analyst, ["theme"], privacy="dp", epsilon=0.5)
    big, small = calibrate(0.75).rho, calibrate(0.5).rho
    app.budgets.grant(analyst.party, big + small / 2, admin(app))
    service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.75)
    before = app.budgets.balance(analyst)
    with pytest.raises(BudgetExceeded) as refused:
        service.summary(analyst, ["context"], period="year", privacy="dp", epsilon=0.5)
    said = str(refused.value)  # what remains, in rho and in epsilon at the deployment's delta, and what is accepted
    left = f"rho {small / 2:.6g} (epsilon {epsilon_of(small / 2):.4g} at delta 1e-06)"
    assert f"it would spend rho {small:.6g}, and {left} of the" in said
    fits = largest_epsilon(small / 2)  # what would be accepted: a release at it costs no more than what remains
    assert f"ask with epsilon {fits:g} or less" in said and 0 < calibrate(fits).rho <= small / 2 < calibrate(fits * 1.01).rho
    assert "before any noise was drawn" in said and "--preview" in said
    for bad in (0, -1, 10.5, True, "1", math.nan, None):
        with pytest.raises(InvalidInput, match="epsilon"):
            service.summary(analyst, ["context"], period="year", privacy="dp", epsilon=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="privacy"):
        service.summary(analyst, ["theme"], privacy="noisy")  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="k applies to exact"):
        service.summary(analyst, ["theme"], k=5, privacy="dp", epsilon=0.1)  # type: ignore[call-overload]
    assert app.budgets.balance(analyst) == before  # nothing spent
    app.budgets.grant(analyst.party, small, admin(app))
    later = service.summary(analyst, ["context"], period="year", privacy="dp", epsilon=0.5)
    assert not later.repeated  # the refused answer was never recorded
    with pytest.raises(NotPermitted, match="only an admin"):
        app.budgets.grant(analyst.party, 1.0, analyst)
    with pytest.raises(NotPermitted, match="their own budget"):
        app.budgets.balance(analyst, admin(app).party)


def test_two_releases_at_the_same_instant_never_exceed_the_budget(durable_store_url) -> None:  # type: ignore[no-untyped-def]
    setup = new_tracker(durable_store_url)
    analyst = granted(setup, Role.ANALYST, "Ana Lyst")
    setup.budgets.grant(analyst.party, 1.5 * calibrate(0.6).rho, admin(setup))  # room for one release, not two
    service_with(setup, many_facts())
    setup.close()
    apps = [new_tracker(durable_store_url) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def release(app: EngagementTracker, shape: str) -> None:
        service = bootstrap.analyst_service(app)
        start.wait()
        try:
            service.summary(analyst, [shape], period="year", privacy="dp", epsilon=0.6)
            outcomes.append("released")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=release, args=(a, s)) for a, s in zip(apps, ("theme", "context"), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "released"]
    assert apps[0].budgets.balance(analyst)["spent_rho"] == round(calibrate(0.6).rho, 9)
    for a in apps:
        a.close()


@pytest.mark.parametrize("epsilon", [0.01, 0.1, 0.5, 1.0, 3.0, 10.0])
def test_the_calibration_is_opendps_and_never_above_the_epsilon_asked(epsilon: float) -> None:
    """The release is (epsilon, delta)-DP by OpenDP's own maps (zCDP of the Gaussian threshold, converted at
    delta), its rho is (BOUND / scale)^2 / 2, and it is the largest rho whose conversion at the conversion's
    share of delta stays within epsilon (1% more goes past it): no more noise than needed."""
    cal = calibrate(epsilon)
    dp = _opendp()
    assert cal.rho == pytest.approx((BOUND / cal.scale) ** 2 / 2, rel=1e-9)
    assert _epsilon_at(dp, cal.scale, cal.threshold, 1e-6, BOUND) <= epsilon
    assert epsilon_of(cal.rho) < epsilon  # the rho alone is worth less: the threshold's delta is not free
    share = (1 - SELECTION_SHARE) * 1e-6
    assert epsilon_of(cal.rho, share) <= epsilon < epsilon_of(cal.rho * 1.01, share)


def test_the_noise_has_the_documented_scale() -> None:
    """Empirically: the noise is centred with standard deviation about the scale (discrete Gaussian), and
    the 95% interval holds what it says (computed exactly for the discrete noise, at least 95%, and
    sampled within 4 sigma)."""
    epsilon = 1.0
    scale = calibrate(epsilon).scale
    facts = [Fact("signal", "signal", "Ops", "2026-01", f"e{i}", frozenset({f"p{i}"}), "turnover", "tech", "drains", 3)
             for i in range(500)]
    tallies = tally(facts)
    errors = []
    for _ in range(3000):
        (row,) = dp_release(tallies, ["theme"], Level(time="year"), epsilon).rows
        errors.append(row.value - 500)
    # the noise is drawn by OpenDP from the system's CSPRNG (no seed): each bound is 5 standard errors of
    # its estimate over the draws, so a correct sampler fails one in about two million runs, a wrong scale always
    n = len(errors)
    variance = sum(e * e for e in errors) / n
    assert abs(variance - scale**2) < 5 * scale**2 * math.sqrt(2 / n), (variance, scale**2)
    assert abs(sum(errors) / n) < 5 * scale / math.sqrt(n)  # unbiased
    half = half_width_95(scale)
    assert outside(half, scale) <= 0.05 < outside(half - 1, scale)  # the narrowest whole interval holding 95%
    covered = 1 - outside(half, scale)
    inside = sum(abs(e) <= half for e in errors) / len(errors)
    assert abs(inside - covered) < 4 * math.sqrt(covered * (1 - covered) / len(errors)), (inside, covered)


@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(THEMES), st.integers(1, 3)), max_size=40),
       st.integers(0, 6))
def test_one_person_changes_at_most_bound_cells_by_at_most_bound(contributions, who) -> None:
    facts = [Fact("signal", "signal", "Ops", f"2026-0{month}", f"e{p}", frozenset({f"p{p}"}), theme, "tech", "drains", 3)
             for p, theme, month in contributions]
    without = [f for f in facts if f.persons != frozenset({f"p{who}"})]
    a = clipped_counts(tally(facts), ["theme", "period"], Level())
    b = clipped_counts(tally(without), ["theme", "period"], Level())
    changed = {k: a.get(k, 0) - b.get(k, 0) for k in a.keys() | b.keys() if a.get(k, 0) != b.get(k, 0)}
    assert len(changed) <= BOUND and sum(abs(v) for v in changed.values()) <= BOUND


def test_the_cli_grants_shows_and_releases_with_differential_privacy(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}

    def etrack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env)

    from engagement_tracker.adapters.demo import access_actor

    assert etrack("demo").returncode == 0
    analyst, boss = str(access_actor("analyst")), str(access_actor("admin"))
    refused = etrack("signals", "summary", "--as", analyst, "--privacy", "dp", "--epsilon", "1")
    assert refused.returncode == 3 and "BudgetExceeded" in refused.stderr and "Traceback" not in refused.stderr
    party = analyst.split(":", 1)[1]
    granting = etrack("privacy-budget", "grant", party, "1.5", "--as", boss)
    assert granting.returncode == 0 and f"granted rho 1.5 (epsilon {epsilon_of(1.5):.4g} at delta 1e-06)" in granting.stdout
    wrong = etrack("privacy-budget", "grant", party, "0", "--as", boss)
    assert wrong.returncode == 2 and "rho" in wrong.stderr
    proc = etrack("signals", "summary", "--as", analyst, "--privacy", "dp", "--epsilon", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # an array of noisy cells, each with its interval
    assert all(r["privacy"] == "dp" and r["epsilon"] == 1.0 and r["low_95"] <= r["high_95"] for r in doc)
    assert all(r["mechanism"] == "gaussian_threshold" and r["rho"] == calibrate(1.0).rho for r in doc)  # how it was made
    shown = json.loads(etrack("privacy-budget", "show", "--as", analyst, "--format", "json").stdout)[0]
    assert (shown["spent_rho"], shown["remaining_rho"]) == (round(calibrate(1.0).rho, 9), round(1.5 - calibrate(1.0).rho, 9))
    again = etrack("signals", "summary", "--as", analyst, "--privacy", "dp", "--epsilon", "1", "--format", "json")
    assert json.loads(again.stdout) == doc
    table = etrack("signals", "summary", "--as", analyst, "--privacy", "dp", "--epsilon", "1")
    assert "the recorded answer to this same query on the same data: nothing spent" in " ".join(table.stderr.split())
    assert json.loads(etrack("privacy-budget", "show", "--as", analyst, "--format", "json").stdout)[0]["spent_rho"] == (
        round(calibrate(1.0).rho, 9))
    mixed = etrack("signals", "summary", "--as", analyst, "--privacy", "dp")
    assert mixed.returncode == 2 and "--epsilon" in mixed.stderr
    for fmt in ("json", "csv"):  # DP trends state their release's policy too (on stderr), and pay it once
        trends = etrack("signals", "trends", "--as", analyst, "--privacy", "dp", "--epsilon", "3", "--format", fmt)
        assert trends.returncode == 0, trends.stderr
        said = " ".join(trends.stderr.split())
        assert all(w in said for w in ("gaussian_threshold", "epsilon 3", "delta 1e-06", "zCDP rho", "shown only from"))
    spent = json.loads(etrack("privacy-budget", "show", "--as", analyst, "--format", "json").stdout)[0]["spent_rho"]
    assert spent == round(calibrate(1.0).rho + calibrate(3.0).rho, 9)


def test_a_budget_belongs_to_a_registered_party(tracker) -> None:  # type: ignore[no-untyped-def]
    boss = admin(tracker)
    with pytest.raises(NotFound):
        tracker.budgets.grant(uuid4(), 1.0, boss)
    with pytest.raises(InvalidInput):
        tracker.budgets.grant("not-an-id", 1.0, boss)
    with pytest.raises(InvalidInput):
        tracker.budgets.grant(boss.party, 1.0, "admin")  # type: ignore[arg-type]
    assert tracker.budgets.balance(boss)["granted_rho"] == 0.0  # nothing recorded


def test_a_budget_grant_retried_with_its_command_id_adds_once(app) -> None:  # type: ignore[no-untyped-def]
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    assert app.budgets.grant(analyst.party, 1.0, admin(app), command_id="grant-1").recorded_now
    assert not app.budgets.grant(analyst.party, 1.0, admin(app), command_id="grant-1").recorded_now  # a retry
    app.budgets.grant(analyst.party, 0.5, admin(app), command_id="grant-2")
    assert app.budgets.balance(analyst)["granted_rho"] == 1.5
