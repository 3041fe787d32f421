"""Differentially private summaries (the ``[dp]`` extra, OpenDP): noisy counts with a stated error.

What is counted: **person-signals**: each signal counts once for each person behind it (a
signal of a 6-member cohort counts 6; an engagement's signal, 1). That makes one person's data
exactly their own person-signals, so its influence can be bounded:

* **Contribution bound.** In one release each person contributes at most :data:`BOUND`
  person-signals in all (their cells taken in a fixed order, the rest dropped). Adding or
  removing one person changes at most ``BOUND`` cells, by at most ``BOUND`` in all, so by at
  most ``BOUND`` in L2 norm too.
* **Noise.** Discrete Gaussian noise of scale ``sigma`` on every cell (OpenDP's
  ``make_gaussian_threshold``, exactly sampled): the counts are rho-zCDP with
  rho = (BOUND / sigma)^2 / 2 (zero-concentrated DP, whose losses add up across releases).
* **Which cells exist.** Only cells whose noisy count reaches a threshold are released (DP
  partition selection): no cell is listed because it merely exists, none is shown as
  suppressed. The threshold is the smallest for which OpenDP bounds the chance of revealing a
  cell by half of the deployment's delta (:data:`SELECTION_SHARE`).
* **Calibration.** An analyst asks for epsilon: the release is (epsilon, delta)-DP at the
  deployment's delta (``ETRACK_DP_DELTA``, default :data:`DEFAULT_DELTA`), as OpenDP converts it
  (``make_zCDP_to_approxDP``, then ``make_fix_delta``); sigma is the smallest that keeps it so
  (:func:`calibrate`), and the budget pays its rho.
* **95% interval.** Each value is given with ``[value - w, value + w]``, w the smallest whole
  number with P(|noise| > w) <= 5% for that discrete Gaussian (:func:`half_width_95`). (Cells
  near the threshold are released only when the noise pushed them up: small released values
  tend to be high.)

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

from engagement_tracker.domain.errors import InvalidInput, MissingDependency
from engagement_tracker.projections.anonymity import Level, Tally, period_of, unit_at

#: The most person-signals one person contributes to one release.
BOUND = 2
#: The deployment's delta unless ``ETRACK_DP_DELTA`` says otherwise: (epsilon, delta)-DP per release.
DEFAULT_DELTA = 1e-6
#: The share of delta the partition selection (the threshold) may use; the rest is the zCDP conversion's.
SELECTION_SHARE = 0.5
MECHANISM = "gaussian_threshold"
#: The probability that a value's noise falls outside its stated interval: at most 5% (a 95% interval).
OUTSIDE_95 = 0.05


@functools.lru_cache(maxsize=256)
def _gaussian_mass(scale: float) -> tuple[float, ...]:
    """P(noise = k) for k = 0, 1, 2, ... of OpenDP's discrete Gaussian of ``scale`` (P(k) proportional
    to exp(-k^2 / (2 scale^2))), as far as it holds any mass worth counting."""
    top = int(scale * 40) + 40
    weights = [math.exp(-k * k / (2 * scale * scale)) for k in range(top)]
    total = weights[0] + 2 * sum(weights[1:])
    return tuple(w / total for w in weights)


def outside(half: int, scale: float) -> float:
    """P(|noise| > half) for OpenDP's discrete Gaussian noise of ``scale``."""
    mass = _gaussian_mass(scale)
    return max(0.0, 1.0 - mass[0] - 2 * sum(mass[1:half + 1]))


