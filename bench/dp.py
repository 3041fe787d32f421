"""Differential privacy's cost: calibrating a release (zCDP through OpenDP) and drawing one, each
against the Laplace-threshold mechanism the releases used before budgets were kept in rho (its
calibration rebuilt here as it was: OpenDP's privacy map in a binary search), in the same process,
arms alternated. Calibration is cached per (epsilon, delta) in a process: the cold figure is what
the first release (or preview) at an epsilon pays, the release figure what every release pays."""

from __future__ import annotations

import functools
from typing import Any

from bench.measure import cost_row, rounds_of
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
