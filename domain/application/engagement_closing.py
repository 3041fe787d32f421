"""The closing steps of an engagement: closing session and meeting, the coachee's testimonial, or abandon.

Each step is a method of :class:`EngagementService` (``app.engagements.<step>``), written here as a
function of the service (``self``) and assigned to the class there (``engagement_step.py`` says how a step runs), so the step
catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from engagement_tracker.domain.application.engagement_step import EngagementSteps, take_step
from engagement_tracker.domain.application.testimonial_commands import leave_testimonial as _leave_testimonial
from engagement_tracker.domain.checks import require_member
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor, Evaluation
from engagement_tracker.domain.vocabulary import (
    EndReason,
    Outcome,
)


def hold_closing_session(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    evaluations: Mapping[str, tuple[Outcome | str, str]],
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """Evaluate every indicator: ``{"I1": ("achieved", "evidence..."), ...}``."""
    if not isinstance(evaluations, Mapping):
        raise InvalidInput("evaluations", "expected a mapping of indicator key to (outcome, evidence)")
    evaluations = dict(evaluations)

    def command(e: Engagement, at: datetime) -> None:
        evs = []
        for key, pair in evaluations.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidInput("evaluations", f"{key}: expected (outcome, evidence)")
            outcome, evidence = pair
            evs.append(
                Evaluation(
                    str(key),
                    require_member(Outcome, outcome, "outcome"),
                    self.path.sealing.seal(e.coachee, evidence, f"evidence of {key}", 2_000),
                )
            )
        e.hold_closing_session(actor, at, held_on, evs)

    return take_step(self, engagement_id, "hold_closing_session", actor, command, command_id=command_id)


def hold_closing_meeting(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    synthesis: str,
    recommendations: str,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "hold_closing_meeting",
        actor,
        lambda e, at: e.hold_closing_meeting(
            actor,
            at,
            held_on,
            self.path.sealing.seal(e.coachee, synthesis, "synthesis"),
            self.path.sealing.seal(e.coachee, recommendations, "recommendations"),
        ),
        command_id=command_id,
    )


def leave_testimonial(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    ratings: Mapping[str, int],
    text: str | None = None,
    quote_consent: bool = False,
    anonymous: bool = True,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """The coachee leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
    return _leave_testimonial(self.path, Engagement, engagement_id, actor, ratings, text, quote_consent, anonymous,
                      command_id)


def abandon(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    reason: EndReason | str,
    detail: str | None = None,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "abandon",
        actor,
        lambda e, at: e.abandon(actor, at, reason, self.path.sealing.seal_optional(e.coachee, detail, "detail")),
        command_id=command_id,
    )

