"""The framing steps of an engagement: first meeting, will, diagnosis, tripartite meeting, coherence,
indicators, synthesis and contract (or a decline).

Each step is a method of :class:`EngagementService` (``app.engagements.<step>``), written here as a
function of the service (``self``) and assigned to the class there (``engagement_step.py`` says how a step runs), so the step
catalogue and go-to-definition land on it and mypy checks its signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from engagement_tracker.domain.application.engagement_step import EngagementSteps, take_step
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor, Contract
from engagement_tracker.domain.vocabulary import (
    Billing,
    EndReason,
    IndicatorKind,
)


def hold_first_meeting(
    self: EngagementSteps, engagement_id: object, actor: Actor, held_on: date, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "hold_first_meeting",
        actor,
        lambda e, at: e.hold_first_meeting(actor, at, held_on),
        command_id=command_id,
    )


def confirm_will(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self, engagement_id, "confirm_will", actor, lambda e, at: e.confirm_will(actor, at), command_id=command_id
    )


def decline(
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
        "decline",
        actor,
        lambda e, at: e.decline(actor, at, reason, self.path.sealing.seal_optional(e.coachee, detail, "detail")),
        command_id=command_id,
    )


def record_diagnosis(
    self: EngagementSteps, engagement_id: object, actor: Actor, diagnosis: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "record_diagnosis",
        actor,
        lambda e, at: e.record_diagnosis(actor, at, self.path.sealing.seal(e.coachee, diagnosis, "diagnosis")),
        command_id=command_id,
    )


def hold_tripartite_meeting(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    held_on: date,
    organisation_request: Sequence[str],
    coachee_request: Sequence[str],
    *,
    command_id: object = None,
) -> CommandResult[list[str]]:
    """Record objectives at two levels; returns their keys (O1, O2, ...)."""
    for field, statements in (("organisation_request", organisation_request), ("coachee_request", coachee_request)):
        if isinstance(statements, (str, bytes)) or not isinstance(statements, Iterable):
            raise InvalidInput(field, "expected a list of objective statements")
    organisation_request, coachee_request = list(organisation_request), list(coachee_request)

    def command(e: Engagement, at: datetime) -> list[str]:
        org = [self.path.sealing.seal(e.coachee, s, "organisation_request", 2_000) for s in organisation_request]
        own = [self.path.sealing.seal(e.coachee, s, "coachee_request", 2_000) for s in coachee_request]
        return e.hold_tripartite_meeting(actor, at, held_on, org, own)

    return take_step(self, engagement_id, "hold_tripartite_meeting", actor, command, command_id=command_id)


def validate_coherence(
    self: EngagementSteps, engagement_id: object, actor: Actor, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "validate_coherence",
        actor,
        lambda e, at: e.validate_coherence(actor, at),
        command_id=command_id,
    )


def define_indicator(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    objective: str,
    kind: IndicatorKind | str,
    label: str,
    baseline: float,
    target: float,
    unit: str,
    *,
    command_id: object = None,
) -> CommandResult[str]:
    """Define a progress indicator for an objective; returns its key (I1, I2, ...)."""
    return take_step(
        self,
        engagement_id,
        "define_indicator",
        actor,
        lambda e, at: e.define_indicator(
            actor, at, objective, kind, self.path.sealing.seal(e.coachee, label, "label", 500), baseline, target, unit
        ),
        command_id=command_id,
    )


def record_synthesis(
    self: EngagementSteps, engagement_id: object, actor: Actor, reference: str, digest: str, *, command_id: object = None
) -> CommandResult[None]:
    return take_step(
        self,
        engagement_id,
        "record_synthesis",
        actor,
        lambda e, at: e.record_synthesis(actor, at, reference, digest),
        command_id=command_id,
    )


def fix_contract(
    self: EngagementSteps,
    engagement_id: object,
    actor: Actor,
    sessions: int,
    start: date,
    end: date,
    billing: Billing | str = Billing.PAID,
    *,
    command_id: object = None,
) -> CommandResult[None]:
    """Fix the number of sessions and the period; ``billing`` (paid or pro_bono) is the sessions' default."""
    return take_step(
        self,
        engagement_id,
        "fix_contract",
        actor,
        lambda e, at: e.fix_contract(actor, at, Contract(sessions, start, end), billing),
        command_id=command_id,
    )

