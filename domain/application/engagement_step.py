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

import attrs

from engagement_tracker.domain.access import hides_steps
from engagement_tracker.domain.application.coach_loads import CoachLoads
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import EtrackError, NotPermitted, StepNotAllowed
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

    hidden = hides_steps(getattr(actor, "role", None))

    def checked(e: Engagement, at: datetime) -> R:
        try:
            e.precheck(step, actor)
            return command(e, at)
        except EtrackError as exc:
            if hidden:  # a sponsor's refusal names the phase, never the step it stands at
                raise contract_refusal(exc, e, actor) from None
            raise

    done = self.path.update(Engagement, engagement_id, "engagement", checked, self.loads.freed_by, command_id=command_id)
    return attrs.evolve(done, versions=()) if hidden else done  # the versions a sponsor's scope hides


def contract_refusal(exc: EtrackError, e: Engagement, actor: Actor) -> EtrackError:
    """``exc`` as a caller in the contract scope may read it (``access.hides_steps``): the phase where it names
    the state, and for a step not allowed now, only the steps this caller may take now."""
    phase = e.state.split(".", 1)[0]
    if isinstance(exc, StepNotAllowed):
        mine = []
        for other in exc.allowed:
            try:
                e.require_party(other, actor)
            except NotPermitted:
                continue
            mine.append(other)
        return StepNotAllowed(exc.workflow, phase, exc.step, mine)
    if isinstance(exc, NotPermitted):  # refused the engagement: told nothing of it
        return exc
    if exc.args and isinstance(exc.args[0], str):
        text = exc.args[0].replace(f"'{e.state}'", f"'{phase}'").replace(e.state, phase)
        exc.args = (text if getattr(exc, "state", None) is not None else f"{text} [engagement phase: {phase}]",
                    *exc.args[1:])
    exc.state = phase  # type: ignore[attr-defined]  # the command path then adds no state of its own
    return exc
