"""An engagement's events: past-tense facts, each with its stable, persisted topic.

Each event only assigns state (``evolve``) and adds what reads show (``keep``), so replaying old
history never re-runs a rule. They are bound, as they are, in the body of
:class:`engagement_history.EngagementHistory` (``EngagementHistory.SessionHeld``, and
``Engagement.SessionHeld`` through it): eventsourcing registers each under its ``TOPIC``, which is
what the store holds, so where the class is written does not change a stored byte
(``tests/unit/test_event_topics.py``). The signal, deadline and created events stay nested in the
aggregate: they extend the shared workflow events.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import attrs

from engagement_tracker.domain.values import (
    Action,
    Amendment,
    Contract,
    Evaluation,
    Indicator,
    Measurement,
    Objective,
    QuarterlyDecisions,
    Sealed,
    Session,
    Testimonial,
)
from engagement_tracker.domain.vocabulary import ActionStatus, Billing, EndReason
from engagement_tracker.domain.workflow_aggregate import WorkflowAggregate


class EngagementRecord(Protocol):
    """What an event's ``keep`` writes: the content an engagement's reads show beyond its decisions
    (``engagement_record.EngagementRecord`` folds it; named here by shape, so that neither module
    names the other)."""

    diagnosis: Sealed | None
    objectives: dict[str, Objective]
    indicators: dict[str, Indicator]
    sessions: list[Session]
    session_billing: dict[str, str]
    session_group_size: dict[str, int]
    actions: dict[str, Action]
    measurements: list[Measurement]
    reviews_held: list[date]
    quarterly_reviews: list[date]
    evaluations: dict[str, Evaluation]
    closing_synthesis: Sealed | None
    recommendations: Sealed | None
    end_detail: Sealed | None
    testimonials: dict[str, Testimonial]
    schedule: dict[str, dict[str, Any]]


class EngagementState(Protocol):
    """What an event's ``evolve`` assigns: the decision state of an engagement
    (``engagement_history.EngagementHistory`` holds it; named here by shape, so that neither module
    names the other)."""

    first_meeting_on: date | None
    will_confirmed: list[str]
    end_reason: str | None
    ended_by: str | None
    ended_at: datetime | None
    session_content_erased_at: datetime | None
    template: dict[str, Any] | None
    tripartite_on: date | None
    objective_keys: list[str]
    coherence_validated: bool
    indicator_objectives: dict[str, str]
    synthesis: dict[str, str] | None
    contract: Contract | None
    contract_billing: str
    accompaniment_started_at: datetime | None
    sessions_held: int
    last_session_on: date | None
    actions_committed: int
    open_actions: dict[str, date | None]
    review_requested_by: str | None
    intermediate_reviews_held: int
    resumed_on: date | None
    testimonial_authors: list[str]
    icf_named: bool
    pending_amendment: Amendment | None
    extra_sessions: int
    amended_end: date | None
    closing_session_on: date | None
    closing_meeting_on: date | None
    quarterly_reviews_held: int
    disclosure_proposal: dict[str, Any] | None
    disclosure: list[str]
    scheduled: dict[str, str]


class EngagementEvent(WorkflowAggregate.Event):
    """An engagement step: who took it, and the state it led to."""


class FirstMeetingHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.FirstMeetingHeld"
    held_on: date

    def evolve(self, engagement: EngagementState) -> None:
        engagement.first_meeting_on = self.held_on


class WillConfirmed(EngagementEvent):
    TOPIC = "etrack:Engagement.WillConfirmed"

    def evolve(self, engagement: EngagementState) -> None:
        engagement.will_confirmed.append(str(self.actor.role))


class Declined(EngagementEvent):
    TOPIC = "etrack:Engagement.Declined"
    reason: EndReason
    detail: Sealed | None

    def evolve(self, engagement: EngagementState) -> None:
        engagement.end_reason = str(self.reason)
        engagement.ended_by = str(self.actor.role)
        engagement.ended_at = self.timestamp

    def keep(self, record: EngagementRecord) -> None:
        record.end_detail = self.detail


class DiagnosisRecorded(EngagementEvent):
    TOPIC = "etrack:Engagement.DiagnosisRecorded"
    diagnosis: Sealed

    def keep(self, record: EngagementRecord) -> None:
        record.diagnosis = self.diagnosis


class TripartiteMeetingHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.TripartiteMeetingHeld"
    held_on: date
    objectives: list[Objective]

    def evolve(self, engagement: EngagementState) -> None:
        engagement.tripartite_on = self.held_on
        engagement.objective_keys = [o.key for o in self.objectives]

    def keep(self, record: EngagementRecord) -> None:
        record.objectives = {o.key: o for o in self.objectives}


class CoherenceValidated(EngagementEvent):
    TOPIC = "etrack:Engagement.CoherenceValidated"

    def evolve(self, engagement: EngagementState) -> None:
        engagement.coherence_validated = True


class IndicatorDefined(EngagementEvent):
    TOPIC = "etrack:Engagement.IndicatorDefined"
    indicator: Indicator

    def evolve(self, engagement: EngagementState) -> None:
        engagement.indicator_objectives[self.indicator.key] = self.indicator.objective

    def keep(self, record: EngagementRecord) -> None:
        record.indicators[self.indicator.key] = self.indicator


class SynthesisRecorded(EngagementEvent):
    TOPIC = "etrack:Engagement.SynthesisRecorded"
    reference: str
    digest: str

    def evolve(self, engagement: EngagementState) -> None:
        engagement.synthesis = {"reference": self.reference, "digest": self.digest}


class ContractFixed(EngagementEvent):
    """Version 3 added ``billing``: whether the contract's sessions are paid or pro bono."""

    TOPIC = "etrack:Engagement.ContractFixed"
    class_version = 3
    contract: Contract
    billing: str

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Contracts fixed before billing was recorded (0.1, 0.2) were paid."""
        state["billing"] = Billing.PAID.value

    def evolve(self, engagement: EngagementState) -> None:
        engagement.contract = self.contract
        engagement.contract_billing = self.billing


class AccompanimentStarted(EngagementEvent):
    TOPIC = "etrack:Engagement.AccompanimentStarted"

    def evolve(self, engagement: EngagementState) -> None:
        engagement.accompaniment_started_at = self.timestamp


class SessionHeld(EngagementEvent):
    """Version 3 added ``billing`` (paid or pro bono) and ``group_size`` (people coached, teams)."""

    TOPIC = "etrack:Engagement.SessionHeld"
    class_version = 3
    session: Session
    billing: str
    group_size: int | None

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Sessions recorded before billing was recorded (0.1, 0.2) were paid; no group size."""
        state["billing"] = Billing.PAID.value
        state["group_size"] = None

    def evolve(self, engagement: EngagementState) -> None:
        engagement.sessions_held = self.session.number
        engagement.last_session_on = max(self.session.held_on, engagement.last_session_on or self.session.held_on)

    def keep(self, record: EngagementRecord) -> None:
        record.sessions.append(self.session)
        record.session_billing[str(self.session.number)] = self.billing
        if self.group_size is not None:
            record.session_group_size[str(self.session.number)] = self.group_size


