"""How every figure is measured: arms alternated within one run, ratios per round, targets.

Each scenario has arms (ours, the baseline, the physical limit). A round runs every arm once, in
turn, and the next round in the reverse order (A B C, C B A, ...), so a machine whose speed drifts
over minutes weighs on every side alike. A ratio is computed per round (two arms of the same
round) and reported as the median over rounds with its spread (lowest and highest round).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: ru_maxrss carries the parent's peak across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def rounds_of(arms: dict[str, Callable[[], Any]], rounds: int,
              before: Callable[[], Any] | None = None) -> dict[str, list[float]]:
    """Seconds of every arm in every round, the order reversed every other round. ``before`` runs
    untimed ahead of each arm (to reset a store, say)."""
    names = list(arms)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            if before is not None:
                before()
            times[name].append(timed(arms[name])[0])
    return times


def per_round(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, Any]:
    """Median of the per-round ratios numerator/denominator, with the lowest and highest round."""
    ratios = [n / d for n, d in zip(numerator, denominator, strict=True) if d > 0]
    return {"ratio": round(statistics.median(ratios), 3), "spread": [round(min(ratios), 3), round(max(ratios), 3)],
            "rounds": len(ratios)}


def judged(target: str | None) -> Callable[[float], bool | None]:
    """``">= 0.9"`` -> a test of a ratio; None (report only) -> no verdict."""
    if target is None:
        return lambda _ratio: None
    op, value = target.split()
    bound = float(value)
    return (lambda r: r >= bound) if op == ">=" else (lambda r: r <= bound)


def throughput_row(name: str, what: str, units: int, ours: Sequence[float], base: Sequence[float], baseline: str,
                   target: str | None, **extra: Any) -> dict[str, Any]:
    """Ours against a baseline as a speed ratio (baseline seconds / our seconds, per round): higher is better."""
    stats = per_round(base, ours)
    return {
        "name": name, "what": what, "events": units,
        "events_per_s": round(units / statistics.median(ours)), "baseline": baseline,
        "baseline_events_per_s": round(units / statistics.median(base)), **stats,
        "target": target or "report", "met": judged(target)(stats["ratio"]), "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
    }


def cost_row(name: str, what: str, units: int, ours: Sequence[float], base: Sequence[float], baseline: str,
             target: str | None, **extra: Any) -> dict[str, Any]:
    """Ours against a baseline as a cost ratio (our seconds / baseline seconds, per round): lower is better."""
    stats = per_round(ours, base)
    return {
        "name": name, "what": what, "events": units, "seconds": round(statistics.median(ours), 4),
        "baseline": baseline, "baseline_seconds": round(statistics.median(base), 4), **stats,
        "target": target or "report", "met": judged(target)(stats["ratio"]), "peak_rss_mb": round(peak_rss_mb(), 1),
        **extra,
    }
