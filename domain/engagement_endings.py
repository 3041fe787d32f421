"""How an engagement ends: the closing session (every indicator evaluated), the closing meeting, or
an abandon with its reason.

Each command is a method of :class:`engagement.Engagement`, written here as a function of the
aggregate (``self``) and assigned to the class there: it checks, then raises, then records one
event, as every command of the aggregate does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from engagement_tracker.domain.checks import (
    not_before,
    require_date,
    require_member,
)
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor, Evaluation, Sealed
from engagement_tracker.domain.vocabulary import EndReason
from engagement_tracker.domain.workflow_aggregate import optional_sealed, require_sealed


def hold_closing_session(
    self: EngagementHistory, actor: Actor, at: datetime, held_on: date, evaluations: Sequence[Evaluation]
) -> None:
    """Evaluate every indicator defined at framing; refused while one is missing."""
    evaluations = list(evaluations)
    keys = []
    for ev in evaluations:
        if not isinstance(ev, Evaluation):
            raise InvalidInput("evaluations", "expected Evaluation(indicator, outcome, evidence) values")
        keys.append(ev.indicator)
    to = self._step("hold_closing_session", actor, at, {"evaluated": keys})
    unknown = sorted(set(keys) - set(self.indicator_objectives))
    if unknown:
        known = ", ".join(self.indicator_objectives)
        raise InvalidInput("evaluations", f"unknown indicators {', '.join(unknown)}; known: {known}")
    if len(keys) != len(set(keys)):
        raise InvalidInput("evaluations", "an indicator is evaluated twice")
    for ev in evaluations:
        require_sealed(ev.evidence, "evidence")
    last_session = self.last_session_on or self.tripartite_on
    held_on = not_before(require_date(held_on, "held_on"), last_session, "held_on", "the last session")
    self._record(self.ClosingSessionHeld, actor, at, to, held_on=held_on, evaluations=evaluations)


def hold_closing_meeting(
    self: EngagementHistory, actor: Actor, at: datetime, held_on: date, synthesis: Sealed, recommendations: Sealed
) -> None:
    """The closing tripartite meeting: the coachee's synthesis, recommendations to make it last."""
    to = self._step("hold_closing_meeting", actor, at)
    self._record(
        self.ClosingMeetingHeld, actor, at, to,
        held_on=not_before(require_date(held_on, "held_on"), self.closing_session_on, "held_on",
                            "the closing session"),
        synthesis=require_sealed(synthesis, "synthesis"),
        recommendations=require_sealed(recommendations, "recommendations"),
    )


def abandon(self: EngagementHistory, actor: Actor, at: datetime, reason: EndReason | str, detail: Sealed | None = None) -> None:
    """End early, from any phase that has not ended, with a reason."""
    to = self._step("abandon", actor, at)
    self._record(
        self.Abandoned, actor, at, to,
        reason=require_member(EndReason, reason, "reason"),
        detail=optional_sealed(detail, "detail"),
    )
