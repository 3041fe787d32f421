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
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.testimonials import AT_CLOSING, require_first
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

    def apply_template(self, actor: Actor, at: datetime, name: str, version: int, content: dict[str, Any]) -> None:
        """Record the programme template this engagement was opened with (``templates.py``): at opening only,
        in the same transaction, once. Not a workflow step: the state does not change."""
        require_time(at)
        require_actor(actor)
        if self.template is not None:
            raise RuleViolation("apply a template", self.state, [f"template {self.template['name']} was applied at opening"])
        if self.version != 1:
            raise RuleViolation("apply a template", self.state, ["a template is applied when the engagement opens, not later"])
        self._record(self.TemplateApplied, actor, at, self.state, template=name, version=version, content=content)

    def erase_session_content(self, actor: Actor, at: datetime, policy: str, due_at: datetime, subject: str) -> None:
        """The retention policy's erasure of the session notes (``retention.py``), recorded by the deadline
        clock once the engagement has ended and the policy's time has come; once only. Not a workflow step:
        the state does not change."""
        require_time(at)
        if require_actor(actor).role is not Role.SYSTEM:
            raise NotPermitted("erase session content", "recorded by the retention policy (etrack tick) only",
                               [Role.SYSTEM.value])
        if self.ended_at is None:
            raise RuleViolation("erase session content", self.state,
                                ["the engagement has not ended: content is kept while it runs"])
        if self.session_content_erased_at is not None:
            raise RuleViolation("erase session content", self.state,
                                [f"already erased on {self.session_content_erased_at.isoformat()}"])
        due_at = require_time(due_at, "due_at")
        if due_at > at:
            raise RuleViolation("erase session content", self.state,
                                [f"the policy erases it on {due_at.isoformat()}, not before"])
        self._record(self.SessionContentErased, actor, at, self.state, policy=str(policy),
                     ended_at=self.ended_at, due_at=due_at, subject=subject, sessions=self.sessions_held)

    def consent_to_icf_log(self, actor: Actor, at: datetime, named: bool) -> None:
        """The coachee agrees (or no longer agrees) to be named in the coach's ICF hours log.

        A standing consent, not a workflow step: it may be given or withdrawn in every state,
        after closing too (a coach often applies for a credential later), and never changes it.
        """
        require_time(at)
        self.require_party("consent_to_icf_log", require_actor(actor))
        to = self.state
        if not isinstance(named, bool):
            raise InvalidInput("named", f"expected true or false, got {type(named).__name__}")
        if named == self.icf_named:
            now = "named" if named else "not named"
            raise InvalidInput("named", f"the coachee is already {now} in the coach's ICF log; give {not named}")
        self._record(self.IcfLogConsentChanged, actor, at, to, named=named)

    def leave_testimonial(self, actor: Actor, at: datetime, testimonial: Testimonial) -> None:
        """The coachee leaves a voluntary testimonial at closing (domain/testimonials.py); one each."""
        require_time(at)
        self.check_testimonial(actor)
        if not isinstance(testimonial, Testimonial):
            raise InvalidInput("testimonial", "expected a Testimonial (domain/testimonials.py make_testimonial)")
        self._record(self.TestimonialLeft, actor, at, self.state, testimonial=testimonial)

    def check_testimonial(self, actor: Actor) -> None:
        """Refuse, before any text is sealed, a testimonial ``actor`` may not leave now."""
        self.require_party("leave_testimonial", require_actor(actor))
        if self.state not in AT_CLOSING:
            raise RuleViolation("leave_testimonial", self.state,
                                [f"left in closing or closed; the engagement is {self.state}"])
        require_first(self.testimonial_authors, str(actor.party))

    def commit_action(self, actor: Actor, at: datetime, description: Sealed, due: date | None = None) -> str:
        """An intersession action the coachee commits to; returns its key (A1, A2, ...)."""
        to = self._step("commit_action", actor, at)
        key = f"A{self.actions_committed + 1}"
        action = Action(
            key, require_sealed(description, "description"),
            None if due is None else require_date(due, "due"), ActionStatus.COMMITTED,
        )
        self._record(self.ActionCommitted, actor, at, to, action=action)
        return key

    def _open_action(self, key: str) -> None:
        known = [f"A{n}" for n in range(1, self.actions_committed + 1)]
        if key not in known:
            raise InvalidInput("action", f"unknown action {key!r}; known: {', '.join(known) or 'none'}")
        if key not in self.open_actions:
            raise InvalidInput("action", f"action {key} is already done or dropped; only committed actions change")

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
        unknown = sorted(set(keys) - set(self.indicator_objectives))
        if unknown:
            known = ", ".join(self.indicator_objectives)
            raise InvalidInput("evaluations", f"unknown indicators {', '.join(unknown)}; known: {known}")
        if len(keys) != len(set(keys)):
            raise InvalidInput("evaluations", "an indicator is evaluated twice")
        for ev in evaluations:
            require_sealed(ev.evidence, "evidence")
        last_session = self.last_session_on or self.tripartite_on
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
        quarter = self.quarterly_reviews_held + 1
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

    # --- scheduled sessions (beside the workflow: no state changes, no deadline) ---------------

    def precheck_plan(self, step: str, actor: Actor) -> None:
        """Refuse early (before the place is sealed) a planning step this actor may not take now.

        Planning steps are beside the workflow (no state machine lists them: they change no state, and
        the views' ``allowed_steps`` stay the workflow's): taken while sessions are (in accompaniment)."""
        self.require_party(step, require_actor(actor))
        if self.state not in PLANNING_STATES[step]:
            raise StepNotAllowed(self.WORKFLOW.name, self.state, step, self.offered_steps())

    def _plan_step(self, step: str, actor: Actor, at: datetime) -> str:
        require_time(at)
        self.precheck_plan(step, actor)
        return self.state

    def schedule_session(self, actor: Actor, at: datetime, starts_at: datetime, duration_minutes: int,
                         place: Sealed) -> str:
        """Plan a session (when, how long, where: sealed); returns its key (P1, P2, ...)."""
        to = self._plan_step("schedule_session", actor, at)
        starts_at = _starts(starts_at)
        require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
        key = f"P{len(self.scheduled) + 1}"
        self._record(self.SessionScheduled, actor, at, to, key=key, starts_at=starts_at,
                     duration_minutes=duration_minutes, place=require_sealed(place, "place"))
        return key

    def require_planned(self, step: str, key: object) -> str:
        """``key`` if it names a session scheduled and neither held nor cancelled; else refused."""
        if not isinstance(key, str) or key not in self.scheduled:
            raise InvalidInput("key", f"{key!r} is not a scheduled session of this engagement "
                                      f"({', '.join(self.scheduled) or 'none scheduled'})")
        if self.scheduled[key] != "scheduled":
            raise RuleViolation(step, self.state, [f"session {key} was {self.scheduled[key]}"])
        return key

    def reschedule_session(self, actor: Actor, at: datetime, key: str, starts_at: datetime, duration_minutes: int,
                           place: Sealed | None) -> None:
        """Move a scheduled session (and its place, when a new one is given)."""
        to = self._plan_step("reschedule_session", actor, at)
        key = self.require_planned("reschedule_session", key)
        starts_at = _starts(starts_at)
        require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
        self._record(self.SessionRescheduled, actor, at, to, key=key, starts_at=starts_at,
                     duration_minutes=duration_minutes, place=optional_sealed(place, "place"))

    def cancel_session(self, actor: Actor, at: datetime, key: str) -> None:
        to = self._plan_step("cancel_session", actor, at)
        self._record(self.SessionCancelled, actor, at, to, key=self.require_planned("cancel_session", key))

    def link_held_session(self, actor: Actor, at: datetime, key: str, session: int) -> None:
        """After :meth:`record_session` in the same command: the session held was the scheduled ``key``."""
        self._plan_step("hold_scheduled_session", actor, at)
        key = self.require_planned("hold_scheduled_session", key)
        self.trigger_event(self.ScheduledSessionHeld, timestamp=at, actor=actor, to_state=self.state, key=key,
                           session=session)


_ACTIVE = frozenset({"accompaniment.in_progress", "accompaniment.review_pending"})
#: Where each planning step may be taken: sessions are scheduled and held while accompaniment is
#: active; a plan is moved or cancelled during a suspension too.
PLANNING_STATES: dict[str, frozenset[str]] = {
    "schedule_session": _ACTIVE,
    "hold_scheduled_session": _ACTIVE,
    "reschedule_session": _ACTIVE | {"accompaniment.suspended"},
    "cancel_session": _ACTIVE | {"accompaniment.suspended"},
}


def _starts(starts_at: object) -> datetime:
    """When a planned session starts: a date and time with its offset (``2026-03-02T14:00+01:00``)."""
    if not isinstance(starts_at, datetime) or starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise InvalidInput("starts_at", f"{starts_at!r}: expected a date and time with its UTC offset, "
                                        "e.g. 2026-03-02T14:00+01:00")
    return starts_at
