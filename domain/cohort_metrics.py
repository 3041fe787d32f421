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
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs

from engagement_tracker.domain.access import cohort_read_scope, require_metrics_keeper
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.domain.values import Actor, MetricReading
from engagement_tracker.domain.vocabulary import Role

if TYPE_CHECKING:
    from engagement_tracker.domain.application import EngagementTracker
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


class CohortMetrics:
    """``app.cohorts.record_reading / set_key_result_target / metrics / experiment_effects``."""

    app: EngagementTracker

    if TYPE_CHECKING:
        def get(self, cohort_id: object) -> Cohort: ...
        def record(self, cohort_id: object) -> CohortRecord: ...
        def _do(self, cohort_id: object, step: str, actor: Actor, command: Any, command_id: object = None) -> Any: ...

    @property
    def drift_rule(self) -> DriftRule:
        """The rule in force (ETRACK_DRIFT_WINDOW, ETRACK_DRIFT_Z)."""
        return DriftRule(self.app.settings.drift_window, self.app.settings.drift_z)

    def record_reading(
        self,
        cohort_id: object,
        actor: Actor,
        metric: str,
        value: float,
        read_on: date,
        ritual: int | None = None,
        *,
        command_id: object = None,
    ) -> int:
        """A member records a reading of a metric; at a ritual, that ritual's metrics keeper. Returns its number."""
        return int(self.app._update(
            Cohort, cohort_id, "cohort",
            lambda c, at: c.record_reading(actor, at, metric, value, read_on, ritual), command_id=command_id))

    def log_coaching(
        self,
        cohort_id: object,
        actor: Actor,
        held_on: date,
        duration_minutes: int,
        billing: str = "paid",
        *,
        command_id: object = None,
    ) -> int:
        """The coach logs time coaching the cohort, for the ICF hours log (group size: its members now)."""
        return int(self.app._update(
            Cohort, cohort_id, "cohort",
            lambda c, at: c.log_coaching(actor, at, held_on, duration_minutes, billing), command_id=command_id))

    def set_key_result_target(
        self, cohort_id: object, actor: Actor, key_result: int, metric: str, target: float, *,
        command_id: object = None,
    ) -> None:
        """Tie a key result to a metric and a numeric target (reached by the key result's date)."""
        self.app._update(
            Cohort, cohort_id, "cohort",
            lambda c, at: c.set_key_result_target(actor, at, key_result, metric, target), command_id=command_id)

    def metrics(self, cohort_id: object, viewer: Actor) -> dict[str, Any]:
        """Members and the coach: each metric's readings, target, band and drifts (``metric_series``)."""
        record = self.record(cohort_id)
        c = record.cohort
        if cohort_read_scope(c, viewer, self.app.held_grants) != "full":
            raise NotPermitted("read cohort metrics", "only the cohort's members and coach read its metrics",
                               [Role.MEMBER.value, Role.COACH.value])
        names = {k: self.app.unseal(m.name) for k, m in c.metrics.items()}
        return metric_series(record, self.drift_rule, names)

    def experiment_effects(self, cohort_id: object, viewer: Actor) -> list[dict[str, Any]]:
        """For the metrics keeper of the latest ritual and the coach: readings before and after each experiment."""
        record = self.record(cohort_id)
        require_metrics_keeper(record.cohort, viewer)
        return experiment_effects(record, self.drift_rule)