class ActionCommitted(EngagementEvent):
    TOPIC = "etrack:Engagement.ActionCommitted"
    action: Action

    def evolve(self, engagement: EngagementState) -> None:
        engagement.actions_committed += 1
        engagement.open_actions[self.action.key] = self.action.due

    def keep(self, record: EngagementRecord) -> None:
        record.actions[self.action.key] = self.action


class ActionCompleted(EngagementEvent):
    TOPIC = "etrack:Engagement.ActionCompleted"
    key: str

    def evolve(self, engagement: EngagementState) -> None:
        engagement.open_actions.pop(self.key, None)

    def keep(self, record: EngagementRecord) -> None:
        record.actions[self.key] = attrs.evolve(record.actions[self.key], status=ActionStatus.DONE)


class ActionDropped(EngagementEvent):
    TOPIC = "etrack:Engagement.ActionDropped"
    key: str

    def evolve(self, engagement: EngagementState) -> None:
        engagement.open_actions.pop(self.key, None)

    def keep(self, record: EngagementRecord) -> None:
        record.actions[self.key] = attrs.evolve(record.actions[self.key], status=ActionStatus.DROPPED)


class IndicatorMeasured(EngagementEvent):
    TOPIC = "etrack:Engagement.IndicatorMeasured"
    measurement: Measurement

    def keep(self, record: EngagementRecord) -> None:
        record.measurements.append(self.measurement)


