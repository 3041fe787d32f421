"""Cohort: a peer-coaching cohort of 5 to 8 members, framing -> accompaniment -> closing.

Rituals (weekly stand-up, metrics review every two weeks, monthly retrospective) are held with
a facilitator, a scribe and a metrics keeper who are three distinct members and rotate; each
produces an artefact. Decisions carry a data point, a date and a member as owner. Experiments
run, end, and get feedback within the cohort's feedback window (72 hours by default). The
first cycle's weekly checkpoints fall due from the start of accompaniment. Free text is sealed
under the cohort's own key.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from engagement_tracker.domain import cohort_side_steps
from engagement_tracker.domain.checks import (
    require_date,
    require_int,
    require_key,
    require_label,
    require_member,
    require_number,
    require_time,
)
from engagement_tracker.domain.cohort_history import CohortHistory
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.values import (
    Actor,
    CohortRules,
    DataPoint,
    Decision,
    Experiment,
    KeyResult,
    Metric,
    Practice,
    Ritual,
    Sealed,
)
from engagement_tracker.domain.vocabulary import (
    ArtefactKind,
    CohortRoleName,
    ExperimentStatus,
    PracticeStatus,
    RitualKind,
    Role,
)
from engagement_tracker.domain.workflow import COHORT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import events_of, require_actor, require_sealed


class Cohort(CohortHistory):
    """A peer-coaching cohort: the commands, each checking, then recording one event."""

    TOPIC = "etrack:Cohort"
    vars().update(events_of(CohortHistory))  # the history's events, registered under this aggregate

    # --- what the commands refuse with -------------------------------------------------------

    def _refuse(self, step: str, *problems: str) -> None:
        raise RuleViolation(step, self.state, problems)

    def _require_member(self, step: str, party: object, field: str) -> UUID:
        if not isinstance(party, UUID):
            raise InvalidInput(field, f"expected a party id, got {type(party).__name__}")
        if str(party) not in self.members:
            self._refuse(step, f"{field} {party} is not a member of this cohort")
        return party

    # --- framing ----------------------------------------------------------------------------

    def apply_template(self, actor: Actor, at: datetime, name: str, version: int, content: dict[str, Any]) -> None:
        """Record the programme template this cohort was opened with (``templates.py``): at opening only,
        in the same transaction, once. Not a workflow step: the state does not change."""
        require_time(at)
        require_actor(actor)
        if self.template is not None:
            raise RuleViolation("apply a template", self.state, [f"template {self.template['name']} was applied at opening"])
        if self.version != 1:
            raise RuleViolation("apply a template", self.state, ["a template is applied when the cohort opens, not later"])
        self._record(self.TemplateApplied, actor, at, self.state, template=name, version=version, content=content)


    @classmethod
    def open(
        cls, cohort_id: UUID, actor: Actor, at: datetime, org_unit: str, name: Sealed, rules: CohortRules | None = None
    ) -> Cohort:
        require_time(at)
        require_actor(actor)
        if actor.role is not Role.COACH:
            raise NotPermitted("open cohort", "a coach opens a cohort", [Role.COACH.value])
        return cls._create(
            cls.Created, id=cohort_id, timestamp=at, actor=actor, to_state=COHORT_WORKFLOW.initial, coach=actor.party,
            org_unit=require_label(org_unit, "org_unit"), name=require_sealed(name, "name"),
            rules=rules or CohortRules(),
        )

    def add_member(self, actor: Actor, at: datetime, member: UUID) -> None:
        to = self._step("add_member", actor, at, {"change": 1})
        if not isinstance(member, UUID):
            raise InvalidInput("member", "expected a party id")
        if str(member) in self.members:
            self._refuse("add_member", f"{member} is already a member")
        if member == self.coach:
            self._refuse("add_member", "the cohort's coach is not one of its peers")
        self._record(self.MemberJoined, actor, at, to, member=member)

    def remove_member(self, actor: Actor, at: datetime, member: UUID) -> None:
        to = self._step("remove_member", actor, at, {"change": -1})
        self._require_member("remove_member", member, "member")
        if actor.role is Role.MEMBER and actor.party != member:
            raise NotPermitted("remove_member", "a member may only leave, never remove another", ["coach"])
        self._record(self.MemberLeft, actor, at, to, member=member)

    def set_scope(self, actor: Actor, at: datetime, scope: Sealed) -> None:
        to = self._step("set_scope", actor, at)
        self._record(self.ScopeSet, actor, at, to, scope=require_sealed(scope, "scope"))

    def set_objective(self, actor: Actor, at: datetime, objective: Sealed, customer_result: Sealed) -> None:
        """One objective, tied to a tangible customer result."""
        to = self._step("set_objective", actor, at)
        self._record(
            self.ObjectiveSet, actor, at, to,
            objective=require_sealed(objective, "objective"),
            customer_result=require_sealed(customer_result, "customer_result"),
        )

    def add_key_result(self, actor: Actor, at: datetime, statement: Sealed, due: date) -> int:
        """Key results are numbered and dated; returns the number."""
        to = self._step("add_key_result", actor, at)
        if self.objective is None:
            self._refuse("add_key_result", "set the objective first")
        kr = KeyResult(len(self.key_results) + 1, require_sealed(statement, "statement"), require_date(due, "due"))
        self._record(self.KeyResultAdded, actor, at, to, key_result=kr)
        return kr.number

    def add_metric(self, actor: Actor, at: datetime, name: Sealed) -> str:
        to = self._step("add_metric", actor, at)
        key = f"M{len(self.metrics) + 1}"
        self._record(self.MetricAdded, actor, at, to, metric=Metric(key, require_sealed(name, "name")))
        return key

    def plan_experiment(self, actor: Actor, at: datetime, key_result: int, hypothesis: Sealed) -> str:
        """Each experiment contributes to one key result; returns its key (E1, E2, ...)."""
        to = self._step("plan_experiment", actor, at)
        require_int(key_result, "key_result", 1, 10_000)
        if key_result > len(self.key_results):
            known = ", ".join(str(k.number) for k in self.key_results) or "none"
            raise InvalidInput("key_result", f"no key result {key_result}; known: {known}")
        key = f"E{len(self.experiments) + 1}"
        exp = Experiment(key, key_result, require_sealed(hypothesis, "hypothesis"), ExperimentStatus.PLANNED)
        self._record(self.ExperimentPlanned, actor, at, to, experiment=exp)
        return key

    def start_accompaniment(self, actor: Actor, at: datetime) -> None:
        """Refused, listing what is missing, until 5-8 members and the whole frame are in place."""
        to = self._step("start_accompaniment", actor, at)
        self._record(self.AccompanimentStarted, actor, at, to)

    # --- accompaniment ----------------------------------------------------------------------

    def hold_ritual(
        self,
        actor: Actor,
        at: datetime,
        kind: RitualKind | str,
        held_on: date,
        facilitator: UUID,
        scribe: UUID,
        metrics_keeper: UUID,
        artefact_kind: ArtefactKind | str,
        artefact: Sealed,
    ) -> int:
        to = self._step("hold_ritual", actor, at)
        kind = require_member(RitualKind, kind, "kind")
        artefact_kind = require_member(ArtefactKind, artefact_kind, "artefact_kind")
        holders = {
            CohortRoleName.FACILITATOR: self._require_member("hold_ritual", facilitator, "facilitator"),
            CohortRoleName.SCRIBE: self._require_member("hold_ritual", scribe, "scribe"),
            CohortRoleName.METRICS_KEEPER: self._require_member("hold_ritual", metrics_keeper, "metrics_keeper"),
        }
        if len(set(holders.values())) != 3:
            self._refuse("hold_ritual", "facilitator, scribe and metrics keeper must be three distinct members")
        self._check_rotation(kind, holders)
        ritual = Ritual(
            self.rituals_held + 1, kind, require_date(held_on, "held_on"), holders[CohortRoleName.FACILITATOR],
            holders[CohortRoleName.SCRIBE], holders[CohortRoleName.METRICS_KEEPER], artefact_kind,
            require_sealed(artefact, "artefact"),
        )
        self._record(self.RitualHeld, actor, at, to, ritual=ritual)
        return ritual.number

    def _check_rotation(self, kind: RitualKind, holders: dict[CohortRoleName, UUID]) -> None:
        """No member holds the same role at two consecutive rituals of a kind while another could."""
        previous = self.last_holders.get(kind.value)
        if previous is None:
            return
        free = [m for m in self.members if UUID(m) not in holders.values()]
        problems = []
        for role, member in holders.items():
            if previous[role.value] == str(member) and free:
                problems.append(
                    f"{member} was {role.value} at the previous {kind.value}; roles rotate "
                    f"(free to take it: {', '.join(free)})"
                )
        if problems:
            self._refuse("hold_ritual", *problems)

    def record_decision(
        self,
        actor: Actor,
        at: datetime,
        statement: Sealed,
        data_point: DataPoint | None,
        decided_on: date | None,
        owner: UUID | None,
    ) -> int:
        """Every decision is attached to a data point, a date and a named owner (a member)."""
        to = self._step("record_decision", actor, at)
        if data_point is None or not isinstance(data_point, DataPoint):
            raise InvalidInput("data_point", "a decision needs a data point: DataPoint(metric, value)")
        if data_point.metric not in self.metrics:
            raise InvalidInput("data_point", f"unknown metric {data_point.metric!r}; known: {', '.join(self.metrics)}")
        require_number(data_point.value, "data_point.value")
        if decided_on is None:
            raise InvalidInput("decided_on", "a decision needs a date")
        if owner is None:
            raise InvalidInput("owner", "a decision needs a named owner")
        self._require_member("record_decision", owner, "owner")
        decision = Decision(self.decisions_recorded + 1, require_sealed(statement, "statement"), data_point,
                            require_date(decided_on, "decided_on"), owner)
        self._record(self.DecisionRecorded, actor, at, to, decision=decision)
        return decision.number

    def _experiment(self, step: str, key: str, expected: ExperimentStatus) -> Experiment:
        if key not in self.experiments:
            known = ", ".join(self.experiments) or "none"
            raise InvalidInput("experiment", f"unknown experiment {key!r}; known: {known}")
        exp = self.experiments[key]
        if exp.status is not expected:
            if step == "give_feedback" and exp.status is ExperimentStatus.PLANNED:
                self._refuse(step, f"experiment {key} never ran: start and end it before feedback")
            what = step.replace("_", " ")
            self._refuse(step, f"experiment {key} is {exp.status.value}; {what} needs it {expected.value}")
        return exp

    def start_experiment(self, actor: Actor, at: datetime, key: str) -> None:
        to = self._step("start_experiment", actor, at)
        self._experiment("start_experiment", key, ExperimentStatus.PLANNED)
        self._record(self.ExperimentStarted, actor, at, to, key=key)

    def end_experiment(self, actor: Actor, at: datetime, key: str) -> None:
        """The feedback window (72 hours by default) opens when the experiment ends."""
        to = self._step("end_experiment", actor, at)
        self._experiment("end_experiment", key, ExperimentStatus.RUNNING)
        self._record(self.ExperimentEnded, actor, at, to, key=key)

    def give_feedback(self, actor: Actor, at: datetime, key: str, feedback: Sealed) -> bool:
        """Feedback on an ended experiment; returns True if it came after the window (late)."""
        to = self._step("give_feedback", actor, at)
        exp = self._experiment("give_feedback", key, ExperimentStatus.ENDED)
        if exp.feedback_at is not None:
            self._refuse("give_feedback", f"experiment {key} already has feedback")
        if exp.ended_at is None:  # unreachable: _experiment checked the experiment ended
            self._refuse("give_feedback", f"experiment {key} has not ended")
        late = exp.ended_at is not None and at > exp.ended_at + timedelta(hours=self.rules.feedback_hours)
        sealed = require_sealed(feedback, "feedback")
        self._record(self.FeedbackGiven, actor, at, to, key=key, feedback=sealed, late=late)
        return late

    def update_playbook(
        self, actor: Actor, at: datetime, practice: str, status: PracticeStatus | str, conditions: Sealed
    ) -> None:
        """Standardise what works, abandon what fails, with the conditions in which it applies."""
        to = self._step("update_playbook", actor, at)
        item = Practice(require_key(practice, "practice"), require_member(PracticeStatus, status, "status"),
                        require_sealed(conditions, "conditions"))
        self._record(self.PlaybookUpdated, actor, at, to, practice=item)

    def complete_checkpoint(self, actor: Actor, at: datetime, week: int) -> None:
        to = self._step("complete_checkpoint", actor, at)
        require_int(week, "week", 1, self.rules.cycle_weeks)
        if str(week) in self.checkpoints:
            self._refuse("complete_checkpoint", f"week {week} is already done")
        self._record(self.CheckpointCompleted, actor, at, to, week=week)

    # --- outside the workflow (cohort_side_steps.py): readings, coaching time, targets, testimonials ---

    record_reading = cohort_side_steps.record_reading
    log_coaching = cohort_side_steps.log_coaching
    set_key_result_target = cohort_side_steps.set_key_result_target
    leave_testimonial = cohort_side_steps.leave_testimonial
    check_testimonial = cohort_side_steps.check_testimonial

    # --- closing ----------------------------------------------------------------------------

    def begin_closing(self, actor: Actor, at: datetime) -> None:
        to = self._step("begin_closing", actor, at)
        self._record(self.ClosingBegun, actor, at, to)

    def record_closing_synthesis(self, actor: Actor, at: datetime, synthesis: Sealed) -> None:
        to = self._step("record_closing_synthesis", actor, at)
        self._record(self.ClosingSynthesisRecorded, actor, at, to, synthesis=require_sealed(synthesis, "synthesis"))

    def record_sharing(self, actor: Actor, at: datetime, audience: Sealed) -> None:
        to = self._step("record_sharing", actor, at)
        self._record(self.SharingRecorded, actor, at, to, audience=require_sealed(audience, "audience"))

    def prepare_scale_up(self, actor: Actor, at: datetime, plan: Sealed) -> None:
        to = self._step("prepare_scale_up", actor, at)
        self._record(self.ScaleUpPrepared, actor, at, to, plan=require_sealed(plan, "plan"))

    def close(self, actor: Actor, at: datetime) -> None:
        to = self._step("close", actor, at)
        self._record(self.Closed, actor, at, to)

    def abandon(self, actor: Actor, at: datetime, reason: Sealed | None = None) -> None:
        to = self._step("abandon", actor, at)
        self._record(self.Abandoned, actor, at, to, reason=None if reason is None else require_sealed(reason, "reason"))
