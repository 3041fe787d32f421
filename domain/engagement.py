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
from uuid import UUID

from engagement_tracker.domain import (
    engagement_actions,
    engagement_consents,
    engagement_endings,
    engagement_plans,
    engagement_programme,
)
from engagement_tracker.domain.checks import (
    MAX_CONTRACT_SESSIONS,
    MAX_GROUP_SIZE,
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
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import InvalidInput, NotPermitted
from engagement_tracker.domain.values import (
    Actor,
    Amendment,
    Contract,
    Indicator,
    Measurement,
    Objective,
    QuarterlyDecisions,
    Sealed,
    Session,
)
from engagement_tracker.domain.vocabulary import (
    Billing,
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
    events_of,
    optional_sealed,
    require_actor,
    require_sealed,
)


class Engagement(EngagementHistory):
    """One tripartite coaching engagement: the commands, each checking, then recording one event."""

    TOPIC = "etrack:Engagement"
    vars().update(events_of(EngagementHistory))  # the history's events, registered under this aggregate

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
        if objective not in self.objective_keys:
            known = ", ".join(self.objective_keys)
            raise InvalidInput("objective", f"unknown objective {objective!r}; known: {known}")
        key = f"I{len(self.indicator_objectives) + 1}"
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

    def fix_contract(
        self, actor: Actor, at: datetime, contract: Contract, billing: Billing | str = Billing.PAID
    ) -> None:
        """Fix the sessions and period; ``billing`` (paid or pro bono) is the sessions' default."""
        to = self._step("fix_contract", actor, at)
        if not isinstance(contract, Contract):
            raise InvalidInput("contract", "expected a Contract(sessions, start, end)")
        require_int(contract.sessions, "sessions", 1, MAX_CONTRACT_SESSIONS)
        billed = require_member(Billing, billing, "billing").value
        self._record(self.ContractFixed, actor, at, to, contract=contract, billing=billed)

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
        billing: Billing | str | None = None,
        group_size: int | None = None,
    ) -> int:
        """Record a session held; refused beyond the contract unless amended. Returns its number.

        ``billing`` defaults to the contract's (paid or pro bono); ``group_size`` (how many people
        were coached) is for team coachees only: a person's session is one-to-one."""
        held_on = require_date(held_on, "held_on")
        to = self._step("record_session", actor, at, {"held_on": held_on})
        not_before(held_on, self.tripartite_on, "held_on", "the tripartite meeting")
        require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
        if isinstance(themes, (str, bytes)):
            raise InvalidInput("themes", "expected a list of themes, got a single string")
        theme_list = tuple(dict.fromkeys(require_member(SessionTheme, t, "themes") for t in themes))
        if not theme_list:
            raise InvalidInput("themes", f"name at least one of: {', '.join(t.value for t in SessionTheme)}")
        billed = self.contract_billing if billing is None else require_member(Billing, billing, "billing").value
        if group_size is not None:
            if self.coachee_kind != PartyKind.TEAM.value:
                raise InvalidInput("group_size", "a person's session is one-to-one; give a group size for teams only")
            require_int(group_size, "group_size", 2, MAX_GROUP_SIZE)
        number = self.sessions_held + 1
        session = Session(number, held_on, duration_minutes, theme_list, optional_sealed(notes, "notes"))
        self._record(self.SessionHeld, actor, at, to, session=session, billing=billed, group_size=group_size)
        return number


    def measure_indicator(self, actor: Actor, at: datetime, indicator: str, value: float, measured_on: date) -> None:
        to = self._step("measure_indicator", actor, at)
        if indicator not in self.indicator_objectives:
            known = ", ".join(self.indicator_objectives)
            raise InvalidInput("indicator", f"unknown indicator {indicator!r}; known: {known}")
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

    # --- team coaching ----------------------------------------------------------------------

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
        quarter = self.quarterly_reviews_held + 1
        self._record(
            self.QuarterlyReviewHeld, actor, at, to, quarter=quarter, held_on=require_date(held_on, "held_on"),
            decisions=decisions, notes=optional_sealed(notes, "notes"),
        )
        return quarter

    # --- commands in modules of their own: each a function of the aggregate ---------------------

    commit_action = engagement_actions.commit_action
    complete_action = engagement_actions.complete_action
    drop_action = engagement_actions.drop_action

    precheck_plan = engagement_plans.precheck_plan
    schedule_session = engagement_plans.schedule_session
    require_planned = engagement_plans.require_planned
    reschedule_session = engagement_plans.reschedule_session
    cancel_session = engagement_plans.cancel_session
    link_held_session = engagement_plans.link_held_session

    apply_template = engagement_programme.apply_template
    erase_session_content = engagement_programme.erase_session_content
    consent_to_icf_log = engagement_consents.consent_to_icf_log
    leave_testimonial = engagement_consents.leave_testimonial
    check_testimonial = engagement_consents.check_testimonial
    propose_disclosure = engagement_consents.propose_disclosure
    accept_disclosure = engagement_consents.accept_disclosure

    hold_closing_session = engagement_endings.hold_closing_session
    hold_closing_meeting = engagement_endings.hold_closing_meeting
    abandon = engagement_endings.abandon

