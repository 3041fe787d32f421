"""The accompaniment steps of a cohort: rituals, decisions, experiments and their feedback, the
playbook, checkpoints, and signals.

Each step is a method of :class:`CohortService` (``app.cohorts.<step>``), written here as a function
of the service (``self``) and assigned to the class there (``cohort_step.py`` says how a step
runs), so the step catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from datetime import date

from engagement_tracker.domain.application.cohort_step import CohortSteps, seal_shared, take_cohort_step
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.values import Actor, DataPoint
from engagement_tracker.domain.vocabulary import Polarity, SignalContext


def hold_ritual(
    self: CohortSteps,
    cohort_id: object,
    actor: Actor,
    kind: str,
    held_on: date,
    facilitator: object,
    scribe: object,
    metrics_keeper: object,
    artefact_kind: str,
    artefact: str,
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """A ritual with its three rotating roles (distinct members) and the artefact it produced."""
    facilitator_id = as_uuid(facilitator, "facilitator")
    scribe_id = as_uuid(scribe, "scribe")
    keeper_id = as_uuid(metrics_keeper, "metrics_keeper")
    return take_cohort_step(
        self,
        cohort_id,
        "hold_ritual",
        actor,
        lambda c, at: c.hold_ritual(
            actor,
            at,
            kind,
            held_on,
            facilitator_id,
            scribe_id,
            keeper_id,
            artefact_kind,
            seal_shared(self, actor, artefact, "artefact"),
        ),
        command_id=command_id,
    )


def record_decision(
    self: CohortSteps,
    cohort_id: object,
    actor: Actor,
    statement: str,
    metric: str | None,
    value: float | None,
    decided_on: date | None,
    owner: object | None,
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """A decision with its data point (a cohort metric and its value), date and owner (a member)."""
    point = None if metric is None or value is None else DataPoint(metric, value)
    owner_id = None if owner is None else as_uuid(owner, "owner")
    return take_cohort_step(
        self,
        cohort_id,
        "record_decision",
        actor,
        lambda c, at: c.record_decision(
            actor, at, seal_shared(self, actor, statement, "statement"), point, decided_on, owner_id
        ),
        command_id=command_id,
    )


def start_experiment(
    self: CohortSteps, cohort_id: object, actor: Actor, key: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "start_experiment",
        actor,
        lambda c, at: c.start_experiment(actor, at, key),
        command_id=command_id,
    )


def end_experiment(
    self: CohortSteps, cohort_id: object, actor: Actor, key: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self, cohort_id, "end_experiment", actor, lambda c, at: c.end_experiment(actor, at, key), command_id=command_id
    )


def give_feedback(
    self: CohortSteps, cohort_id: object, actor: Actor, key: str, feedback: str, *, command_id: object = None
) -> CommandResult[bool]:
    return take_cohort_step(
        self,
        cohort_id,
        "give_feedback",
        actor,
        lambda c, at: c.give_feedback(actor, at, key, seal_shared(self, actor, feedback, "feedback")),
        command_id=command_id,
    )


def update_playbook(
    self: CohortSteps, cohort_id: object, actor: Actor, practice: str, status: str, conditions: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "update_playbook",
        actor,
        lambda c, at: c.update_playbook(actor, at, practice, status, seal_shared(self, actor, conditions, "conditions")),
        command_id=command_id,
    )


def complete_checkpoint(
    self: CohortSteps, cohort_id: object, actor: Actor, week: int, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "complete_checkpoint",
        actor,
        lambda c, at: c.complete_checkpoint(actor, at, week),
        command_id=command_id,
    )


def record_signal(
    self: CohortSteps,
    cohort_id: object,
    actor: Actor,
    theme: str,
    context: SignalContext | str,
    polarity: Polarity | str,
    intensity: int,
    unit: str,
    observed_on: date,
    note: str | None = None,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """The cohort's coach records a signal noticed through the cohort (see app.engagements.record_signal)."""
    app = self.path
    return take_cohort_step(
        self,
        cohort_id,
        "record_signal",
        actor,
        lambda c, at: c.record_signal(
            actor,
            at,
            app.sealing.make_signal(actor.party, theme, context, polarity, intensity, unit, observed_on, note),
            app.signal_themes,
        ),
        command_id=command_id,
    )

