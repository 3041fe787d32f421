"""A cohort's steps outside the workflow (they never change its state): metric readings, the coach's
logged coaching time, key-result targets, and the members' testimonials at closing.

Each command is a method of :class:`cohort.Cohort`, written here as a function of the aggregate
(``self``) and assigned to the class there: it checks, then raises, then records one event, as
every command of the aggregate does.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from engagement_tracker.domain.checks import require_date, require_int, require_member, require_number, require_time
from engagement_tracker.domain.cohort_history import CohortHistory
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.testimonials import AT_CLOSING, require_first
from engagement_tracker.domain.values import Actor, KeyResultTarget, MetricReading, Testimonial
from engagement_tracker.domain.vocabulary import Billing
from engagement_tracker.domain.workflow_aggregate import require_actor


def _outside_workflow(self: CohortHistory, step: str, actor: Actor, at: datetime, phases: tuple[str, ...]) -> str:
    """Check who acts and that the cohort is in one of ``phases``; the state stays as it is."""
    require_time(at)
    self.require_party(step, require_actor(actor))
    if self.state not in phases:
        raise RuleViolation(step, self.state, [f"taken in {' or '.join(phases)}; the cohort is {self.state}"])
    return str(self.state)


def record_reading(
    self: CohortHistory, actor: Actor, at: datetime, metric: str, value: float, read_on: date, ritual: int | None = None
) -> int:
    """A reading of a cohort metric, by a member: at a ritual, only that ritual's metrics keeper.

    Returns the reading's number (1, 2, ... across the cohort's metrics)."""
    to = _outside_workflow(self, "record_reading", actor, at, ("accompaniment", "closing"))
    if metric not in self.metrics:
        raise InvalidInput("metric", f"unknown metric {metric!r}; known: {', '.join(self.metrics) or 'none'}")
    if ritual is not None:
        require_int(ritual, "ritual", 1, max(1, self.rituals_held))
        if ritual > self.rituals_held:
            raise InvalidInput("ritual", f"ritual {ritual} is not held; held: 1 to {self.rituals_held}")
        keeper = UUID(self.ritual_keepers[ritual - 1])
        if keeper != actor.party:
            raise NotPermitted("record_reading", f"at ritual {ritual} the metrics keeper is {keeper}; "
                               "without a ritual any member records a reading", [str(keeper)])
    reading = MetricReading(metric, require_number(value, "value"), require_date(read_on, "read_on"), ritual)
    self._record(self.MetricRead, actor, at, to, reading=reading)
    return self.readings_recorded


def log_coaching(
    self: CohortHistory, actor: Actor, at: datetime, held_on: date, duration_minutes: int, billing: Billing | str = Billing.PAID
) -> int:
    """The coach logs time spent coaching the cohort (a ritual, a checkpoint) for the ICF hours log;
    returns the cohort's group size, its members now."""
    to = _outside_workflow(self, "log_coaching", actor, at, ("accompaniment", "closing"))
    minutes = require_int(duration_minutes, "duration_minutes", 1, 480)
    kind = require_member(Billing, billing, "billing")
    if not self.members:
        raise RuleViolation("log_coaching", self.state, ["a cohort with members (group coaching)"])
    self.require_since_created(require_date(held_on, "held_on"), "held_on", "coaching time")
    self._record(self.CoachingLogged, actor, at, to, held_on=require_date(held_on, "held_on"),
                 duration_minutes=minutes, billing=kind.value, group_size=len(self.members))
    return len(self.members)


def set_key_result_target(
    self: CohortHistory, actor: Actor, at: datetime, key_result: int, metric: str, target: float
) -> None:
    """A key result's metric and numeric target (its date is the key result's); setting again replaces it."""
    to = _outside_workflow(self, "set_key_result_target", actor, at, ("framing", "accompaniment"))
    numbers = [k.number for k in self.key_results]
    if key_result not in numbers:
        raise InvalidInput("key_result", f"unknown key result {key_result!r}; known: "
                           f"{', '.join(map(str, numbers)) or 'none'}")
    if metric not in self.metrics:
        raise InvalidInput("metric", f"unknown metric {metric!r}; known: {', '.join(self.metrics) or 'none'}")
    target_set = KeyResultTarget(key_result, metric, require_number(target, "target"))
    self._record(self.KeyResultTargetSet, actor, at, to, target=target_set)


def leave_testimonial(self: CohortHistory, actor: Actor, at: datetime, testimonial: Testimonial) -> None:
    """A member leaves a voluntary testimonial at closing (domain/testimonials.py); one each."""
    to = _outside_workflow(self, "leave_testimonial", actor, at, AT_CLOSING)
    check_testimonial(self, actor)
    if not isinstance(testimonial, Testimonial):
        raise InvalidInput("testimonial", "expected a Testimonial (domain/testimonials.py make_testimonial)")
    self._record(self.TestimonialLeft, actor, at, to, testimonial=testimonial)


def check_testimonial(self: CohortHistory, actor: Actor) -> None:
    """Refuse, before any text is sealed, a testimonial ``actor`` may not leave now."""
    self.require_party("leave_testimonial", require_actor(actor))
    if self.state not in AT_CLOSING:
        raise RuleViolation("leave_testimonial", self.state, [f"left in closing or closed; the cohort is {self.state}"])
    require_first(self.testimonials, str(actor.party))
