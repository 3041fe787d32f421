"""Differentially private summaries (the ``[dp]`` extra, OpenDP): noisy counts with a stated error.

What is counted: **person-signals** — each signal counts once for each person behind it (a
signal of a 6-member cohort counts 6; an engagement's signal, 1). That makes one person's data
exactly their own person-signals, so its influence can be bounded:

* **Contribution bound.** In one release each person contributes at most :data:`BOUND`
  person-signals in all (their cells taken in a fixed order, the rest dropped). Adding or
  removing one person changes at most ``BOUND`` cells, by at most ``BOUND`` in all.
* **Noise.** Laplace noise of scale ``BOUND / epsilon`` on every cell (OpenDP's
  ``make_laplace_threshold``, discrete and exactly sampled), so the release is
  (epsilon, :data:`DELTA`)-differentially private.
* **Which cells exist.** Only cells whose noisy count reaches a threshold are released (DP
  partition selection, calibrated by OpenDP for ``DELTA``): no cell is listed because it merely
  exists, none is shown as suppressed.
* **95% interval.** The noise exceeds ``scale * ln(20)`` in either direction with probability
  5%: each value is given with ``[value - that, value + that]``. (Cells near the threshold are
  released only when the noise pushed them up: small released values tend to be high.)

Nothing here spends budget or remembers answers; :class:`AnalystService` does (a repeated
query on unchanged data returns the recorded answer and spends nothing).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import Any

import attrs

from engagement_tracker.domain.errors import MissingDependency
from engagement_tracker.projections.anonymity import Level, Tally, period_of, unit_at

#: The most person-signals one person contributes to one release.
BOUND = 2
#: The probability, per release, that the partition selection reveals a cell it should not.
DELTA = 1e-6
MECHANISM = "laplace_threshold"
#: The probability that a value's noise falls outside its stated interval: at most 5% (a 95% interval).
OUTSIDE_95 = 0.05


def outside(half: int, scale: float) -> float:
    """P(|noise| > half) for OpenDP's discrete Laplace noise of ``scale`` (P(k) proportional to
    a^|k|, a = exp(-1/scale)): 2 a^(half+1) / (1 + a)."""
    a = math.exp(-1 / scale)
    return 2 * a ** (half + 1) / (1 + a)


def half_width_95(scale: float) -> int:
    """The half-width of a value's 95% interval: the smallest whole number of counts w with
    P(|noise| > w) <= 5%. (The noise is discrete: the continuous Laplace's scale * ln 20 would hold
    only about 94% of values at scale 2.)"""
    half = max(0, math.ceil(scale * math.log(20)) - 2)
    while outside(half, scale) > OUTSIDE_95:
        half += 1
    return half


@attrs.frozen
class DpRow:
    dims: dict[str, Any]
    value: int
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.dims, "value": self.value, "low_95": round(self.low, 1), "high_95": round(self.high, 1),
                "status": "released"}


@attrs.frozen
class DpRelease:
    """A differentially private release: noisy counts of person-signals, with their 95% intervals."""

    by: tuple[str, ...]
    level: Level
    epsilon: float
    delta: float
    scale: float
    threshold: int
    bound: int
    rows: tuple[DpRow, ...]
    repeated: bool = False  # True when this is the recorded answer to the same query on the same data

    @property
    def released_as(self) -> str:
        return "dp"

    @property
    def mechanism(self) -> str:
        return MECHANISM

    def points(self) -> list[tuple[dict[str, Any], int]]:
        return [(r.dims, r.value) for r in self.rows]

    def to_document(self) -> dict[str, Any]:
        return {
            "by": list(self.by), "level": {"time": self.level.time, "unit_depth": self.level.unit_depth},
            "privacy": "dp", "mechanism": MECHANISM, "epsilon": self.epsilon, "delta": self.delta,
            "noise_scale": self.scale, "threshold": self.threshold, "contribution_bound": self.bound,
            "counts": "person-signals", "interval": "95%", "repeated": self.repeated,
            "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def of_document(cls, doc: dict[str, Any], repeated: bool) -> DpRelease:
        by = tuple(doc["by"])
        rows = tuple(DpRow({d: r[d] for d in by}, int(r["value"]), float(r["low_95"]), float(r["high_95"]))
                     for r in doc["rows"])
        return cls(by, Level(doc["level"]["time"], doc["level"]["unit_depth"]), float(doc["epsilon"]),
                   float(doc["delta"]), float(doc["noise_scale"]), int(doc["threshold"]), int(doc["contribution_bound"]),
                   rows, repeated)


def _opendp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError:
        raise MissingDependency("--privacy dp needs the [dp] extra (opendp is missing): "
                                "pip install 'engagement-tracker[dp]'") from None
    dp.enable_features("contrib")
    return dp


def _space(dp: Any) -> tuple[Any, Any]:
    return (dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
            dp.l01inf_distance(dp.absolute_distance(T=int)))


@functools.lru_cache(maxsize=64)
def calibrate(epsilon: float, bound: int = BOUND, delta: float = DELTA) -> tuple[float, int]:
    """The noise scale and the smallest threshold that make a release (epsilon, delta)-DP when each
    person changes at most ``bound`` cells by at most ``bound`` in all (OpenDP's privacy map)."""
    dp = _opendp()
    domain, metric = _space(dp)
    scale = bound / epsilon
    d_in = (bound, bound, bound)

    def private(threshold: int) -> bool:
        eps, dlt = dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold).map(d_in)
        return bool(eps <= epsilon * (1 + 1e-9) and dlt <= delta)

    return scale, int(dp.binary_search(private, T=int))


