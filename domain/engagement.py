"""Engagement: one tripartite coaching contract (coach, coachee, sponsor), framing to closing.

Each public command checks, then raises, then records: it verifies the acting party
(``access.require_step``), asks the workflow where the step leads (``decide``), validates its
inputs, and only then triggers one event carrying the destination state. Events only assign
state, so replaying old history never re-runs a rule. Confidential content arrives already
sealed (``Sealed``); the aggregate never sees a key or a plaintext.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import require_step
from engagement_tracker.domain.checks import (
    MAX_CONTRACT_SESSIONS,
    MAX_OBJECTIVES_PER_LEVEL,
    MAX_SESSION_MINUTES,
    not_before,
    require_date,
    require_int,
    require_label,
    require_member,
    require_number,
    require_time,
)
from engagement_tracker.domain.deadlines import engagement_deadlines
from engagement_tracker.domain.errors import InvalidInput, NotPermitted
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
)
from engagement_tracker.domain.vocabulary import (
    ActionStatus,
    DisclosureItem,
    EndReason,
    IndicatorKind,
    ObjectiveLevel,
    PartyKind,
    Role,
    SessionTheme,
    SponsorFunction,
)
from engagement_tracker.domain.workflow import ENGAGEMENT_WORKFLOW
from engagement_tracker.domain.workflow_aggregate import (
    WorkflowAggregate,
    optional_sealed,
    require_actor,
    require_sealed,
)


class Engagement(WorkflowAggregate):
    TOPIC = "etrack:Engagement"
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

        def evolve(self, engagement: Engagement) -> None:
            engagement.first_meeting_on = self.held_on

    class WillConfirmed(Event):
        TOPIC = "etrack:Engagement.WillConfirmed"

        def evolve(self, engagement: Engagement) -> None:
            engagement.will_confirmed.append(str(self.actor.role))

    class Declined(Event):
        TOPIC = "etrack:Engagement.Declined"
        reason: EndReason
        detail: Sealed | None

        def evolve(self, engagement: Engagement) -> None:
            engagement.end_reason = str(self.reason)
            engagement.end_detail = self.detail
            engagement.ended_by = str(self.actor.role)

    class DiagnosisRecorded(Event):
        TOPIC = "etrack:Engagement.DiagnosisRecorded"
        diagnosis: Sealed

        def evolve(self, engagement: Engagement) -> None:
            engagement.diagnosis = self.diagnosis

    class TripartiteMeetingHeld(Event):
        TOPIC = "etrack:Engagement.TripartiteMeetingHeld"
        held_on: date
        objectives: list[Objective]

        def evolve(self, engagement: Engagement) -> None:
            engagement.tripartite_on = self.held_on
            engagement.objectives = {o.key: o for o in self.objectives}

    class CoherenceValidated(Event):
        TOPIC = "etrack:Engagement.CoherenceValidated"

        def evolve(self, engagement: Engagement) -> None:
            engagement.coherence_validated = True

    class IndicatorDefined(Event):
        TOPIC = "etrack:Engagement.IndicatorDefined"
        indicator: Indicator

        def evolve(self, engagement: Engagement) -> None:
            engagement.indicators[self.indicator.key] = self.indicator

    class SynthesisRecorded(Event):
        TOPIC = "etrack:Engagement.SynthesisRecorded"
        reference: str
        digest: str

        def evolve(self, engagement: Engagement) -> None:
            engagement.synthesis = {"reference": self.reference, "digest": self.digest}

    class ContractFixed(Event):
        TOPIC = "etrack:Engagement.ContractFixed"
        contract: Contract

        def evolve(self, engagement: Engagement) -> None:
            engagement.contract = self.contract

    class AccompanimentStarted(Event):
        TOPIC = "etrack:Engagement.AccompanimentStarted"

        def evolve(self, engagement: Engagement) -> None:
            engagement.accompaniment_started_at = self.timestamp

    class SessionHeld(Event):
        TOPIC = "etrack:Engagement.SessionHeld"
        session: Session

        def evolve(self, engagement: Engagement) -> None:
            engagement.sessions.append(self.session)

    class ActionCommitted(Event):
        TOPIC = "etrack:Engagement.ActionCommitted"
        action: Action

        def evolve(self, engagement: Engagement) -> None:
            engagement.actions[self.action.key] = self.action

    class ActionCompleted(Event):
        TOPIC = "etrack:Engagement.ActionCompleted"
        key: str

        def evolve(self, engagement: Engagement) -> None:
            old = engagement.actions[self.key]
            engagement.actions[self.key] = attrs.evolve(old, status=ActionStatus.DONE)

    class ActionDropped(Event):
        TOPIC = "etrack:Engagement.ActionDropped"
        key: str

        def evolve(self, engagement: Engagement) -> None:
            old = engagement.actions[self.key]
            engagement.actions[self.key] = attrs.evolve(old, status=ActionStatus.DROPPED)

    class IndicatorMeasured(Event):
        TOPIC = "etrack:Engagement.IndicatorMeasured"
        measurement: Measurement

        def evolve(self, engagement: Engagement) -> None:
            engagement.measurements.append(self.measurement)

    class ReviewRequested(Event):
        TOPIC = "etrack:Engagement.ReviewRequested"

        def evolve(self, engagement: Engagement) -> None:
            engagement.review_requested_by = str(self.actor.role)

    class ReviewHeld(Event):
        TOPIC = "etrack:Engagement.ReviewHeld"
        held_on: date
        summary: Sealed | None

        def evolve(self, engagement: Engagement) -> None:
            engagement.review_requested_by = None
            engagement.reviews_held.append(self.held_on)

    class Suspended(Event):
        TOPIC = "etrack:Engagement.Suspended"
        reason: Sealed | None

    class Resumed(Event):
        TOPIC = "etrack:Engagement.Resumed"

    class AmendmentProposed(Event):
        TOPIC = "etrack:Engagement.AmendmentProposed"
        amendment: Amendment

        def evolve(self, engagement: Engagement) -> None:
            engagement.pending_amendment = self.amendment

    class AmendmentAgreed(Event):
        TOPIC = "etrack:Engagement.AmendmentAgreed"
        in_force: bool

        def evolve(self, engagement: Engagement) -> None:
            pending = engagement.pending_amendment
            if pending is None:  # unreachable for recorded history: the command checked it
                return
            agreed = attrs.evolve(pending, agreed_by=(*pending.agreed_by, self.actor.role))
            if self.in_force:
                engagement.amendments.append(agreed)
                engagement.pending_amendment = None
            else:
                engagement.pending_amendment = agreed

    class ClosingSessionHeld(Event):
        TOPIC = "etrack:Engagement.ClosingSessionHeld"
        held_on: date
        evaluations: list[Evaluation]

        def evolve(self, engagement: Engagement) -> None:
            engagement.closing_session_on = self.held_on
            engagement.evaluations = {ev.indicator: ev for ev in self.evaluations}

    class ClosingMeetingHeld(Event):
        TOPIC = "etrack:Engagement.ClosingMeetingHeld"
        held_on: date
        synthesis: Sealed
        recommendations: Sealed

        def evolve(self, engagement: Engagement) -> None:
            engagement.closing_meeting_on = self.held_on
            engagement.closing_synthesis = self.synthesis
            engagement.recommendations = self.recommendations

    class QuarterlyReviewHeld(Event):
        TOPIC = "etrack:Engagement.QuarterlyReviewHeld"
        quarter: int
        held_on: date
        decisions: QuarterlyDecisions
        notes: Sealed | None

        def evolve(self, engagement: Engagement) -> None:
            engagement.quarterly_reviews.append(self.held_on)

    class DisclosureProposed(Event):
        TOPIC = "etrack:Engagement.DisclosureProposed"
        items: list[str]

        def evolve(self, engagement: Engagement) -> None:
            engagement.disclosure_proposal = {"items": list(self.items), "by": str(self.actor.role)}

    class DisclosureAgreed(Event):
        TOPIC = "etrack:Engagement.DisclosureAgreed"
        items: list[str]

        def evolve(self, engagement: Engagement) -> None:
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

        def evolve(self, engagement: Engagement) -> None:
            engagement.end_reason = str(self.reason)
            engagement.end_detail = self.detail
            engagement.ended_by = str(self.actor.role)

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
        self.diagnosis: Sealed | None = None
        self.tripartite_on: date | None = None
        self.objectives: dict[str, Objective] = {}
        self.coherence_validated = False
        self.indicators: dict[str, Indicator] = {}
        self.synthesis: dict[str, str] | None = None
        self.contract: Contract | None = None
        self.sessions: list[Session] = []
        self.actions: dict[str, Action] = {}
        self.measurements: list[Measurement] = []
        self.review_requested_by: str | None = None
        self.reviews_held: list[date] = []
        self.pending_amendment: Amendment | None = None
        self.amendments: list[Amendment] = []
        self.closing_session_on: date | None = None
        self.evaluations: dict[str, Evaluation] = {}
        self.closing_meeting_on: date | None = None
        self.closing_synthesis: Sealed | None = None
        self.recommendations: Sealed | None = None
        self.end_reason: str | None = None
        self.end_detail: Sealed | None = None
        self.ended_by: str | None = None
        self.accompaniment_started_at: datetime | None = None
        self.quarterly_reviews: list[date] = []
        self.missed: dict[str, datetime] = {}
        self.signals_recorded = 0
        self.disclosure: list[str] = []  # what coachee and sponsor agreed the sponsor may see
        self.disclosure_proposal: dict[str, Any] | None = None

    # --- derived facts ----------------------------------------------------------------------

    @property
    def sessions_allowed(self) -> int:
        base = self.contract.sessions if self.contract else 0
        return base + sum(a.extra_sessions for a in self.amendments)

    @property
    def contract_end(self) -> date | None:
        if self.contract is None:
            return None
        ends = [self.contract.end, *(a.new_end for a in self.amendments if a.new_end)]
        return max(ends)

    def framing_gaps(self) -> list[str]:
        """What is still missing before accompaniment may start (empty when complete)."""
        gaps = []
        if not self.indicators:
            gaps.append("no progress indicator is defined")
        covered = {i.objective for i in self.indicators.values()}
        gaps.extend(f"objective {k} has no progress indicator" for k in self.objectives if k not in covered)
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
        if len(self.sessions) >= self.sessions_allowed:
            gaps.append(
                f"the contract allows {self.sessions_allowed} sessions and "
                f"{len(self.sessions)} were held{amend}"
            )
        if held_on is not None:
            if held_on < self.contract.start:
                gaps.append(f"{held_on} is before the contract starts ({self.contract.start})")
            end = self.contract_end
            if end is not None and held_on > end:
                gaps.append(f"{held_on} is after the contract ends ({end}){amend}")
        return gaps

    def due_deadlines(self, now: datetime) -> list[tuple[str, datetime]]:
        return engagement_deadlines(self, now)

    # --- the command path -------------------------------------------------------------------

    def require_party(self, step: str, actor: Actor) -> None:
        require_step(self, step, actor)

    # --- framing ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        engagement_id: UUID,
        actor: Actor,
        at: datetime,
        coach: UUID,
        coachee: UUID,
        coachee_kind: PartyKind | str,
        sponsor: UUID,
        sponsor_function: SponsorFunction | str,
        org_unit: str,
    ) -> Engagement:
        """Open an engagement in framing; the coach opens it for a coachee and a sponsor."""
        require_time(at)
        require_actor(actor)
        if actor.role is not Role.COACH or actor.party != coach:
            raise NotPermitted("open", "only the engagement's own coach opens it", [Role.COACH.value])
        if len({coach, coachee, sponsor}) != 3:
            raise InvalidInput("parties", "coach, coachee and sponsor must be three different parties")
        return cls._create(
            cls.Created,
            id=engagement_id,
            timestamp=at,
            actor=actor,
            to_state=ENGAGEMENT_WORKFLOW.initial,
            coach=coach,
            coachee=coachee,
            coachee_kind=require_member(PartyKind, coachee_kind, "coachee_kind"),
            sponsor=sponsor,
            sponsor_function=require_member(SponsorFunction, sponsor_function, "sponsor_function"),
            org_unit=require_label(org_unit, "org_unit"),
        )

    def hold_first_meeting(self, actor: Actor, at: datetime, held_on: date) -> None:
        to = self._step("hold_first_meeting", actor, at)
        self._record(self.FirstMeetingHeld, actor, at, to, held_on=require_date(held_on, "held_on"))

    def confirm_will(self, actor: Actor, at: datetime) -> None:
        """The coach or the coachee confirms their own will to work together."""
        to = self._step("confirm_will", actor, at, {"role": actor.role.value})
        self._record(self.WillConfirmed, actor, at, to)

    def decline(self, actor: Actor, at: datetime, reason: EndReason | str, detail: Sealed | None = None) -> None:
        to = self._step("decline", actor, at)
        self._record(
            self.Declined, actor, at, to,
            reason=require_member(EndReason, reason, "reason"),
            detail=optional_sealed(detail, "detail"),
        )

    def record_diagnosis(self, actor: Actor, at: datetime, diagnosis: Sealed) -> None:
        to = self._step("record_diagnosis", actor, at)
        self._record(self.DiagnosisRecorded, actor, at, to, diagnosis=require_sealed(diagnosis, "diagnosis"))

    def hold_tripartite_meeting(
        self,
        actor: Actor,
        at: datetime,
        held_on: date,
        organisation_request: Sequence[Sealed],
        coachee_request: Sequence[Sealed],
    ) -> list[str]:
        """Objectives at two levels; returns their keys (O1, O2, ...). Restating replaces them."""
        to = self._step("hold_tripartite_meeting", actor, at)
        objectives: list[Objective] = []
        for level, statements in (
            (ObjectiveLevel.ORGANISATION, organisation_request),
            (ObjectiveLevel.COACHEE, coachee_request),
        ):
            given = list(statements)
            if not 1 <= len(given) <= MAX_OBJECTIVES_PER_LEVEL:
                raise InvalidInput(
                    f"{level.value}_request",
                    f"{len(given)} objectives; state 1 to {MAX_OBJECTIVES_PER_LEVEL}",
                )
            for statement in given:
                key = f"O{len(objectives) + 1}"
                objectives.append(Objective(key, level, require_sealed(statement, f"objective {key}")))
        held_on = not_before(require_date(held_on, "held_on"), self.first_meeting_on, "held_on", "the first meeting")
        self._record(self.TripartiteMeetingHeld, actor, at, to, held_on=held_on, objectives=objectives)
        return [o.key for o in objectives]

    def validate_coherence(self, actor: Actor, at: datetime) -> None:
        """The coach validates both requests and their coherence."""
        to = self._step("validate_coherence", actor, at)
        self._record(self.CoherenceValidated, actor, at, to)

    def define_indicator(
        self,
        actor: Actor,
        at: datetime,
        objective: str,
        kind: IndicatorKind | str,
        label: Sealed,
        baseline: float,
        target: float,
        unit: str,
    ) -> str:
        """Define a progress indicator tied to an objective; returns its key (I1, I2, ...)."""
        to = self._step("define_indicator", actor, at)
        if objective not in self.objectives:
            raise InvalidInput("objective", f"unknown objective {objective!r}; known: {', '.join(self.objectives)}")
        key = f"I{len(self.indicators) + 1}"
        indicator = Indicator(
            key=key,
            objective=objective,
            kind=require_member(IndicatorKind, kind, "kind"),
            label=require_sealed(label, "label"),
            baseline=require_number(baseline, "baseline"),
            target=require_number(target, "target"),
            unit=require_label(unit, "unit"),
        )
        if indicator.baseline == indicator.target:
            raise InvalidInput("target", "equals the baseline: an indicator must aim at a change")
        self._record(self.IndicatorDefined, actor, at, to, indicator=indicator)
        return key

    def record_synthesis(self, actor: Actor, at: datetime, reference: str, digest: str) -> None:
        """The synthesis document, the platform of the work: a reference and a SHA-256 digest."""
        to = self._step("record_synthesis", actor, at)
        reference = require_label(reference, "reference")
        if not isinstance(digest, str) or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise InvalidInput("digest", "expected a SHA-256 digest: 64 lowercase hex characters")
        self._record(self.SynthesisRecorded, actor, at, to, reference=reference, digest=digest)

    def fix_contract(self, actor: Actor, at: datetime, contract: Contract) -> None:
        to = self._step("fix_contract", actor, at)
        if not isinstance(contract, Contract):
            raise InvalidInput("contract", "expected a Contract(sessions, start, end)")
        require_int(contract.sessions, "sessions", 1, MAX_CONTRACT_SESSIONS)
        self._record(self.ContractFixed, actor, at, to, contract=contract)

    def start_accompaniment(self, actor: Actor, at: datetime) -> None:
        """Refused, listing what is missing, until indicators, synthesis and contract are recorded."""
        to = self._step("start_accompaniment", actor, at)
        self._record(self.AccompanimentStarted, actor, at, to)

    # --- accompaniment ----------------------------------------------------------------------

    def record_session(
        self,
        actor: Actor,
        at: datetime,
        held_on: date,
        duration_minutes: int,
        themes: Iterable[SessionTheme | str],
        notes: Sealed | None,
    ) -> int:
        """Record a session held; refused beyond the contract unless amended. Returns its number."""
        held_on = require_date(held_on, "held_on")
        to = self._step("record_session", actor, at, {"held_on": held_on})
        not_before(held_on, self.tripartite_on, "held_on", "the tripartite meeting")
        require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
        if isinstance(themes, (str, bytes)):
            raise InvalidInput("themes", "expected a list of themes, got a single string")
        theme_list = tuple(dict.fromkeys(require_member(SessionTheme, t, "themes") for t in themes))
        if not theme_list:
            raise InvalidInput("themes", f"name at least one of: {', '.join(t.value for t in SessionTheme)}")
        number = len(self.sessions) + 1
        session = Session(number, held_on, duration_minutes, theme_list, optional_sealed(notes, "notes"))
        self._record(self.SessionHeld, actor, at, to, session=session)
        return number

    def commit_action(self, actor: Actor, at: datetime, description: Sealed, due: date | None = None) -> str:
        """An intersession action the coachee commits to; returns its key (A1, A2, ...)."""
        to = self._step("commit_action", actor, at)
        key = f"A{len(self.actions) + 1}"
        action = Action(
            key, require_sealed(description, "description"),
            None if due is None else require_date(due, "due"), ActionStatus.COMMITTED,
        )
        self._record(self.ActionCommitted, actor, at, to, action=action)
        return key

    def _open_action(self, key: str) -> None:
        if key not in self.actions:
            raise InvalidInput("action", f"unknown action {key!r}; known: {', '.join(self.actions) or 'none'}")
        status = self.actions[key].status
        if status is not ActionStatus.COMMITTED:
            raise InvalidInput("action", f"action {key} is already {status.value}; only committed actions change")

    def complete_action(self, actor: Actor, at: datetime, key: str) -> None:
        to = self._step("complete_action", actor, at)
        self._open_action(key)
        self._record(self.ActionCompleted, actor, at, to, key=key)

    def drop_action(self, actor: Actor, at: datetime, key: str) -> None:
        to = self._step("drop_action", actor, at)
        self._open_action(key)
        self._record(self.ActionDropped, actor, at, to, key=key)

    def measure_indicator(self, actor: Actor, at: datetime, indicator: str, value: float, measured_on: date) -> None:
        to = self._step("measure_indicator", actor, at)
        if indicator not in self.indicators:
            raise InvalidInput("indicator", f"unknown indicator {indicator!r}; known: {', '.join(self.indicators)}")
        measurement = Measurement(indicator, require_number(value, "value"), require_date(measured_on, "measured_on"))
        self._record(self.IndicatorMeasured, actor, at, to, measurement=measurement)

    def request_review(self, actor: Actor, at: datetime) -> None:
        """Any of the three parties may ask for an intermediate tripartite review."""
        to = self._step("request_review", actor, at)
        self._record(self.ReviewRequested, actor, at, to)

    def hold_review(self, actor: Actor, at: datetime, held_on: date, summary: Sealed | None = None) -> None:
        to = self._step("hold_review", actor, at)
        held_on = not_before(require_date(held_on, "held_on"), self.tripartite_on, "held_on", "the tripartite meeting")
        self._record(self.ReviewHeld, actor, at, to, held_on=held_on, summary=optional_sealed(summary, "summary"))

    def suspend(self, actor: Actor, at: datetime, reason: Sealed | None = None) -> None:
        to = self._step("suspend", actor, at)
        self._record(self.Suspended, actor, at, to, reason=optional_sealed(reason, "reason"))

    def resume(self, actor: Actor, at: datetime) -> None:
        to = self._step("resume", actor, at)
        self._record(self.Resumed, actor, at, to)

    def propose_amendment(
        self, actor: Actor, at: datetime, extra_sessions: int = 0, new_end: date | None = None
    ) -> None:
        """Propose extra sessions and/or a later end; in force once coach, coachee and sponsor agree."""
        to = self._step("propose_amendment", actor, at)
        require_int(extra_sessions, "extra_sessions", 0, MAX_CONTRACT_SESSIONS)
        if new_end is not None:
            require_date(new_end, "new_end")
            current = self.contract_end
            if current is not None and new_end <= current:
                raise InvalidInput("new_end", f"{new_end} does not extend the contract's end ({current})")
        if extra_sessions == 0 and new_end is None:
            raise InvalidInput("amendment", "propose extra sessions, a later end, or both")
        amendment = Amendment(extra_sessions, new_end, (actor.role,))
        self._record(self.AmendmentProposed, actor, at, to, amendment=amendment)

    def agree_amendment(self, actor: Actor, at: datetime) -> None:
        to = self._step("agree_amendment", actor, at, {"role": actor.role.value})
        pending = self.pending_amendment
        agreed = {actor.role, *(pending.agreed_by if pending else ())}
        in_force = agreed >= {Role.COACH, Role.COACHEE, Role.SPONSOR}
        self._record(self.AmendmentAgreed, actor, at, to, in_force=in_force)

    # --- closing ----------------------------------------------------------------------------

    def hold_closing_session(
        self, actor: Actor, at: datetime, held_on: date, evaluations: Sequence[Evaluation]
    ) -> None:
        """Evaluate every indicator defined at framing; refused while one is missing."""
        evaluations = list(evaluations)
        keys = []
        for ev in evaluations:
            if not isinstance(ev, Evaluation):
                raise InvalidInput("evaluations", "expected Evaluation(indicator, outcome, evidence) values")
            keys.append(ev.indicator)
        to = self._step("hold_closing_session", actor, at, {"evaluated": keys})
        unknown = sorted(set(keys) - set(self.indicators))
        if unknown:
            known = ", ".join(self.indicators)
            raise InvalidInput("evaluations", f"unknown indicators {', '.join(unknown)}; known: {known}")
        if len(keys) != len(set(keys)):
            raise InvalidInput("evaluations", "an indicator is evaluated twice")
        for ev in evaluations:
            require_sealed(ev.evidence, "evidence")
        last_session = max((s.held_on for s in self.sessions), default=self.tripartite_on)
        held_on = not_before(require_date(held_on, "held_on"), last_session, "held_on", "the last session")
        self._record(self.ClosingSessionHeld, actor, at, to, held_on=held_on, evaluations=evaluations)

    def hold_closing_meeting(
        self, actor: Actor, at: datetime, held_on: date, synthesis: Sealed, recommendations: Sealed
    ) -> None:
        """The closing tripartite meeting: the coachee's synthesis, recommendations to make it last."""
        to = self._step("hold_closing_meeting", actor, at)
        self._record(
            self.ClosingMeetingHeld, actor, at, to,
            held_on=not_before(require_date(held_on, "held_on"), self.closing_session_on, "held_on",
                                "the closing session"),
            synthesis=require_sealed(synthesis, "synthesis"),
            recommendations=require_sealed(recommendations, "recommendations"),
        )

    def hold_quarterly_review(
        self,
        actor: Actor,
        at: datetime,
        held_on: date,
        decisions: QuarterlyDecisions,
        notes: Sealed | None = None,
    ) -> int:
        """Team coaching: the quarterly review between coach and management; returns the quarter."""
        to = self._step("hold_quarterly_review", actor, at)
        if not isinstance(decisions, QuarterlyDecisions):
            raise InvalidInput("decisions", "expected QuarterlyDecisions(objectives_realigned, coaches_added, ...)")
        require_int(decisions.coaches_added, "coaches_added", 0, 20)
        require_int(decisions.coaches_removed, "coaches_removed", 0, 20)
        quarter = len(self.quarterly_reviews) + 1
        self._record(
            self.QuarterlyReviewHeld, actor, at, to, quarter=quarter, held_on=require_date(held_on, "held_on"),
            decisions=decisions, notes=optional_sealed(notes, "notes"),
        )
        return quarter

    def propose_disclosure(self, actor: Actor, at: datetime, items: Iterable[DisclosureItem | str]) -> None:
        """The coachee or the sponsor proposes what the sponsor may see; the other one accepts."""
        to = self._step("propose_disclosure", actor, at)
        if isinstance(items, (str, bytes)):
            raise InvalidInput("items", "expected a list of items")
        chosen = sorted({require_member(DisclosureItem, i, "items").value for i in items})
        self._record(self.DisclosureProposed, actor, at, to, items=chosen)

    def accept_disclosure(self, actor: Actor, at: datetime) -> None:
        to = self._step("accept_disclosure", actor, at, {"role": actor.role.value})
        proposal = self.disclosure_proposal or {"items": []}  # the guard checked there is one
        self._record(self.DisclosureAgreed, actor, at, to, items=list(proposal["items"]))

    def abandon(self, actor: Actor, at: datetime, reason: EndReason | str, detail: Sealed | None = None) -> None:
        """End early, from any phase that has not ended, with a reason."""
        to = self._step("abandon", actor, at)
        self._record(
            self.Abandoned, actor, at, to,
            reason=require_member(EndReason, reason, "reason"),
            detail=optional_sealed(detail, "detail"),
        )
