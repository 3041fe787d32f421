"""How a cohort step is taken: what a step needs of the cohort service, the one way it runs
through the command path, and how shared work is sealed.

The steps live in modules by phase (``cohort_framing.py``, ``cohort_accompaniment.py``,
``cohort_closing.py``), each a function of the service (``self``) assigned to
:class:`CohortService` as a method. They name the service by what they use of it
(:class:`CohortSteps`), so no module imports the service's module back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.values import Actor, Sealed

R = TypeVar("R")


class CohortSteps(Protocol):
    """What a step uses of the cohort service: its command path."""

    @property
    def path(self) -> CommandPath: ...


def take_cohort_step(
    self: CohortSteps,
    cohort_id: object,
    step: str,
    actor: Actor,
    command: Callable[[Cohort, datetime], R],
    command_id: object = None,
) -> CommandResult[R]:
    """Run a cohort step: permission and state are checked before any text is sealed."""

    def checked(c: Cohort, at: datetime) -> R:
        c.precheck(step, actor)
        return command(c, at)

    return self.path.update(Cohort, cohort_id, "cohort", checked, command_id=command_id)


def seal_shared(self: CohortSteps, author: Actor, text: object, field: str) -> Sealed:
    """Shared work is sealed under its author's own key: erasing a member erases what they wrote."""
    return self.path.sealing.seal(author.party, text, field, 2_000)
