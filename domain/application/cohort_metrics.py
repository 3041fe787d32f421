"""A cohort's metrics commands and reads (the drift rule itself: ``domain/cohort_metrics.py``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from engagement_tracker.domain.access import cohort_read_scope, require_metrics_keeper
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.cohort_metrics import DriftRule, experiment_effects, metric_series
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import NotPermitted
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

if TYPE_CHECKING:
    from engagement_tracker.domain.application.command_path import CommandPath
    from engagement_tracker.domain.cohort_record import CohortRecord


class CohortMetrics:
    """``app.cohorts.record_reading / set_key_result_target / metrics / experiment_effects``."""

    path: CommandPath

    if TYPE_CHECKING:
        def get(self, cohort_id: object) -> Cohort: ...
        def record(self, cohort_id: object) -> CohortRecord: ...
        def _do(self, cohort_id: object, step: str, actor: Actor, command: Any, command_id: object = None) -> Any: ...

    @property
    def drift_rule(self) -> DriftRule:
        """The rule in force (ETRACK_DRIFT_WINDOW, ETRACK_DRIFT_Z)."""
        return DriftRule(self.path.settings.drift_window, self.path.settings.drift_z)

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
    ) -> CommandResult[int]:
        """A member records a reading of a metric; at a ritual, that ritual's metrics keeper. Returns its number."""
        return self.path.update(
            Cohort, cohort_id, "cohort",
            lambda c, at: c.record_reading(actor, at, metric, value, read_on, ritual), command_id=command_id)

    def log_coaching(
        self,
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
        self, cohort_id: object, actor: Actor, key_result: int, metric: str, target: float, *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """Tie a key result to a metric and a numeric target (reached by the key result's date)."""
        return self.path.update(
            Cohort, cohort_id, "cohort",
            lambda c, at: c.set_key_result_target(actor, at, key_result, metric, target), command_id=command_id)

    def metrics(self, cohort_id: object, viewer: Actor) -> dict[str, Any]:
        """Members and the coach: each metric's readings, target, band and drifts (``metric_series``)."""
        record = self.record(cohort_id)
        c = record.cohort
        if cohort_read_scope(c, viewer, self.path.held_grants) != "full":
            raise NotPermitted("read cohort metrics", "only the cohort's members and coach read its metrics",
                               [Role.MEMBER.value, Role.COACH.value])
        names = {k: self.path.sealing.unseal(m.name) for k, m in c.metrics.items()}
        return metric_series(record, self.drift_rule, names)

    def experiment_effects(self, cohort_id: object, viewer: Actor) -> list[dict[str, Any]]:
        """For the metrics keeper of the latest ritual and the coach: readings before and after each experiment."""
        record = self.record(cohort_id)
        require_metrics_keeper(record.cohort, viewer)
        return experiment_effects(record, self.drift_rule)
