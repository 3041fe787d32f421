"""A cohort's metrics commands and reads (the drift rule itself: ``domain/cohort_metrics.py``).

``app.cohorts.record_reading / log_coaching / set_key_result_target / metrics / experiment_effects``:
each a function of the cohort service (``self``) assigned to :class:`CohortService` as a method.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from engagement_tracker.domain.access import cohort_read_scope, require_metrics_keeper
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.cohort_metrics import DriftRule, metric_series
from engagement_tracker.domain.cohort_metrics import experiment_effects as effects_of_experiments
from engagement_tracker.domain.cohort_record import CohortRecord
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role


class CohortMetricSteps(Protocol):
    """What these use of the cohort service: its command path, its records, and the drift rule."""

    @property
    def path(self) -> CommandPath: ...

    @property
    def drift_rule(self) -> DriftRule: ...

    def record(self, cohort_id: object, version: int | None = None) -> CohortRecord: ...


def drift_rule(path: CommandPath) -> DriftRule:
    """The rule in force (ETRACK_DRIFT_WINDOW, ETRACK_DRIFT_Z)."""
    return DriftRule(path.settings.drift_window, path.settings.drift_z)


def record_reading(
    self: CohortMetricSteps,
    cohort_id: object,
    actor: Actor,
    metric: str,
    value: float,
    read_on: date,
    ritual: int | None = None,
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """A member records a reading of a metric; at a ritual, that ritual's metrics keeper. Returns its number."""
    return self.path.update(
        Cohort, cohort_id, "cohort",
        lambda c, at: c.record_reading(actor, at, metric, value, read_on, ritual), command_id=command_id)


def log_coaching(
    self: CohortMetricSteps,
    cohort_id: object,
    actor: Actor,
    held_on: date,
    duration_minutes: int,
    billing: str = "paid",
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """The coach logs time coaching the cohort, for the ICF hours log (group size: its members now)."""
    return self.path.update(
        Cohort, cohort_id, "cohort",
        lambda c, at: c.log_coaching(actor, at, held_on, duration_minutes, billing), command_id=command_id)


def set_key_result_target(
    self: CohortMetricSteps, cohort_id: object, actor: Actor, key_result: int, metric: str, target: float, *,
    command_id: object = None,
) -> CommandResult[None]:
    """Tie a key result to a metric and a numeric target (reached by the key result's date)."""
    return self.path.update(
        Cohort, cohort_id, "cohort",
        lambda c, at: c.set_key_result_target(actor, at, key_result, metric, target), command_id=command_id)


def metrics(self: CohortMetricSteps, cohort_id: object, viewer: Actor) -> dict[str, Any]:
    """Members and the coach: each metric's readings, target, band and drifts (``metric_series``)."""
    record = self.record(cohort_id)
    c = record.cohort
    if cohort_read_scope(c, viewer, self.path.held_grants) != "full":
        raise NotPermitted("read cohort metrics", "only the cohort's members and coach read its metrics",
                           [Role.MEMBER.value, Role.COACH.value])
    names = {k: self.path.sealing.unseal(m.name) for k, m in c.metrics.items()}
    return metric_series(record, self.drift_rule, names)


def experiment_effects(self: CohortMetricSteps, cohort_id: object, viewer: Actor) -> list[dict[str, Any]]:
    """For the metrics keeper of the latest ritual and the coach: readings before and after each experiment."""
    record = self.record(cohort_id)
    require_metrics_keeper(record.cohort, viewer)
    return effects_of_experiments(record, self.drift_rule)
