"""The accompaniment steps of an engagement: sessions, actions, measurements, reviews, suspension,
amendments and (teams) quarterly reviews.

Each step is a method of :class:`EngagementService` (``app.engagements.<step>``), written here as a
function of the service (``self``) and assigned to the class there (``engagement_step.py`` says how a step runs), so the step
catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from engagement_tracker.domain.application.engagement_step import EngagementSteps, take_step
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor, QuarterlyDecisions
from engagement_tracker.domain.vocabulary import (
    Billing,
    SessionTheme,
)


def start_accompaniment(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "start_accompaniment",
        actor,
        lambda e, at: e.start_accompaniment(actor, at),
        command_id=command_id,
    )


def record_session(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    duration_minutes: int,
    themes: Iterable[SessionTheme | str],
    notes: str | None = None,
    billing: Billing | str | None = None,
    group_size: int | None = None,
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """Record a session with its themes and confidential notes (sealed); returns its number.

    ``billing`` (paid or pro_bono) defaults to the contract's; ``group_size`` is how many
    people a team session coached (ICF hours log), for team coachees only."""
    if isinstance(themes, (str, bytes)) or not isinstance(themes, Iterable):
        raise InvalidInput("themes", "expected a list of themes")
    themes = list(themes)
    return take_step(
        self,
        engagement_id,
        "record_session",
        actor,
        lambda e, at: e.record_session(
            actor, at, held_on, duration_minutes, themes, self.path.sealing.seal_session_notes(e.coachee, e.id, notes),
            billing, group_size,
        ),
        command_id=command_id,
    )


def commit_action(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    description: str,
    due: date | None = None,
    *,
    command_id: object = None,
) -> CommandResult[str]:
    return take_step(
        self,
        engagement_id,
        "commit_action",
        actor,
        lambda e, at: e.commit_action(actor, at, self.path.sealing.seal(e.coachee, description, "description", 2_000), due),
        command_id=command_id,
    )


def complete_action(
    self: EngagementSteps, engagement_id: object, actor: Actor, key: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "complete_action",
        actor,
        lambda e, at: e.complete_action(actor, at, key),
        command_id=command_id,
    )


def drop_action(
    self: EngagementSteps, engagement_id: object, actor: Actor, key: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self, engagement_id, "drop_action", actor, lambda e, at: e.drop_action(actor, at, key), command_id=command_id
    )


def measure_indicator(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    indicator: str,
    value: float,
    measured_on: date,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "measure_indicator",
        actor,
        lambda e, at: e.measure_indicator(actor, at, indicator, value, measured_on),
        command_id=command_id,
    )


def request_review(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self, engagement_id, "request_review", actor, lambda e, at: e.request_review(actor, at), command_id=command_id
    )


def hold_review(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    summary: str | None = None,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "hold_review",
        actor,
        lambda e, at: e.hold_review(actor, at, held_on, self.path.sealing.seal_optional(e.coachee, summary, "summary")),
        command_id=command_id,
    )


def suspend(
    self: EngagementSteps, engagement_id: object, actor: Actor, reason: str | None = None, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "suspend",
        actor,
        lambda e, at: e.suspend(actor, at, self.path.sealing.seal_optional(e.coachee, reason, "reason")),
        command_id=command_id,
    )


def resume(self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
    return take_step(self, engagement_id, "resume", actor, lambda e, at: e.resume(actor, at), command_id=command_id)


def propose_amendment(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    extra_sessions: int = 0,
    new_end: date | None = None,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "propose_amendment",
        actor,
        lambda e, at: e.propose_amendment(actor, at, extra_sessions, new_end),
        command_id=command_id,
    )


def agree_amendment(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self, engagement_id, "agree_amendment", actor, lambda e, at: e.agree_amendment(actor, at), command_id=command_id
    )


def hold_quarterly_review(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    objectives_realigned: bool,
    coaches_added: int = 0,
    coaches_removed: int = 0,
    notes: str | None = None,
    *,
    command_id: object = None,
) -> CommandResult[int]:
    """Team coaching: the quarterly review with management and its decisions; returns the quarter."""
    decisions = QuarterlyDecisions(bool(objectives_realigned), coaches_added, coaches_removed)
    return take_step(
        self,
        engagement_id,
        "hold_quarterly_review",
        actor,
        lambda e, at: e.hold_quarterly_review(
            actor, at, held_on, decisions, self.path.sealing.seal_optional(e.coachee, notes, "notes")
        ),
        command_id=command_id,
    )