class ReviewRequested(EngagementEvent):
    TOPIC = "etrack:Engagement.ReviewRequested"

    def evolve(self, engagement: EngagementState) -> None:
        engagement.review_requested_by = str(self.actor.role)


class ReviewHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.ReviewHeld"
    held_on: date
    summary: Sealed | None

    def evolve(self, engagement: EngagementState) -> None:
        engagement.review_requested_by = None
        engagement.intermediate_reviews_held += 1

    def keep(self, record: EngagementRecord) -> None:
        record.reviews_held.append(self.held_on)


class Suspended(EngagementEvent):
    TOPIC = "etrack:Engagement.Suspended"
    reason: Sealed | None


class Resumed(EngagementEvent):
    TOPIC = "etrack:Engagement.Resumed"

    def evolve(self, engagement: EngagementState) -> None:
        engagement.resumed_on = self.timestamp.date()


class TestimonialLeft(EngagementEvent):
    """A voluntary testimonial at closing (a step outside the workflow: domain/testimonials.py)."""

    TOPIC = "etrack:Engagement.TestimonialLeft"
    testimonial: Testimonial

    def evolve(self, engagement: EngagementState) -> None:
        engagement.testimonial_authors.append(str(self.actor.party))

    def keep(self, record: EngagementRecord) -> None:
        record.testimonials[str(self.actor.party)] = self.testimonial


class TemplateApplied(EngagementEvent):
    """Opened with a programme template (``templates.py``): its name, version and content, as declared."""

    TOPIC = "etrack:Engagement.TemplateApplied"
    template: str
    version: int
    content: dict[str, Any]

    def evolve(self, engagement: EngagementState) -> None:
        engagement.template = {"name": self.template, "version": self.version, "content": self.content}


class SessionContentErased(EngagementEvent):
    """The retention policy erased the session notes (``retention.py``): the key that sealed them,
    named here, was destroyed after this was recorded. No content, only the policy and dates."""

    TOPIC = "etrack:Engagement.SessionContentErased"
    policy: str
    ended_at: datetime
    due_at: datetime
    subject: str
    sessions: int

    def evolve(self, engagement: EngagementState) -> None:
        engagement.session_content_erased_at = self.timestamp


class IcfLogConsentChanged(EngagementEvent):
    """The coachee agreed (``named``) or declined to be named in the coach's ICF hours log."""

    TOPIC = "etrack:Engagement.IcfLogConsentChanged"
    named: bool

    def evolve(self, engagement: EngagementState) -> None:
        engagement.icf_named = self.named


class AmendmentProposed(EngagementEvent):
    TOPIC = "etrack:Engagement.AmendmentProposed"
    amendment: Amendment

    def evolve(self, engagement: EngagementState) -> None:
        engagement.pending_amendment = self.amendment


class AmendmentAgreed(EngagementEvent):
    TOPIC = "etrack:Engagement.AmendmentAgreed"
    in_force: bool

    def evolve(self, engagement: EngagementState) -> None:
        pending = engagement.pending_amendment
        if pending is None:  # unreachable for recorded history: the command checked it
            return
        agreed = attrs.evolve(pending, agreed_by=(*pending.agreed_by, self.actor.role))
        if self.in_force:
            engagement.extra_sessions += agreed.extra_sessions
            if agreed.new_end is not None:
                engagement.amended_end = max(agreed.new_end, engagement.amended_end or agreed.new_end)
            engagement.pending_amendment = None
        else:
            engagement.pending_amendment = agreed


class ClosingSessionHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.ClosingSessionHeld"
    held_on: date
    evaluations: list[Evaluation]

    def evolve(self, engagement: EngagementState) -> None:
        engagement.closing_session_on = self.held_on

    def keep(self, record: EngagementRecord) -> None:
        record.evaluations = {ev.indicator: ev for ev in self.evaluations}


class ClosingMeetingHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.ClosingMeetingHeld"
    held_on: date
    synthesis: Sealed
    recommendations: Sealed

    def evolve(self, engagement: EngagementState) -> None:
        engagement.closing_meeting_on = self.held_on
        engagement.ended_at = self.timestamp

    def keep(self, record: EngagementRecord) -> None:
        record.closing_synthesis = self.synthesis
        record.recommendations = self.recommendations


class QuarterlyReviewHeld(EngagementEvent):
    TOPIC = "etrack:Engagement.QuarterlyReviewHeld"
    quarter: int
    held_on: date
    decisions: QuarterlyDecisions
    notes: Sealed | None

    def evolve(self, engagement: EngagementState) -> None:
        engagement.quarterly_reviews_held += 1

    def keep(self, record: EngagementRecord) -> None:
        record.quarterly_reviews.append(self.held_on)


class DisclosureProposed(EngagementEvent):
    TOPIC = "etrack:Engagement.DisclosureProposed"
    items: list[str]

    def evolve(self, engagement: EngagementState) -> None:
        engagement.disclosure_proposal = {"items": list(self.items), "by": str(self.actor.role)}


class DisclosureAgreed(EngagementEvent):
    TOPIC = "etrack:Engagement.DisclosureAgreed"
    items: list[str]

    def evolve(self, engagement: EngagementState) -> None:
        engagement.disclosure = list(self.items)
        engagement.disclosure_proposal = None


class Abandoned(EngagementEvent):
    TOPIC = "etrack:Engagement.Abandoned"
    reason: EndReason
    detail: Sealed | None

    def evolve(self, engagement: EngagementState) -> None:
        engagement.end_reason = str(self.reason)
        engagement.ended_by = str(self.actor.role)
        engagement.ended_at = self.timestamp

    def keep(self, record: EngagementRecord) -> None:
        record.end_detail = self.detail


class SessionScheduled(EngagementEvent):
    """A session planned: when, for how long, and where (a room or a link, sealed)."""

    TOPIC = "etrack:Engagement.SessionScheduled"
    key: str
    starts_at: datetime
    duration_minutes: int
    place: Sealed

    def evolve(self, engagement: EngagementState) -> None:
        engagement.scheduled[self.key] = "scheduled"

    def keep(self, record: EngagementRecord) -> None:
        record.schedule[self.key] = {"key": self.key, "starts_at": self.starts_at,
                                     "duration_minutes": self.duration_minutes, "place": self.place,
                                     "status": "scheduled", "session": None, "scheduled_at": self.timestamp,
                                     "changed_at": self.timestamp}


class SessionRescheduled(EngagementEvent):
    """A scheduled session moved (its place too, when a new one is given)."""

    TOPIC = "etrack:Engagement.SessionRescheduled"
    key: str
    starts_at: datetime
    duration_minutes: int
    place: Sealed | None

    def keep(self, record: EngagementRecord) -> None:
        planned = record.schedule[self.key]
        planned.update(starts_at=self.starts_at, duration_minutes=self.duration_minutes,
                       changed_at=self.timestamp)
        if self.place is not None:
            planned["place"] = self.place


class SessionCancelled(EngagementEvent):
    TOPIC = "etrack:Engagement.SessionCancelled"
    key: str

    def evolve(self, engagement: EngagementState) -> None:
        engagement.scheduled[self.key] = "cancelled"

    def keep(self, record: EngagementRecord) -> None:
        record.schedule[self.key].update(status="cancelled", changed_at=self.timestamp)


class ScheduledSessionHeld(EngagementEvent):
    """The session recorded just before (``SessionHeld``, same command) is the scheduled one ``key``."""

    TOPIC = "etrack:Engagement.ScheduledSessionHeld"
    key: str
    session: int

    def evolve(self, engagement: EngagementState) -> None:
        engagement.scheduled[self.key] = "held"

    def keep(self, record: EngagementRecord) -> None:
        record.schedule[self.key].update(status="held", session=self.session, changed_at=self.timestamp)
