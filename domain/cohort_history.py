"""What a cohort is made of: its events, and the state they build.

Replay needs nothing else: each event only assigns state. :class:`cohort.Cohort` adds the commands
that decide which event to record; the events are defined here, nested in the class, each with
its stable, persisted topic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import require_cohort_step
from engagement_tracker.domain.deadlines import cohort_deadlines
from engagement_tracker.domain.values import (
    Actor,
    CohortRules,
    Decision,
    Experiment,
    KeyResult,
    KeyResultTarget,
    Metric,
    MetricReading,
    Practice,
    Ritual,
    Sealed,
    Testimonial,
)
from engagement_tracker.domain.vocabulary import (
    CohortRoleName,
    ExperimentStatus,
)
from engagement_tracker.domain.workflow import COHORT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import WorkflowAggregate, stale_snapshot


class CohortRecord(Protocol):
    """What an event's ``keep`` writes: the cohort's content beyond its decisions
    (``cohort_record.CohortRecord`` folds it; named here by shape, so that neither module names the other)."""

    rituals: list[Ritual]
    decisions: list[Decision]
    readings: list[MetricReading]


class _TemplateApplied(WorkflowAggregate.Event):
    """Opened with a programme template (``templates.py``): its name, version and content, as declared
    (bound in :class:`CohortHistory` as ``TemplateApplied``; its topic is its own)."""

    TOPIC = "etrack:Cohort.TemplateApplied"
    template: str
    version: int
    content: dict[str, Any]

    def evolve(self, cohort: Any) -> None:
        cohort.template = {"name": self.template, "version": self.version, "content": self.content}


class CohortHistory(WorkflowAggregate):
    """A cohort's events and the state they build (the commands are on :class:`Cohort`)."""

    WORKFLOW = COHORT_WORKFLOW

    class Event(WorkflowAggregate.Event):
        """A cohort step: who took it, and the state it led to."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:Cohort.Created"
        actor: Actor
        to_state: str
        coach: UUID
        org_unit: str
        name: Sealed
        rules: CohortRules

    class MemberJoined(Event):
        TOPIC = "etrack:Cohort.MemberJoined"
        member: UUID

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.members[str(self.member)] = self.timestamp.date()

    class MemberLeft(Event):
        TOPIC = "etrack:Cohort.MemberLeft"
        member: UUID

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.members.pop(str(self.member), None)
            cohort.former_members.append(str(self.member))

    class ScopeSet(Event):
        TOPIC = "etrack:Cohort.ScopeSet"
        scope: Sealed

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.scope = self.scope

    class ObjectiveSet(Event):
        TOPIC = "etrack:Cohort.ObjectiveSet"
        objective: Sealed
        customer_result: Sealed

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.objective = self.objective
            cohort.customer_result = self.customer_result

    class KeyResultAdded(Event):
        TOPIC = "etrack:Cohort.KeyResultAdded"
        key_result: KeyResult

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.key_results.append(self.key_result)

    class MetricAdded(Event):
        TOPIC = "etrack:Cohort.MetricAdded"
        metric: Metric

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.metrics[self.metric.key] = self.metric

    class ExperimentPlanned(Event):
        TOPIC = "etrack:Cohort.ExperimentPlanned"
        experiment: Experiment

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.experiments[self.experiment.key] = self.experiment

    class AccompanimentStarted(Event):
        TOPIC = "etrack:Cohort.AccompanimentStarted"

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.cycle_started_at = self.timestamp

    class RitualHeld(Event):
        TOPIC = "etrack:Cohort.RitualHeld"
        ritual: Ritual

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.rituals_held = self.ritual.number
            cohort.ritual_keepers.append(str(self.ritual.metrics_keeper))
            cohort.last_holders[self.ritual.kind.value] = {
                role.value: str(self.ritual.holder(role)) for role in CohortRoleName}

        def keep(self, record: CohortRecord) -> None:
            record.rituals.append(self.ritual)

    class DecisionRecorded(Event):
        TOPIC = "etrack:Cohort.DecisionRecorded"
        decision: Decision

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.decisions_recorded += 1

        def keep(self, record: CohortRecord) -> None:
            record.decisions.append(self.decision)

    class ExperimentStarted(Event):
        TOPIC = "etrack:Cohort.ExperimentStarted"
        key: str

        def evolve(self, cohort: CohortHistory) -> None:
            old = cohort.experiments[self.key]
            cohort.experiments[self.key] = attrs.evolve(old, status=ExperimentStatus.RUNNING)
            cohort.experiment_started[self.key] = self.timestamp

    class MetricRead(Event):
        """A reading of a cohort metric (a step outside the workflow: it never changes the state)."""

        TOPIC = "etrack:Cohort.MetricRead"
        reading: MetricReading

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.readings_recorded += 1

        def keep(self, record: CohortRecord) -> None:
            record.readings.append(self.reading)

    class CoachingLogged(Event):
        """The coach's time with the cohort, for the coach's ICF hours log (a step outside the
        workflow: it never changes the state); group size is the members at that moment."""

        TOPIC = "etrack:Cohort.CoachingLogged"
        held_on: date
        duration_minutes: int
        billing: str
        group_size: int

    class TestimonialLeft(Event):
        """A member's voluntary testimonial at closing (a step outside the workflow: domain/testimonials.py)."""

        TOPIC = "etrack:Cohort.TestimonialLeft"
        testimonial: Testimonial

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.testimonials[str(self.actor.party)] = self.testimonial

    class KeyResultTargetSet(Event):
        """A key result's metric and numeric target (a step outside the workflow)."""

        TOPIC = "etrack:Cohort.KeyResultTargetSet"
        target: KeyResultTarget

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.targets[str(self.target.key_result)] = self.target

    class ExperimentEnded(Event):
        TOPIC = "etrack:Cohort.ExperimentEnded"
        key: str

        def evolve(self, cohort: CohortHistory) -> None:
            old = cohort.experiments[self.key]
            cohort.experiments[self.key] = attrs.evolve(old, status=ExperimentStatus.ENDED, ended_at=self.timestamp)

    class FeedbackGiven(Event):
        TOPIC = "etrack:Cohort.FeedbackGiven"
        key: str
        feedback: Sealed
        late: bool

        def evolve(self, cohort: CohortHistory) -> None:
            old = cohort.experiments[self.key]
            cohort.experiments[self.key] = attrs.evolve(old, feedback_at=self.timestamp)
            cohort.feedback[self.key] = self.feedback

    class PlaybookUpdated(Event):
        TOPIC = "etrack:Cohort.PlaybookUpdated"
        practice: Practice

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.playbook[self.practice.key] = self.practice

    class CheckpointCompleted(Event):
        TOPIC = "etrack:Cohort.CheckpointCompleted"
        week: int

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.checkpoints[str(self.week)] = self.timestamp

    class ClosingBegun(Event):
        TOPIC = "etrack:Cohort.ClosingBegun"

    class ClosingSynthesisRecorded(Event):
        TOPIC = "etrack:Cohort.ClosingSynthesisRecorded"
        synthesis: Sealed

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.closing["synthesis"] = self.synthesis

    class SharingRecorded(Event):
        TOPIC = "etrack:Cohort.SharingRecorded"
        audience: Sealed

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.closing["sharing"] = self.audience

    class ScaleUpPrepared(Event):
        TOPIC = "etrack:Cohort.ScaleUpPrepared"
        plan: Sealed

        def evolve(self, cohort: CohortHistory) -> None:
            cohort.closing["scale_up"] = self.plan

    class Closed(Event):
        TOPIC = "etrack:Cohort.Closed"

    class Abandoned(Event):
        TOPIC = "etrack:Cohort.Abandoned"
        reason: Sealed | None

    class SignalRecorded(WorkflowAggregate.SignalRecorded):
        TOPIC = "etrack:Cohort.SignalRecorded"

    TemplateApplied = _TemplateApplied

    class DeadlineMissed(WorkflowAggregate.DeadlineMissed):
        TOPIC = "etrack:Cohort.DeadlineMissed"

    def __init__(
        self, actor: Actor, to_state: str, coach: UUID, org_unit: str, name: Sealed, rules: CohortRules
    ) -> None:
        self.state = to_state
        self.coach = coach
        self.org_unit = org_unit
        self.name = name
        self.rules = rules
        self.members: dict[str, date] = {}
        self.former_members: list[str] = []
        self.scope: Sealed | None = None
        self.objective: Sealed | None = None
        self.customer_result: Sealed | None = None
        self.key_results: list[KeyResult] = []
        self.metrics: dict[str, Metric] = {}
        self.experiments: dict[str, Experiment] = {}
        self.cycle_started_at: datetime | None = None
        self.rituals_held = 0
        #: Each ritual's metrics keeper, by ritual number - 1 (a reading at a ritual is theirs to take):
        #: the one list that grows with the history, a party id per ritual.
        self.ritual_keepers: list[str] = []
        self.last_holders: dict[str, dict[str, str]] = {}  # ritual kind -> role -> who held it last time
        self.decisions_recorded = 0
        self.feedback: dict[str, Sealed] = {}
        self.playbook: dict[str, Practice] = {}
        self.checkpoints: dict[str, datetime] = {}
        self.closing: dict[str, Sealed] = {}
        self.missed: dict[str, datetime] = {}
        self.signals_recorded = 0
        self.readings_recorded = 0  # every metric's readings (their values stay in their events)
        self.targets: dict[str, KeyResultTarget] = {}  # key result number -> its metric and target
        self.experiment_started: dict[str, datetime] = {}
        self.testimonials: dict[str, Testimonial] = {}  # author -> their testimonial (one each)
        self.template: dict[str, Any] | None = None  # the programme template it was opened with

    #: Snapshots are a cache, not a public format: an earlier version's is ignored, the cohort replayed. v2: the
    #: fields above; v3: rituals, decisions, readings left to their events (``cohort_record.py``); v4: ``template``.
    class_version = 4
    upcast_v1_v2 = upcast_v2_v3 = upcast_v3_v4 = staticmethod(stale_snapshot)

    # --- derived facts ----------------------------------------------------------------------

    def framing_gaps(self) -> list[str]:
        r = self.rules
        gaps = []
        n = len(self.members)
        if not r.min_members <= n <= r.max_members:
            gaps.append(f"the cohort has {n} members; it needs {r.min_members} to {r.max_members}")
        if self.scope is None:
            gaps.append("no process scope is set")
        if self.objective is None:
            gaps.append("no objective tied to a customer result is set")
        if not self.key_results:
            gaps.append("no key result is defined")
        if len(self.metrics) < r.metrics:
            gaps.append(f"{len(self.metrics)} of {r.metrics} metrics are defined")
        if len(self.experiments) < r.experiments:
            gaps.append(f"{len(self.experiments)} of {r.experiments} experiments are chosen")
        return gaps

    def closing_gaps(self) -> list[str]:
        names = {"synthesis": "the synthesis", "sharing": "the sharing", "scale_up": "the scale-up preparation"}
        return [f"{label} is not recorded" for key, label in names.items() if key not in self.closing]

    def membership_problems(self, change: int) -> list[str]:
        n = len(self.members) + change
        if change > 0 and n > self.rules.max_members:
            return [f"the cohort has {len(self.members)} members; the limit is {self.rules.max_members}"]
        if change < 0 and self.state == "accompaniment" and n < self.rules.min_members:
            return [
                f"the cohort would keep {n} members; accompaniment needs at least {self.rules.min_members}"
            ]
        return []

    def due_deadlines(self, now: datetime) -> list[tuple[str, datetime]]:
        return cohort_deadlines(self, now)

    # --- the command path -------------------------------------------------------------------

    def require_party(self, step: str, actor: Actor) -> None:
        require_cohort_step(self, step, actor)
