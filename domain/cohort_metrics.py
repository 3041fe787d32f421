"""A cohort's metrics over time: readings, key result targets, the drift rule, experiment effects.

Seed 002: a shared dashboard shows "the trend, the variance and notable incidents"; key results
are "quantified and dated"; the metrics keeper "guarantees data quality, alerts on drift and
validates the effects of experiments".

- **Readings** (``record_reading``) and **targets** (``set_key_result_target``) are recorded
  facts (``Cohort.MetricRead``, ``Cohort.KeyResultTargetSet``). They are steps outside the
  workflow: they never change the state (like ``consent_to_icf_log`` on engagements).
- **The drift rule**: a reading drifts when it lies outside the band of the ``window`` readings
  of the same metric before it (in date order, then as recorded): ``mean ± z · sd`` (``sd`` the
  sample standard deviation). A metric with fewer than ``window`` earlier readings has no band
  and never drifts. ``window`` (n, default 5, ``ETRACK_DRIFT_WINDOW`` >= 2) and ``z`` (default 2,
  ``ETRACK_DRIFT_Z``) are settings. When all ``window`` readings are equal the band is that one
  value, and any other value drifts.
- **Drifts are derived, never recorded.** The readings are the facts; a drift is a judgement on
  them under a rule whose n and z are configurable. Recording it would freeze one setting into
  history (a later change of n or z would then disagree with the record, or re-record); deriving
  it keeps replay free of rules, shows every past incident consistently under the rule in force,
  and lets anyone holding the readings (an auditor included, from the proven trail) recompute it.
- **Experiment effects** (for the metrics keeper of the latest ritual, and the coach): for each
  started experiment and each metric, the last ``window`` readings before it started against
  the first ``window`` readings on or after it ended, and the difference of their means.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from engagement_tracker.domain.values import MetricReading

if TYPE_CHECKING:
    from engagement_tracker.domain.cohort_record import CohortRecord


@attrs.frozen
class DriftRule:
    """A reading outside ``mean ± z · sd`` of the ``window`` readings before it is a drift."""

    window: int = 5
    z: float = 2.0


@attrs.frozen
class Band:
    mean: float
    sd: float
    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


def band_of(previous: Sequence[float], rule: DriftRule) -> Band | None:
    """The band the next reading should fall in, from the last ``rule.window`` values (None if fewer)."""
    if len(previous) < rule.window:
        return None
    last = list(previous)[-rule.window:]
    mean = statistics.fmean(last)
    sd = statistics.stdev(last)
    return Band(mean, sd, mean - rule.z * sd, mean + rule.z * sd)


def in_order(readings: Sequence[MetricReading], metric: str) -> list[MetricReading]:
    """One metric's readings by date, then as recorded (a stable sort keeps the record order)."""
    return sorted((r for r in readings if r.metric == metric), key=lambda r: r.read_on)


def drifts(readings: Sequence[MetricReading], rule: DriftRule) -> list[dict[str, Any]]:
    """Every reading of one metric outside the band of the readings before it, with that band."""
    found = []
    values: list[float] = []
    for r in readings:
        band = band_of(values, rule)
        if band is not None and not band.holds(r.value):
            found.append({"kind": "drift", "metric": r.metric, "read_on": r.read_on.isoformat(), "value": r.value,
                          "low": band.low, "high": band.high, "ritual": r.ritual})
        values.append(r.value)
    return found


def metric_series(r: CohortRecord, rule: DriftRule, names: dict[str, str | None]) -> dict[str, Any]:
    """Each metric as plain data a page can chart: readings, its key result target, band, drifts."""
    c = r.cohort
    series = {}
    for key in c.metrics:
        readings = in_order(r.readings, key)
        band = band_of([r.value for r in readings], rule)
        target = next((t for t in c.targets.values() if t.metric == key), None)
        due = None if target is None else next(k.due for k in c.key_results if k.number == target.key_result)
        series[key] = {
            "name": names.get(key),
            "readings": [(r.read_on.isoformat(), r.value) for r in readings],
            "target": None if target is None or due is None else {
                "key_result": target.key_result, "target": target.target, "due": due.isoformat()},
            "band": None if band is None else {
                "mean": band.mean, "sd": band.sd, "low": band.low, "high": band.high,
                "window": rule.window, "z": rule.z},
            "drifts": drifts(readings, rule),
        }
    return series


def experiment_effects(r: CohortRecord, rule: DriftRule) -> list[dict[str, Any]]:
    """Readings before and after each started experiment, per metric, and the change of their means."""
    c = r.cohort
    rows = []
    for key, started in c.experiment_started.items():
        exp = c.experiments[key]
        ended = exp.ended_at
        for metric in c.metrics:
            readings = in_order(r.readings, metric)
            before = [r.value for r in readings if r.read_on < started.date()][-rule.window:]
            after = [] if ended is None else [r.value for r in readings if r.read_on >= ended.date()][:rule.window]
            rows.append({
                "experiment": key, "key_result": exp.key_result, "metric": metric,
                "started_on": started.date().isoformat(), "ended_on": _day(ended),
                "before": before, "after": after,
                "before_mean": statistics.fmean(before) if before else None,
                "after_mean": statistics.fmean(after) if after else None,
                "effect": statistics.fmean(after) - statistics.fmean(before) if before and after else None,
            })
    return rows


def _day(at: datetime | None) -> str | None:
    return None if at is None else at.date().isoformat()
