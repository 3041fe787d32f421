"""Sessions planned ahead: schedule, reschedule, cancel, and hold a scheduled session.

Steps of accompaniment beside the workflow (they change no state, so no state machine lists them;
``engagement_plans.PLANNING_STATES`` says when each is taken) and set no deadline: the
deadlines (72-hour feedback, the 30-day cycle, quarterly review, off-track) are derived from what
was held and recorded, never from a plan (``tests/property/test_schedule_deadlines.py``). The
place (a room, an address or a video link) is sealed under the coachee's key like any content.

Each step is a function of the engagement service (``self``), so the step catalogue dispatches to
it as to the service's own methods (``ENGAGEMENT_STEPS["schedule_session"].take(app.engagements,
...)``, ``etrack step ID schedule_session ...``); ``app.sessions`` holds them bound.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Billing, SessionTheme

R = TypeVar("R")


def _step(self: EngagementService, engagement_id: object, step: str, actor: Actor,
          command: Callable[[Engagement, datetime], R], command_id: object) -> CommandResult[R]:
    def checked(e: Engagement, at: datetime) -> R:
        e.precheck_plan(step, actor)  # before anything is sealed
        return command(e, at)

    return self.path.update(Engagement, engagement_id, "engagement", checked, command_id=command_id)


def schedule_session(self: EngagementService, engagement_id: object, actor: Actor, starts_at: datetime,
                     duration_minutes: int, place: str, *, command_id: object = None) -> CommandResult[str]:
    """Plan a session: when (with its UTC offset), how long, and where (a room or a link, sealed); returns its key."""
    return _step(self, engagement_id, "schedule_session", actor, lambda e, at: e.schedule_session(
        actor, at, starts_at, duration_minutes, self.path.sealing.seal(e.coachee, place, "place", 500)), command_id)


def reschedule_session(self: EngagementService, engagement_id: object, actor: Actor, key: str, starts_at: datetime,
                       duration_minutes: int, place: str | None = None, *,
                       command_id: object = None) -> CommandResult[None]:
    """Move a scheduled session (KEY, e.g. P1) to another time; a new place when given."""
    return _step(self, engagement_id, "reschedule_session", actor, lambda e, at: e.reschedule_session(
        actor, at, key, starts_at, duration_minutes,
        None if place is None else self.path.sealing.seal(e.coachee, place, "place", 500)), command_id)


def cancel_session(self: EngagementService, engagement_id: object, actor: Actor, key: str, *,
                   command_id: object = None) -> CommandResult[None]:
    """Cancel a scheduled session (KEY, e.g. P1)."""
    return _step(self, engagement_id, "cancel_session", actor, lambda e, at: e.cancel_session(actor, at, key),
                 command_id)


def hold_scheduled_session(self: EngagementService, engagement_id: object, actor: Actor, key: str,
                           themes: Iterable[SessionTheme | str], notes: str | None = None,
                           duration_minutes: int | None = None, billing: Billing | str | None = None,
                           group_size: int | None = None, *, command_id: object = None) -> CommandResult[int]:
    """Record the scheduled session KEY as held (on its day; its planned duration unless given), linked to it."""
    if isinstance(themes, str | bytes) or not isinstance(themes, Iterable):
        raise InvalidInput("themes", "expected a list of themes")
    themes = list(themes)

    def hold(e: Engagement, at: datetime) -> int:
        e.require_planned("hold_scheduled_session", key)  # before anything is sealed
        record = EngagementRecord.of(self.path.history(Engagement, e.id, "engagement", version=e.version))
        planned: dict[str, Any] = record.schedule[key]
        number = e.record_session(actor, at, planned["starts_at"].date(), duration_minutes or planned["duration_minutes"],
                                  themes, self.path.sealing.seal_session_notes(e.coachee, e.id, notes), billing, group_size)
        e.link_held_session(actor, at, key, number)
        return number

    return _step(self, engagement_id, "hold_scheduled_session", actor, hold, command_id)


#: The steps above, by name, for the step catalogue (``steps.py``).
SCHEDULING_STEPS: dict[str, Callable[..., CommandResult[Any]]] = {
    "schedule_session": schedule_session,
    "reschedule_session": reschedule_session,
    "cancel_session": cancel_session,
    "hold_scheduled_session": hold_scheduled_session,
}


class SessionService:
    """``app.sessions.schedule_session / reschedule_session / cancel_session / hold_scheduled_session``
    (``engagement_id, actor, ...``), bound to the engagement service."""

    def __init__(self, engagements: EngagementService) -> None:
        self.engagements = engagements
        self.schedule_session = functools.partial(schedule_session, engagements)
        self.reschedule_session = functools.partial(reschedule_session, engagements)
        self.cancel_session = functools.partial(cancel_session, engagements)
        self.hold_scheduled_session = functools.partial(hold_scheduled_session, engagements)


__all__ = ["SCHEDULING_STEPS", "SessionService", "cancel_session", "hold_scheduled_session", "reschedule_session",
           "schedule_session"]
