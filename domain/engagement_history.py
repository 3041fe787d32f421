"""What an engagement is made of: its events, and the state they build.

Replay needs nothing else: each event only assigns state (``evolve``), so replaying old history
never re-runs a rule. :class:`engagement.Engagement` adds the commands that decide which event to
record. The events are written in ``engagement_events.py`` and bound here as they are
(``EngagementHistory.SessionHeld``), each with its stable, persisted topic; the created, signal
and missed-deadline events stay nested (they extend aggregate-level classes).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain import engagement_events
from engagement_tracker.domain.access import require_step
from engagement_tracker.domain.deadlines import OFF_TRACK_WEEKS, engagement_deadlines
from engagement_tracker.domain.values import (
    Actor,
    Amendment,
    Contract,
)
from engagement_tracker.domain.vocabulary import (
    Billing,
    PartyKind,
    SponsorFunction,
)
from engagement_tracker.domain.workflow import ENGAGEMENT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import WorkflowAggregate, stale_snapshot


class EngagementHistory(WorkflowAggregate):
    """An engagement's events and the state they build (the commands are on :class:`Engagement`)."""

    WORKFLOW = ENGAGEMENT_WORKFLOW

    # --- events: past-tense facts; each carries the actor and the destination state -------

    Event = engagement_events.EngagementEvent

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

    FirstMeetingHeld = engagement_events.FirstMeetingHeld
    WillConfirmed = engagement_events.WillConfirmed
    Declined = engagement_events.Declined
    DiagnosisRecorded = engagement_events.DiagnosisRecorded
    TripartiteMeetingHeld = engagement_events.TripartiteMeetingHeld
    CoherenceValidated = engagement_events.CoherenceValidated
    IndicatorDefined = engagement_events.IndicatorDefined
    SynthesisRecorded = engagement_events.SynthesisRecorded
    ContractFixed = engagement_events.ContractFixed
    AccompanimentStarted = engagement_events.AccompanimentStarted
    SessionHeld = engagement_events.SessionHeld
    ActionCommitted = engagement_events.ActionCommitted
    ActionCompleted = engagement_events.ActionCompleted
    ActionDropped = engagement_events.ActionDropped
    IndicatorMeasured = engagement_events.IndicatorMeasured
    ReviewRequested = engagement_events.ReviewRequested
    ReviewHeld = engagement_events.ReviewHeld
    Suspended = engagement_events.Suspended
    Resumed = engagement_events.Resumed
    TestimonialLeft = engagement_events.TestimonialLeft
    IcfLogConsentChanged = engagement_events.IcfLogConsentChanged
    TemplateApplied = engagement_events.TemplateApplied
    SessionContentErased = engagement_events.SessionContentErased
    AmendmentProposed = engagement_events.AmendmentProposed
    AmendmentAgreed = engagement_events.AmendmentAgreed
    ClosingSessionHeld = engagement_events.ClosingSessionHeld
    ClosingMeetingHeld = engagement_events.ClosingMeetingHeld
    QuarterlyReviewHeld = engagement_events.QuarterlyReviewHeld
    DisclosureProposed = engagement_events.DisclosureProposed
    DisclosureAgreed = engagement_events.DisclosureAgreed

    class SignalRecorded(WorkflowAggregate.SignalRecorded):
        TOPIC = "etrack:Engagement.SignalRecorded"

    class DeadlineMissed(WorkflowAggregate.DeadlineMissed):
        TOPIC = "etrack:Engagement.DeadlineMissed"

    Abandoned = engagement_events.Abandoned

    # --- scheduled sessions: beside the workflow, they change no state and set no deadline ----

    SessionScheduled = engagement_events.SessionScheduled
    SessionRescheduled = engagement_events.SessionRescheduled
    SessionCancelled = engagement_events.SessionCancelled
    ScheduledSessionHeld = engagement_events.ScheduledSessionHeld

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