def half_width_95(scale: float) -> int:
    """The half-width of a value's 95% interval: the smallest whole number of counts w with
    P(|noise| > w) <= 5%."""
    half = max(0, math.floor(scale * 1.959964) - 2)
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
    """A differentially private release: noisy counts of person-signals, with their 95% intervals, and
    what it was made under (mechanism, rho, epsilon, delta, threshold)."""

    by: tuple[str, ...]
    level: Level
    epsilon: float
    delta: float
    scale: float
    threshold: int
    bound: int
    rows: tuple[DpRow, ...]
    repeated: bool = False  # True when this is the recorded answer to the same query on the same data
    #: The zCDP loss the release cost (None for an answer recorded before budgets were kept in rho).
    rho: float | None = None
    mechanism: str = MECHANISM

    @property
    def released_as(self) -> str:
        return "dp"

    def points(self) -> list[tuple[dict[str, Any], int]]:
        return [(r.dims, r.value) for r in self.rows]

    def to_document(self) -> dict[str, Any]:
        return {
            "by": list(self.by), "level": {"time": self.level.time, "unit_depth": self.level.unit_depth},
            "privacy": "dp", "mechanism": self.mechanism, "rho": self.rho, "epsilon": self.epsilon,
            "delta": self.delta, "noise_scale": self.scale, "threshold": self.threshold,
            "contribution_bound": self.bound, "counts": "person-signals", "interval": "95%",
            "repeated": self.repeated, "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def of_document(cls, doc: dict[str, Any], repeated: bool) -> DpRelease:
        """A recorded answer; one recorded before rho was kept (no ``rho``) was a pure-DP Laplace release:
        its rho is epsilon^2 / 2."""
        by = tuple(doc["by"])
        rows = tuple(DpRow({d: r[d] for d in by}, int(r["value"]), float(r["low_95"]), float(r["high_95"]))
                     for r in doc["rows"])
        epsilon = float(doc["epsilon"])
        rho = doc.get("rho")
        return cls(by, Level(doc["level"]["time"], doc["level"]["unit_depth"]), epsilon,
                   float(doc["delta"]), float(doc["noise_scale"]), int(doc["threshold"]), int(doc["contribution_bound"]),
                   rows, repeated, epsilon * epsilon / 2 if rho is None else float(rho),
                   str(doc.get("mechanism", "laplace_threshold")))


@attrs.frozen
class Calibration:
    """How a release at ``epsilon`` (at the deployment's ``delta``) is made: the noise ``scale``, the
    ``threshold``, and its zCDP loss ``rho`` (what the budget pays)."""

    epsilon: float
    delta: float
    rho: float
    scale: float
    threshold: int


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
            dp.l02inf_distance(dp.absolute_distance(T=int)))


def _measurement(dp: Any, scale: float, threshold: int) -> Any:
    domain, metric = _space(dp)
    return dp.m.make_gaussian_threshold(domain, metric, scale=scale, threshold=threshold)


def _threshold(dp: Any, scale: float, delta: float, bound: int) -> int:
    """The smallest threshold whose partition selection reveals a cell with probability at most
    ``SELECTION_SHARE * delta`` (OpenDP's privacy map)."""
    d_in = (bound, bound, bound)
    return int(dp.binary_search(lambda t: _measurement(dp, scale, t).map(d_in)[1] <= SELECTION_SHARE * delta, T=int))


def _epsilon_at(dp: Any, scale: float, threshold: int, delta: float, bound: int) -> float:
    """The epsilon of the release (scale, threshold) at ``delta`` in all: OpenDP's zCDP-to-approximate-DP
    conversion of its (rho, selection delta)."""
    fixed = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(_measurement(dp, scale, threshold)), delta)
    return float(fixed.map((bound, bound, bound))[0])


@functools.lru_cache(maxsize=256)
def calibrate(epsilon: float, delta: float = DEFAULT_DELTA, bound: int = BOUND) -> Calibration:
    """The least noise (and its threshold) that makes a release (epsilon, delta)-DP when each person
    changes at most ``bound`` cells by at most ``bound`` in all, and the rho it costs (OpenDP's maps).

    The rho is the largest whose zCDP, converted by OpenDP at the conversion's share of delta, stays
    within ``epsilon``: a bisection on log rho (24 steps) between the classic conversion's rho (Bun and
    Steinke: epsilon = rho + 2 sqrt(rho ln(1/delta)), looser than OpenDP's, so it passes) and epsilon
    (a rho-zCDP release is never better than rho-DP). The threshold then takes the selection's share.
    The measurement so made is checked through OpenDP's whole chain (zCDP with its selection delta,
    converted at ``delta``): never above ``epsilon``."""
    dp = _opendp()
    conversion = (1 - SELECTION_SHARE) * delta
    log_delta = math.log(1 / conversion)
    classic = (math.sqrt(log_delta + epsilon) - math.sqrt(log_delta)) ** 2
    low, high = math.log(classic), math.log(epsilon)
    for _ in range(24):
        middle = (low + high) / 2
        if epsilon_of(math.exp(middle), conversion) <= epsilon:
            low = middle
        else:
            high = middle
    scale = bound / math.sqrt(2 * math.exp(low))
    try:
        threshold = _threshold(dp, scale, delta, bound)
    except ValueError:  # OpenDP finds no threshold in range: so much noise that no count would show
        raise InvalidInput("epsilon", f"{epsilon:g} at delta {delta:g} needs more noise than counts can carry: "
                                      "ask with a larger epsilon (0.001 or more works)") from None
    rho = float(_measurement(dp, scale, threshold).map((bound, bound, bound))[0])
    if _epsilon_at(dp, scale, threshold, delta, bound) > epsilon * (1 + 1e-9):  # OpenDP's word is final
        raise InvalidInput("epsilon", f"{epsilon:g} at delta {delta:g} could not be calibrated; ask with another epsilon")
    return Calibration(epsilon, delta, rho, scale, threshold)


