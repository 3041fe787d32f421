"""Differential privacy's cost: calibrating a release (zCDP through OpenDP) and drawing one, each
against the Laplace-threshold mechanism the releases used before budgets were kept in rho (its
calibration rebuilt here as it was: OpenDP's privacy map in a binary search), in the same process,
arms alternated. Calibration is cached per (epsilon, delta) in a process: the cold figure is what
the first release (or preview) at an epsilon pays, the release figure what every release pays."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

from bench.measure import cost_row, rounds_of
from bench.startup import _etrack
from engagement_tracker.projections import privacy
from engagement_tracker.projections.anonymity import Fact, Level, tally

EPSILONS = (0.5, 1.0, 3.0)


def laplace_calibration(epsilon: float, delta: float = privacy.DEFAULT_DELTA, bound: int = privacy.BOUND) -> tuple[
        float, int]:
    """The calibration of the releases before rho: Laplace noise of scale bound / epsilon, and the least
    threshold OpenDP's map accepts for (epsilon, delta)."""
    dp = privacy._opendp()
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
    metric = dp.l01inf_distance(dp.absolute_distance(T=int))
    scale = bound / epsilon

    def private(threshold: int) -> bool:
        eps, dlt = dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold).map(
            (bound, bound, bound))
        return bool(eps <= epsilon * (1 + 1e-9) and dlt <= delta)

    return scale, int(dp.binary_search(private, T=int))


#: Cached per epsilon, as the releases before rho cached theirs.
cached_laplace_calibration = functools.lru_cache(maxsize=64)(laplace_calibration)


def laplace_release(counts: dict[str, int], epsilon: float) -> dict[str, int]:
    dp = privacy._opendp()
    scale, threshold = cached_laplace_calibration(epsilon)
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
    metric = dp.l01inf_distance(dp.absolute_distance(T=int))
    noisy: dict[str, int] = dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)(counts)
    return noisy


def bench_dp(rounds: int, persons: int = 900) -> list[dict[str, Any]]:
    facts = [Fact("signal", "signal", "Ops", f"2026-0{1 + i % 3}", f"e{i}", frozenset({f"p{i}"}),
                  ("turnover", "energy_gain", "misalignment")[(i + j) % 3], "tech", "drains", 3)
             for i in range(persons) for j in range(1 + i % 2)]
    tallies = tally(facts)
    level = Level(time="year")
    results = []

    def cold_zcdp() -> None:
        privacy.calibrate.cache_clear()
        privacy.epsilon_of.cache_clear()
        for e in EPSILONS:
            privacy.calibrate(e)

    def cold_laplace() -> None:
        for e in EPSILONS:
            laplace_calibration(e)

    times = rounds_of({"ours": cold_zcdp, "base": cold_laplace}, rounds)
    results.append(cost_row("dp calibration, cold", f"calibrate {len(EPSILONS)} epsilons (first use in a process)",
                            len(EPSILONS), times["ours"], times["base"],
                            "Laplace threshold calibration (before rho)", None))
    for e in EPSILONS:  # warm, both: what every later release at these epsilons pays
        privacy.calibrate(e)
        cached_laplace_calibration(e)
    counts = privacy.clipped_counts(tallies, ["theme"], level)

    def ours() -> None:
        for e in EPSILONS:
            privacy.dp_release(tallies, ["theme"], level, e)

    def base() -> None:
        for e in EPSILONS:
            laplace_release(privacy.clipped_counts(tallies, ["theme"], level), e)

    assert counts
    times = rounds_of({"ours": ours, "base": base}, rounds)
    results.append(cost_row("dp release", f"{len(EPSILONS)} releases of {persons} persons' signals by theme "
                            "(calibration cached)", len(EPSILONS), times["ours"], times["base"],
                            "Laplace threshold release (before rho, calibration cached)", None))
    return results


def bench_dp_unit(directory: Path, rounds: int, releases: int = 10) -> list[dict[str, Any]]:
    """A DP release inside a unit of work (``analysts.atomically``: checked when asked, the budget checked
    again and paid at the unit's end) against the same release asked alone (paid when asked), on the demo's
    SQLite store, arms alternated. Every release is a new query (its window differs; epsilon 0.5, calibrated
    once), so each pays."""
    from engagement_tracker.adapters import bootstrap, open_tracker
    from engagement_tracker.adapters.demo import access_actor

    store = directory / "dp-unit.sqlite"
    subprocess.run([*_etrack(), "--db", f"sqlite:///{store}", "demo"], check=True, capture_output=True)
    app = open_tracker(f"sqlite:///{store}")
    try:
        analyst, admin = access_actor("analyst"), access_actor("admin")
        app.budgets.grant(analyst.party, 50.0, admin)
        service = bootstrap.analyst_service(app)
        months = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]
        windows = iter([(a, b) for i, a in enumerate(months) for b in months[i:]])  # 300 windows: 300 new queries

        def ask() -> Any:
            since, until = next(windows)
            return service.summary(analyst, ("theme",), period="year", since=since, until=until, privacy="dp",
                                   epsilon=0.5)

        def in_unit() -> None:
            for _ in range(releases):
                service.atomically(ask)

        def alone() -> None:
            for _ in range(releases):
                ask()

        ask()  # warm: calibration and the first spend
        times = rounds_of({"unit": in_unit, "alone": alone}, rounds)
    finally:
        app.close()
    return [cost_row("dp release in a unit of work", f"{releases} new DP releases, each in its own unit of work "
                     "(paid at its end, the budget checked again first)", releases, times["unit"], times["alone"],
                     "the same releases asked alone (paid when asked)", "<= 1.5")]
