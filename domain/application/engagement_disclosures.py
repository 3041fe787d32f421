"""Beside the workflow: signals, what the sponsor may see (disclosure), and the ICF-log consent.

Each step is a method of :class:`EngagementService` (``app.engagements.<step>``), written here as a
function of the service (``self``) and assigned to the class there (``engagement_step.py`` says how a step runs), so the step
catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from engagement_tracker.domain.application.engagement_step import EngagementSteps, take_step
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import (
    DisclosureItem,
    Polarity,
    SignalContext,
)


def record_signal(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    theme: str,
    context: SignalContext | str,
    polarity: Polarity | str,
    intensity: int,
    unit: str,
    observed_on: date,
    note: str | None = None,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """The coach records a weak or strong signal: taxonomy only; any free text is sealed.

    ``unit`` is a coarse organisational unit (analysts see at most that); ``note`` never
    reaches an analyst.
    """
    return take_step(
        self,
        engagement_id,
        "record_signal",
        actor,
        lambda e, at: e.record_signal(
            actor,
            at,
            self.path.sealing.make_signal(e.coachee, theme, context, polarity, intensity, unit, observed_on, note),
            self.path.signal_themes,
        ),
        command_id=command_id,
    )


def propose_disclosure(
    self: EngagementSteps, engagement_id: object, actor: Actor, items: Iterable[str], *, command_id: object = None
) -> CommandResult[None]:
    """Coachee or sponsor proposes what the sponsor may see: objectives, indicators, evaluations, dates."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InvalidInput("items", f"expected a list of: {', '.join(i.value for i in DisclosureItem)}")
    chosen = list(items)
    return take_step(
        self,
        engagement_id,
        "propose_disclosure",
        actor,
        lambda e, at: e.propose_disclosure(actor, at, chosen),
        command_id=command_id,
    )


def accept_disclosure(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    """The other party accepts; from then on the sponsor's view holds exactly those items."""
    return take_step(
        self,
        engagement_id,
        "accept_disclosure",
        actor,
        lambda e, at: e.accept_disclosure(actor, at),
        command_id=command_id,
    )


def consent_to_icf_log(
    self: EngagementSteps, engagement_id: object, actor: Actor, named: bool = True, *, command_id: object = None
) -> CommandResult[None]:
    """The coachee agrees (``named``) or no longer agrees to be named in the coach's ICF hours log."""

    def command(e: Engagement, at: datetime) -> None:
        e.consent_to_icf_log(actor, at, named)  # in every state: a standing consent, not a workflow step

    return self.path.update(Engagement, engagement_id, "engagement", command, command_id=command_id)

