"""What an engagement is made of: its events, and the state they build.

Replay needs nothing else: each event only assigns state (``evolve``), so replaying old history
never re-runs a rule. :class:`engagement.Engagement` adds the commands that decide which event to
record; the events are defined here, nested in the class as eventsourcing expects, each with its
stable, persisted topic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import require_step
from engagement_tracker.domain.deadlines import OFF_TRACK_WEEKS, engagement_deadlines
from engagement_tracker.domain.values import (
    Action,
    Actor,
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
from engagement_tracker.domain.vocabulary import (
    ActionStatus,
    Billing,
    EndReason,
    PartyKind,
    SponsorFunction,
)
from engagement_tracker.domain.workflow import ENGAGEMENT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import WorkflowAggregate, stale_snapshot


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


class EngagementHistory(WorkflowAggregate):
    """An engagement's events and the state they build (the commands are on :class:`Engagement`)."""

    WORKFLOW = ENGAGEMENT_WORKFLOW

    # --- events: past-tense facts; each carries the actor and the destination state -------

    class Event(WorkflowAggregate.Event):
        """An engagement step: who took it, and the state it led to."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:Engagement.Created"
        actor: Actor
        to_state: str
        coach: UUID
        coachee: UUID
        coachee_kind: PartyKind
        sponsor: UUID
        sponsor_function: SponsorFunction
        org_unit: str

    class FirstMeetingHeld(Event):
        TOPIC = "etrack:Engagement.FirstMeetingHeld"
        held_on: date

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.first_meeting_on = self.held_on

    class WillConfirmed(Event):
        TOPIC = "etrack:Engagement.WillConfirmed"

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.will_confirmed.append(str(self.actor.role))

    class Declined(Event):
        TOPIC = "etrack:Engagement.Declined"
        reason: EndReason
        detail: Sealed | None

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.end_reason = str(self.reason)
            engagement.ended_by = str(self.actor.role)
            engagement.ended_at = self.timestamp

        def keep(self, record: EngagementRecord) -> None:
            record.end_detail = self.detail

    class DiagnosisRecorded(Event):
        TOPIC = "etrack:Engagement.DiagnosisRecorded"
        diagnosis: Sealed

        def keep(self, record: EngagementRecord) -> None:
            record.diagnosis = self.diagnosis

    class TripartiteMeetingHeld(Event):
        TOPIC = "etrack:Engagement.TripartiteMeetingHeld"
        held_on: date
        objectives: list[Objective]

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.tripartite_on = self.held_on
            engagement.objective_keys = [o.key for o in self.objectives]

        def keep(self, record: EngagementRecord) -> None:
            record.objectives = {o.key: o for o in self.objectives}

    class CoherenceValidated(Event):
        TOPIC = "etrack:Engagement.CoherenceValidated"

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.coherence_validated = True

    class IndicatorDefined(Event):
        TOPIC = "etrack:Engagement.IndicatorDefined"
        indicator: Indicator

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.indicator_objectives[self.indicator.key] = self.indicator.objective

        def keep(self, record: EngagementRecord) -> None:
            record.indicators[self.indicator.key] = self.indicator

    class SynthesisRecorded(Event):
        TOPIC = "etrack:Engagement.SynthesisRecorded"
        reference: str
        digest: str

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.synthesis = {"reference": self.reference, "digest": self.digest}

    class ContractFixed(Event):
        """Version 3 added ``billing``: whether the contract's sessions are paid or pro bono."""

        TOPIC = "etrack:Engagement.ContractFixed"
        class_version = 3
        contract: Contract
        billing: str

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Contracts fixed before billing was recorded (0.1, 0.2) were paid."""
            state["billing"] = Billing.PAID.value

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.contract = self.contract
            engagement.contract_billing = self.billing

    class AccompanimentStarted(Event):
        TOPIC = "etrack:Engagement.AccompanimentStarted"

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.accompaniment_started_at = self.timestamp

    class SessionHeld(Event):
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

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.sessions_held = self.session.number
            engagement.last_session_on = max(self.session.held_on, engagement.last_session_on or self.session.held_on)

        def keep(self, record: EngagementRecord) -> None:
            record.sessions.append(self.session)
            record.session_billing[str(self.session.number)] = self.billing
            if self.group_size is not None:
                record.session_group_size[str(self.session.number)] = self.group_size

    class ActionCommitted(Event):
        TOPIC = "etrack:Engagement.ActionCommitted"
        action: Action

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.actions_committed += 1
            engagement.open_actions[self.action.key] = self.action.due

        def keep(self, record: EngagementRecord) -> None:
            record.actions[self.action.key] = self.action

    class ActionCompleted(Event):
        TOPIC = "etrack:Engagement.ActionCompleted"
        key: str

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.open_actions.pop(self.key, None)

        def keep(self, record: EngagementRecord) -> None:
            record.actions[self.key] = attrs.evolve(record.actions[self.key], status=ActionStatus.DONE)

    class ActionDropped(Event):
        TOPIC = "etrack:Engagement.ActionDropped"
        key: str

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.open_actions.pop(self.key, None)

        def keep(self, record: EngagementRecord) -> None:
            record.actions[self.key] = attrs.evolve(record.actions[self.key], status=ActionStatus.DROPPED)

    class IndicatorMeasured(Event):
        TOPIC = "etrack:Engagement.IndicatorMeasured"
        measurement: Measurement

        def keep(self, record: EngagementRecord) -> None:
            record.measurements.append(self.measurement)

    class ReviewRequested(Event):
        TOPIC = "etrack:Engagement.ReviewRequested"

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.review_requested_by = str(self.actor.role)

    class ReviewHeld(Event):
        TOPIC = "etrack:Engagement.ReviewHeld"
        held_on: date
        summary: Sealed | None

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.review_requested_by = None
            engagement.intermediate_reviews_held += 1

        def keep(self, record: EngagementRecord) -> None:
            record.reviews_held.append(self.held_on)

    class Suspended(Event):
        TOPIC = "etrack:Engagement.Suspended"
        reason: Sealed | None

    class Resumed(Event):
        TOPIC = "etrack:Engagement.Resumed"

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.resumed_on = self.timestamp.date()

    class TestimonialLeft(Event):
        """A voluntary testimonial at closing (a step outside the workflow: domain/testimonials.py)."""

        TOPIC = "etrack:Engagement.TestimonialLeft"
        testimonial: Testimonial

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.testimonial_authors.append(str(self.actor.party))

        def keep(self, record: EngagementRecord) -> None:
            record.testimonials[str(self.actor.party)] = self.testimonial

    class TemplateApplied(Event):
        """Opened with a programme template (``templates.py``): its name, version and content, as declared."""

        TOPIC = "etrack:Engagement.TemplateApplied"
        template: str
        version: int
        content: dict[str, Any]

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.template = {"name": self.template, "version": self.version, "content": self.content}

    class SessionContentErased(Event):
        """The retention policy erased the session notes (``retention.py``): the key that sealed them,
        named here, was destroyed after this was recorded. No content, only the policy and dates."""

        TOPIC = "etrack:Engagement.SessionContentErased"
        policy: str
        ended_at: datetime
        due_at: datetime
        subject: str
        sessions: int

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.session_content_erased_at = self.timestamp

    class IcfLogConsentChanged(Event):
        """The coachee agreed (``named``) or declined to be named in the coach's ICF hours log."""

        TOPIC = "etrack:Engagement.IcfLogConsentChanged"
        named: bool

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.icf_named = self.named

    class AmendmentProposed(Event):
        TOPIC = "etrack:Engagement.AmendmentProposed"
        amendment: Amendment

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.pending_amendment = self.amendment

    class AmendmentAgreed(Event):
        TOPIC = "etrack:Engagement.AmendmentAgreed"
        in_force: bool

        def evolve(self, engagement: EngagementHistory) -> None:
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

    class ClosingSessionHeld(Event):
        TOPIC = "etrack:Engagement.ClosingSessionHeld"
        held_on: date
        evaluations: list[Evaluation]

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.closing_session_on = self.held_on

        def keep(self, record: EngagementRecord) -> None:
            record.evaluations = {ev.indicator: ev for ev in self.evaluations}

    class ClosingMeetingHeld(Event):
        TOPIC = "etrack:Engagement.ClosingMeetingHeld"
        held_on: date
        synthesis: Sealed
        recommendations: Sealed

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.closing_meeting_on = self.held_on
            engagement.ended_at = self.timestamp

        def keep(self, record: EngagementRecord) -> None:
            record.closing_synthesis = self.synthesis
            record.recommendations = self.recommendations

    class QuarterlyReviewHeld(Event):
        TOPIC = "etrack:Engagement.QuarterlyReviewHeld"
        quarter: int
        held_on: date
        decisions: QuarterlyDecisions
        notes: Sealed | None

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.quarterly_reviews_held += 1

        def keep(self, record: EngagementRecord) -> None:
            record.quarterly_reviews.append(self.held_on)

    class DisclosureProposed(Event):
        TOPIC = "etrack:Engagement.DisclosureProposed"
        items: list[str]

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.disclosure_proposal = {"items": list(self.items), "by": str(self.actor.role)}

    class DisclosureAgreed(Event):
        TOPIC = "etrack:Engagement.DisclosureAgreed"
        items: list[str]

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.disclosure = list(self.items)
            engagement.disclosure_proposal = None

    class SignalRecorded(WorkflowAggregate.SignalRecorded):
        TOPIC = "etrack:Engagement.SignalRecorded"

    class DeadlineMissed(WorkflowAggregate.DeadlineMissed):
        TOPIC = "etrack:Engagement.DeadlineMissed"

    class Abandoned(Event):
        TOPIC = "etrack:Engagement.Abandoned"
        reason: EndReason
        detail: Sealed | None

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.end_reason = str(self.reason)
            engagement.ended_by = str(self.actor.role)
            engagement.ended_at = self.timestamp

        def keep(self, record: EngagementRecord) -> None:
            record.end_detail = self.detail

    # --- scheduled sessions: beside the workflow, they change no state and set no deadline ----

    class SessionScheduled(Event):
        """A session planned: when, for how long, and where (a room or a link, sealed)."""

        TOPIC = "etrack:Engagement.SessionScheduled"
        key: str
        starts_at: datetime
        duration_minutes: int
        place: Sealed

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.scheduled[self.key] = "scheduled"

        def keep(self, record: EngagementRecord) -> None:
            record.schedule[self.key] = {"key": self.key, "starts_at": self.starts_at,
                                         "duration_minutes": self.duration_minutes, "place": self.place,
                                         "status": "scheduled", "session": None, "scheduled_at": self.timestamp,
                                         "changed_at": self.timestamp}

    class SessionRescheduled(Event):
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

    class SessionCancelled(Event):
        TOPIC = "etrack:Engagement.SessionCancelled"
        key: str

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.scheduled[self.key] = "cancelled"

        def keep(self, record: EngagementRecord) -> None:
            record.schedule[self.key].update(status="cancelled", changed_at=self.timestamp)

    class ScheduledSessionHeld(Event):
        """The session recorded just before (``SessionHeld``, same command) is the scheduled one ``key``."""

        TOPIC = "etrack:Engagement.ScheduledSessionHeld"
        key: str
        session: int

        def evolve(self, engagement: EngagementHistory) -> None:
            engagement.scheduled[self.key] = "held"

        def keep(self, record: EngagementRecord) -> None:
            record.schedule[self.key].update(status="held", session=self.session, changed_at=self.timestamp)

    # --- state ----------------------------------------------------------------------------

    def __init__(
        self,
        actor: Actor,
        to_state: str,
        coach: UUID,
        coachee: UUID,
        coachee_kind: PartyKind,
        sponsor: UUID,
        sponsor_function: SponsorFunction,
        org_unit: str,
    ) -> None:
        self.state = to_state
        self.coach = coach
        self.coachee = coachee
        self.coachee_kind = str(coachee_kind)
        self.sponsor = sponsor
        self.sponsor_function = str(sponsor_function)
        self.org_unit = org_unit
        self.first_meeting_on: date | None = None
        self.will_confirmed: list[str] = []
        self.tripartite_on: date | None = None
        self.objective_keys: list[str] = []  # O1, O2, ...: the statements stay in their events
        self.coherence_validated = False
        self.indicator_objectives: dict[str, str] = {}  # indicator key -> its objective's key
        self.synthesis: dict[str, str] | None = None
        self.contract: Contract | None = None
        self.contract_billing = Billing.PAID.value  # the sessions' default (ICF hours log)
        self.sessions_held = 0
        self.last_session_on: date | None = None
        self.actions_committed = 0
        self.open_actions: dict[str, date | None] = {}  # committed, neither done nor dropped: key -> due
        self.review_requested_by: str | None = None
        self.intermediate_reviews_held = 0
        self.pending_amendment: Amendment | None = None
        self.extra_sessions = 0  # granted by amendments in force
        self.amended_end: date | None = None  # the latest end an amendment in force set
        self.closing_session_on: date | None = None
        self.closing_meeting_on: date | None = None
        self.end_reason: str | None = None
        self.ended_by: str | None = None
        self.ended_at: datetime | None = None  # when it closed, was declined or abandoned
        self.session_content_erased_at: datetime | None = None  # the retention policy's erasure
        self.template: dict[str, Any] | None = None  # the programme template it was opened with
        self.accompaniment_started_at: datetime | None = None
        self.quarterly_reviews_held = 0
        self.missed: dict[str, datetime] = {}
        self.signals_recorded = 0
        self.disclosure: list[str] = []  # what coachee and sponsor agreed the sponsor may see
        self.disclosure_proposal: dict[str, Any] | None = None
        self.resumed_on: date | None = None  # off-track gaps count from a resume too
        self.icf_named = False  # the coachee consented to be named in the coach's ICF log
        self.testimonial_authors: list[str] = []  # who left a testimonial (one each)
        self.scheduled: dict[str, str] = {}  # planned session key (P1, P2, ...) -> scheduled | held | cancelled

    #: Snapshots (aggregate state) are not a public format. Version 3 keeps only what decisions
    #: need (counts, last dates, keys, statuses): its size no longer grows with the history, and
    #: sealed content stays in the events (``engagement_record.py`` folds it for reads). A
    #: snapshot of an earlier version is ignored: the engagement is replayed from its events.
    #: Version 4 added ``scheduled`` (planned sessions); version 5 ``ended_at``,
    #: ``session_content_erased_at`` (retention) and ``template``.
    class_version = 5
    upcast_v1_v2 = upcast_v2_v3 = upcast_v3_v4 = upcast_v4_v5 = staticmethod(stale_snapshot)

    # --- derived facts ----------------------------------------------------------------------

    @property
    def sessions_allowed(self) -> int:
        base = self.contract.sessions if self.contract else 0
        return base + self.extra_sessions

    @property
    def contract_end(self) -> date | None:
        if self.contract is None:
            return None
        return max(self.contract.end, self.amended_end or self.contract.end)

    def framing_gaps(self) -> list[str]:
        """What is still missing before accompaniment may start (empty when complete)."""
        gaps = []
        if not self.indicator_objectives:
            gaps.append("no progress indicator is defined")
        covered = set(self.indicator_objectives.values())
        gaps.extend(f"objective {k} has no progress indicator" for k in self.objective_keys if k not in covered)
        if self.synthesis is None:
            gaps.append("the synthesis document is not recorded")
        if self.contract is None:
            gaps.append("the contract (number of sessions and period) is not fixed")
        return gaps

    def contract_gaps(self, held_on: date | None) -> list[str]:
        """Why a session on ``held_on`` would fall outside the contract (empty when inside)."""
        if self.contract is None:
            return ["no contract is fixed"]
        amend = "; an amendment agreed by coach, coachee and sponsor would allow more"
        gaps = []
        if self.sessions_held >= self.sessions_allowed:
            gaps.append(
                f"the contract allows {self.sessions_allowed} sessions and "
                f"{self.sessions_held} were held{amend}"
            )
        if held_on is not None:
            if held_on < self.contract.start:
                gaps.append(f"{held_on} is before the contract starts ({self.contract.start})")
            end = self.contract_end
            if end is not None and held_on > end:
                gaps.append(f"{held_on} is after the contract ends ({end}){amend}")
        return gaps

    def due_deadlines(self, now: datetime, off_track_weeks: int = OFF_TRACK_WEEKS) -> list[tuple[str, datetime]]:
        return engagement_deadlines(self, now, off_track_weeks)

    # --- the command path -------------------------------------------------------------------

    def require_party(self, step: str, actor: Actor) -> None:
        require_step(self, step, actor)
