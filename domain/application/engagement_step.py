"""How an engagement step is taken: what a step needs of the engagement service, and the one way
it runs through the command path.

The steps live in modules by phase (``engagement_framing.py``, ``engagement_accompaniment.py``,
``engagement_closing.py``, ``engagement_disclosures.py``), each a function of the service
(``self``) assigned to :class:`EngagementService` as a method. They name the service by what they
use of it (:class:`EngagementSteps`), so no module imports the service's module back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from engagement_tracker.domain.application.coach_loads import CoachLoads
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.values import Actor

R = TypeVar("R")


class EngagementSteps(Protocol):
    """What a step uses of the engagement service: its command path and the coaches' team loads."""

    @property
    def path(self) -> CommandPath: ...

    @property
    def loads(self) -> CoachLoads: ...


def take_step(
    self: EngagementSteps,
    engagement_id: object,
    step: str,
    actor: Actor,
    command: Callable[[Engagement, datetime], R],
    command_id: object = None,
) -> CommandResult[R]:
    """Run an engagement step: permission and state are checked before any text is sealed; an
    ending step frees the coach's team slot in the same save (``CoachLoads.freed_by``)."""

    def checked(e: Engagement, at: datetime) -> R:
        e.precheck(step, actor)
        return command(e, at)

    return self.path.update(Engagement, engagement_id, "engagement", checked, self.loads.freed_by, command_id=command_id)
