"""The closing steps of a cohort: closing, its synthesis, sharing, scale-up, close or abandon, and the
members' testimonials.

Each step is a method of :class:`CohortService` (``app.cohorts.<step>``), written here as a function
of the service (``self``) and assigned to the class there (``cohort_step.py`` says how a step
runs), so the step catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from collections.abc import Mapping

from engagement_tracker.domain.application.cohort_step import CohortSteps, seal_shared, take_cohort_step
from engagement_tracker.domain.application.testimonial_commands import leave_testimonial as _leave_testimonial
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.values import Actor


def begin_closing(self: CohortSteps, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
    return take_cohort_step(
        self, cohort_id, "begin_closing", actor, lambda c, at: c.begin_closing(actor, at), command_id=command_id
    )


def record_closing_synthesis(
    self: CohortSteps, cohort_id: object, actor: Actor, synthesis: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "record_closing_synthesis",
        actor,
        lambda c, at: c.record_closing_synthesis(actor, at, seal_shared(self, actor, synthesis, "synthesis")),
        command_id=command_id,
    )


def record_sharing(
    self: CohortSteps, cohort_id: object, actor: Actor, audience: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "record_sharing",
        actor,
        lambda c, at: c.record_sharing(actor, at, seal_shared(self, actor, audience, "audience")),
        command_id=command_id,
    )


def prepare_scale_up(
    self: CohortSteps, cohort_id: object, actor: Actor, plan: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "prepare_scale_up",
        actor,
        lambda c, at: c.prepare_scale_up(actor, at, seal_shared(self, actor, plan, "plan")),
        command_id=command_id,
    )


def close(self: CohortSteps, cohort_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
    return take_cohort_step(self, cohort_id, "close", actor, lambda c, at: c.close(actor, at), command_id=command_id)


def abandon(
    self: CohortSteps, cohort_id: object, actor: Actor, reason: str | None = None, *, command_id: object = None
) -> CommandResult[None]:
    return take_cohort_step(
        self,
        cohort_id,
        "abandon",
        actor,
        lambda c, at: c.abandon(actor, at, None if reason is None else seal_shared(self, actor, reason, "reason")),
        command_id=command_id,
    )


def leave_testimonial(
    self: CohortSteps,
    cohort_id: object,
    actor: Actor,
    ratings: Mapping[str, int],
    text: str | None = None,
    quote_consent: bool = False,
    anonymous: bool = True,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """A member leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
    return _leave_testimonial(self.path, Cohort, cohort_id, actor, ratings, text, quote_consent, anonymous, command_id)

