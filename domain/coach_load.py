"""CoachLoad: the team engagements a coach accompanies at once (seed 000: 1 to 3, never more than 4).

The rule spans engagements, so it lives in its own aggregate, saved in the same transaction as
the engagement that takes or frees a slot. Two commands racing for the last slot both read the
same version; the store accepts only one, and the other re-reads, re-decides and is refused.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.errors import CapacityExceeded, InvalidInput
from engagement_tracker.domain.values import Actor

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/coach-load")


@attrs.frozen
class CapacityPolicy:
    """Above ``warn_above`` active team engagements a warning is recorded; above ``refuse_above`` refused."""

    warn_above: int = 3
    refuse_above: int = 4

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.warn_above <= self.refuse_above:
            raise InvalidInput(
                "capacity", f"need 1 <= warn_above ({self.warn_above}) <= refuse_above ({self.refuse_above})"
            )


class CoachLoad(Aggregate):
    TOPIC = "etrack:CoachLoad"

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:CoachLoad.Created"
        coach: UUID

    class TeamSlotTaken(Aggregate.Event):
        TOPIC = "etrack:CoachLoad.TeamSlotTaken"
        actor: Actor
        engagement: UUID
        active_after: int
        warn_above: int
        refuse_above: int
        warning: bool

        def apply(self, load: CoachLoad) -> None:
            load.active.append(str(self.engagement))
            if self.warning:
                load.warnings.append(self.timestamp)

    class TeamSlotReleased(Aggregate.Event):
        TOPIC = "etrack:CoachLoad.TeamSlotReleased"
        actor: Actor
        engagement: UUID
        active_after: int

        def apply(self, load: CoachLoad) -> None:
            load.active.remove(str(self.engagement))

    def __init__(self, coach: UUID) -> None:
        self.coach = coach
        self.active: list[str] = []
        self.warnings: list[datetime] = []

    @staticmethod
    def id_for(coach: UUID) -> UUID:
        return uuid5(_NAMESPACE, str(coach))

    @classmethod
    def start(cls, coach: UUID, at: datetime) -> CoachLoad:
        return cls._create(cls.Created, id=cls.id_for(coach), timestamp=require_time(at), coach=coach)

    def take(self, engagement: UUID, actor: Actor, at: datetime, policy: CapacityPolicy) -> bool:
        """Take a slot for a team engagement; returns True if it records a warning.

        An engagement that already holds a slot keeps it: nothing is recorded again.
        """
        require_time(at)
        if str(engagement) in self.active:
            return False
        n = len(self.active) + 1
        if n > policy.refuse_above:
            raise CapacityExceeded(
                "open", "framing",
                [f"coach {self.coach} already accompanies {len(self.active)} teams; the limit is "
                 f"{policy.refuse_above} (at most {policy.warn_above} advised): close or abandon one first"],
            )
        warning = n > policy.warn_above
        self.trigger_event(
            self.TeamSlotTaken, timestamp=at, actor=actor, engagement=engagement, active_after=n,
            warn_above=policy.warn_above, refuse_above=policy.refuse_above, warning=warning,
        )
        return warning

    def release(self, engagement: UUID, actor: Actor, at: datetime) -> None:
        require_time(at)
        if str(engagement) in self.active:
            self.trigger_event(
                self.TeamSlotReleased, timestamp=at, actor=actor, engagement=engagement,
                active_after=len(self.active) - 1,
            )