@functools.lru_cache(maxsize=256)
def epsilon_of(rho: float, delta: float = DEFAULT_DELTA) -> float:
    """The epsilon that ``rho`` of zCDP amounts to at ``delta`` (OpenDP's conversion, through a Gaussian
    measurement of that rho): what an analyst's spent or remaining rho is worth. 0 for no rho."""
    if rho <= 0:
        return 0.0
    dp = _opendp()
    gaussian = dp.m.make_gaussian(dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float),
                                  scale=1 / math.sqrt(2 * rho))
    return float(dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), delta).map(1.0)[0])


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


def largest_epsilon(rho: float, delta: float = DEFAULT_DELTA) -> float:
    """The largest epsilon (three significant digits, rounded down) a release may ask whose rho stays
    within ``rho``: :func:`calibrate` spends the largest rho whose conversion at the conversion's share of
    delta stays within epsilon, so asking at most that conversion of ``rho`` costs at most ``rho``.
    0 for no rho."""
    if rho <= 0:
        return 0.0
    exact = epsilon_of(rho, (1 - SELECTION_SHARE) * delta)
    digits = 2 - math.floor(math.log10(exact))
    return float(math.floor(exact * 10**digits) / 10**digits)


def dp_preview(epsilon: float, delta: float = DEFAULT_DELTA) -> dict[str, Any]:
    """What a release at ``epsilon`` is made under, from the parameters alone (no data is read): the
    mechanism, the rho it costs, epsilon, delta, the noise scale, the threshold a noisy count must
    reach to be shown, the contribution bound, and each shown value's 95% interval,
    ``value ± half_width_95`` (holding the true count with probability ``coverage``)."""
    cal = calibrate(epsilon, delta)
    half = half_width_95(cal.scale)
    return {"privacy": "dp", "mechanism": MECHANISM, "rho": cal.rho, "epsilon": epsilon, "delta": delta,
            "noise_scale": round(cal.scale, 6), "threshold": cal.threshold, "contribution_bound": BOUND,
            "half_width_95": half, "coverage": round(1 - outside(half, cal.scale), 4), "counts": "person-signals",
            "note": f"costs rho {cal.rho:.6g} of your budget; a cell is shown only when its noisy count reaches "
                    f"{cal.threshold}; each shown value v holds the true count within v ± {half} at least 95% "
                    "of the time"}


def dp_release(tallies: Sequence[Tally], by: Sequence[str], level: Level, epsilon: float,
               delta: float = DEFAULT_DELTA) -> DpRelease:
    """Release noisy person-signal counts per cell; only cells over the threshold appear."""
    dp = _opendp()
    cal = calibrate(epsilon, delta)
    measurement = _measurement(dp, cal.scale, cal.threshold)
    noisy: dict[str, int] = measurement(clipped_counts(tallies, by, level)) if tallies else {}
    half = half_width_95(cal.scale)
    rows = tuple(DpRow(dict(zip(by, json.loads(key), strict=True)), int(v), v - half, v + half)
                 for key, v in sorted(noisy.items()))
    return DpRelease(tuple(by), level, epsilon, delta, cal.scale, cal.threshold, BOUND, rows, rho=cal.rho)
