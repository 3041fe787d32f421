"""The framing steps of a cohort: members, scope, objective, key results, metrics, planned experiments,
and the start of accompaniment.

Each step is a method of :class:`CohortService` (``app.cohorts.<step>``), written here as a function
of the service (``self``) and assigned to the class there (``cohort_step.py`` says how a step
runs), so the step catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from datetime import date

from engagement_tracker.domain.application.cohort_step import CohortSteps, seal_shared, take_cohort_step
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.values import Actor


def add_member(
    self: CohortSteps, cohort_id: object, actor: Actor, member: object, *, command_id: object = None
) -> CommandResult[None]:
    member_id = self.path.party(member).id
    return take_cohort_step(
        self, cohort_id, "add_member", actor, lambda c, at: c.add_member(actor, at, member_id), command_id=command_id
    )


def remove_member(
    self: CohortSteps, cohort_id: object, actor: Actor, member: object, *, command_id: object = None
) -> CommandResult[None]:
    member_id = as_uuid(member, "member")
    return take_cohort_step(
        self,
        cohort_id,
        "remove_member",
        actor,
        lambda c, at: c.remove_member(actor, at, member_id),
        command_id=command_id,
    )


def set_scope(
    self: CohortSteps, cohort_id: object, actor: Actor, scope: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "set_scope",
        actor,
        lambda c, at: c.set_scope(actor, at, seal_shared(self, actor, scope, "scope")),
        command_id=command_id,
    )


def set_objective(
    self: CohortSteps, cohort_id: object, actor: Actor, objective: str, customer_result: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "set_objective",
        actor,
        lambda c, at: c.set_objective(
            actor,
            at,
            seal_shared(self, actor, objective, "objective"),
            seal_shared(self, actor, customer_result, "customer_result"),
        ),
        command_id=command_id,
    )


def add_key_result(
    self: CohortSteps, cohort_id: object, actor: Actor, statement: str, due: date, *, command_id: object = None
) -> CommandResult[int]:
    return take_cohort_step(
        self,
        cohort_id,
        "add_key_result",
        actor,
        lambda c, at: c.add_key_result(actor, at, seal_shared(self, actor, statement, "statement"), due),
        command_id=command_id,
    )


def add_metric(self: CohortSteps, cohort_id: object, actor: Actor, name: str, *, command_id: object = None) -> CommandResult[str]:
    return take_cohort_step(
        self,
        cohort_id,
        "add_metric",
        actor,
        lambda c, at: c.add_metric(actor, at, seal_shared(self, actor, name, "name")),
        command_id=command_id,
    )


def plan_experiment(
    self: CohortSteps, cohort_id: object, actor: Actor, key_result: int, hypothesis: str, *, command_id: object = None
) -> CommandResult[str]:
    return take_cohort_step(
        self,
        cohort_id,
        "plan_experiment",
        actor,
        lambda c, at: c.plan_experiment(actor, at, key_result, seal_shared(self, actor, hypothesis, "hypothesis")),
        command_id=command_id,
    )


def start_accompaniment(self: CohortSteps, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "start_accompaniment",
        actor,
        lambda c, at: c.start_accompaniment(actor, at),
        command_id=command_id,
    )

