"""A coach's team load as commands meet it: a slot taken when a team engagement opens, freed in
the same save when it ends, and the load read against the capacity policy (``coach_load.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import require_coach_load_reader
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.coach_load import CoachLoad
from engagement_tracker.domain.errors import NotFound
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import PartyKind, Role

if TYPE_CHECKING:
    from engagement_tracker.domain.application.command_path import CommandPath
    from engagement_tracker.domain.engagement import Engagement


class CoachLoads:
    """Each coach's load of active team engagements, read (and started) through the command path."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def of(self, coach: UUID, at: datetime) -> CoachLoad:
        """The coach's load, re-read on every attempt of a command (or a new one, not yet saved)."""
        try:
            return self.path.load(CoachLoad, CoachLoad.id_for(coach), "coach load")
        except NotFound:
            return CoachLoad.start(coach, at)

    def take(self, coach: UUID, engagement_id: UUID, actor: Actor, at: datetime) -> CoachLoad:
        """Take a slot for a new team engagement; refuses (CapacityExceeded) above the limit."""
        load = self.of(coach, at)
        load.take(engagement_id, actor, at, self.path.capacity)
        return load

    def freed_by(self, e: Engagement, at: datetime, was_ended: bool) -> list[Aggregate]:
        """When a team engagement ends, its slot is freed in the same save (a companion of the step)."""
        if e.coachee_kind != PartyKind.TEAM.value or was_ended or not e.is_ended:
            return []
        load = self.of(e.coach, at)
        load.release(e.id, Actor(e.coach, Role.COACH), at)
        return [load]

    def report(self, viewer: Actor, coach: object = None) -> dict[str, Any]:
        """A coach's active team engagements against the capacity policy: a coach reads their own
        (``coach`` None or their id), an admin (granted) any coach's."""
        named = None if coach is None else as_uuid(coach, "coach")
        coach_id = as_uuid(require_coach_load_reader(viewer, named, self.path.held_grants), "coach")
        load = self.of(coach_id, self.path.now())
        n, capacity = len(load.active), self.path.capacity
        status = ("at the limit" if n >= capacity.refuse_above
                  else "above the advised" if n > capacity.warn_above else "ok")
        return {
            "coach": str(coach_id),
            "active_team_engagements": list(load.active),
            "active": n,
            "warn_above": capacity.warn_above,
            "refuse_above": capacity.refuse_above,
            "status": status,
            "warnings_recorded": len(load.warnings),
        }