def clipped_counts(tallies: Sequence[Tally], by: Sequence[str], level: Level, bound: int = BOUND) -> dict[str, int]:
    """Person-signals per cell (JSON of its key), each person's contributions cut to ``bound`` in all."""
    per_person: dict[str, dict[str, int]] = {}
    for t in tallies:
        key = json.dumps([_value(t, d, level) for d in by])
        for person, n in t.persons:
            cells = per_person.setdefault(person, {})
            cells[key] = cells.get(key, 0) + n
    counts: dict[str, int] = {}
    for cells in per_person.values():
        left = bound
        for key in sorted(cells):  # a fixed order that depends on this person's own data only
            take = min(cells[key], left)
            if take:
                counts[key] = counts.get(key, 0) + take
                left -= take
            if not left:
                break
    return counts


def _value(t: Tally, dim: str, level: Level) -> Any:
    if dim == "period":
        return period_of(t.month, level.time)
    if dim == "unit":
        return unit_at(t.unit, level.unit_depth)
    return getattr(t, dim)


def dp_preview(epsilon: float) -> dict[str, Any]:
    """What a release at ``epsilon`` is made under, from the parameters alone (no data is read): the
    mechanism, epsilon, delta, the noise scale, the threshold a noisy count must reach to be shown,
    the contribution bound, and each shown value's 95% interval, ``value ± half_width_95`` (holding
    the true count with probability ``coverage``)."""
    scale, threshold = calibrate(epsilon)
    half = half_width_95(scale)
    return {"privacy": "dp", "mechanism": MECHANISM, "epsilon": epsilon, "delta": DELTA, "noise_scale": scale,
            "threshold": threshold, "contribution_bound": BOUND, "half_width_95": half,
            "coverage": round(1 - outside(half, scale), 4), "counts": "person-signals",
            "note": f"a cell is shown only when its noisy count reaches {threshold}; each shown value v holds the "
                    f"true count within v ± {half} at least 95% of the time"}


def dp_release(tallies: Sequence[Tally], by: Sequence[str], level: Level, epsilon: float) -> DpRelease:
    """Release noisy person-signal counts per cell; only cells over the threshold appear."""
    dp = _opendp()
    scale, threshold = calibrate(epsilon)
    domain, metric = _space(dp)
    measurement = dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)
    noisy: dict[str, int] = measurement(clipped_counts(tallies, by, level)) if tallies else {}
    half = half_width_95(scale)
    rows = tuple(DpRow(dict(zip(by, json.loads(key), strict=True)), int(v), v - half, v + half)
                 for key, v in sorted(noisy.items()))
    return DpRelease(tuple(by), level, epsilon, DELTA, scale, threshold, BOUND, rows)
