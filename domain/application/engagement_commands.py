"""The engagement steps of the application, each a short load-decide-save through the command path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import grant_checked, require_coach_grant
from engagement_tracker.domain.application.coach_loads import CoachLoads
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.templates import latest_template
from engagement_tracker.domain.application.testimonial_commands import leave_testimonial
from engagement_tracker.domain.application.views import EngagementReads
from engagement_tracker.domain.checks import require_member
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import (
    InvalidInput,
)
from engagement_tracker.domain.retention import session_subject
from engagement_tracker.domain.values import Actor, Contract, Evaluation, QuarterlyDecisions
from engagement_tracker.domain.vocabulary import (
    Billing,
    DisclosureItem,
    EndReason,
    IndicatorKind,
    Outcome,
    PartyKind,
    Polarity,
    SessionTheme,
    SignalContext,
    SponsorFunction,
)

R = TypeVar("R")


class EngagementService(EngagementReads):
    """Every engagement step: ``app.engagements.<step>(engagement_id, actor, ...)``, and the reads.

    Permission and state are checked before any text is sealed; text is sealed under the
    coachee's key; a team engagement takes and frees a slot in the coach's load atomically.
    """

    def _engagement(
        self,
        engagement_id: object,
        step: str,
        actor: Actor,
        command: Callable[[Engagement, datetime], R],
        command_id: object = None,
    ) -> CommandResult[R]:
        """Run an engagement step: permission and state are checked before any text is sealed."""

        def checked(e: Engagement, at: datetime) -> R:
            e.precheck(step, actor)
            return command(e, at)

        return self.path.update(
            Engagement, engagement_id, "engagement", checked, self.loads.freed_by, command_id=command_id
        )

    def __init__(self, path: CommandPath) -> None:
        super().__init__(path)
        #: The coaches' team loads: a slot taken at opening, freed in the same save as the end.
        self.loads = CoachLoads(path)

    def coach_load(self, viewer: Actor, coach: object = None) -> dict[str, Any]:
        """A coach's active team engagements against the capacity policy: a coach reads their own
        (``coach`` None or their id), an admin (granted) any coach's."""
        return self.loads.report(viewer, coach)

    # --- engagement commands ----------------------------------------------------------------

    @grant_checked
    def open(
        self,
        actor: Actor,
        coachee: object,
        sponsor: object,
        sponsor_function: SponsorFunction | str,
        org_unit: str,
        engagement_id: UUID | None = None,
        *,
        template: str | None = None,
        command_id: object = None,
    ) -> CommandResult[UUID]:
        """The coach (``actor``, holding a coach grant) opens an engagement for a coachee and a sponsor.

        Given a ``command_id`` and no ``engagement_id``, the new id derives from the command id, so a
        retry of the same command finds the engagement it opened instead of opening a second one.
        ``template``: a programme template's name (``app.templates``), recorded as applied at opening."""
        require_coach_grant(actor, self.path.held_grants, "open")
        coach_party = self.path.party(actor.party)
        coachee_party = self.path.party(coachee)
        sponsor_party = self.path.party(sponsor)
        if sponsor_party.kind is not PartyKind.PERSON:
            raise InvalidInput("sponsor", "a sponsor is a person, not a team")
        if coach_party.kind is not PartyKind.PERSON:
            raise InvalidInput("coach", "a coach is a person, not a team")

        applied = None if template is None else latest_template(self.path, template, "engagement")

        def make(eid: UUID, at: datetime) -> list[Aggregate]:
            engagement = Engagement.open(eid, actor, at, coach_party.id, coachee_party.id, coachee_party.kind,
                                         sponsor_party.id, sponsor_function, org_unit)
            if applied is not None:
                engagement.apply_template(actor, at, applied["name"], applied["version"], applied["content"])
            if coachee_party.kind is not PartyKind.TEAM:
                return [engagement]
            return [engagement, self.loads.take(coach_party.id, eid, actor, at)]  # refuses above the limit

        opened = self.path.create("engagement", make, engagement_id, command_id)
        if opened.aggregate_id is not None:  # the session notes' own key (retention.py), made once opened
            self.path.sealer.create_subject(session_subject(coachee_party.id, opened.aggregate_id))
        return opened

    def hold_first_meeting(
        self, engagement_id: object, actor: Actor, held_on: date, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "hold_first_meeting",
            actor,
            lambda e, at: e.hold_first_meeting(actor, at, held_on),
            command_id=command_id,
        )

    def confirm_will(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id, "confirm_will", actor, lambda e, at: e.confirm_will(actor, at), command_id=command_id
        )

    def decline(
        self,
        engagement_id: object,
        actor: Actor,
        reason: EndReason | str,
        detail: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "decline",
            actor,
            lambda e, at: e.decline(actor, at, reason, self.path.sealing.seal_optional(e.coachee, detail, "detail")),
            command_id=command_id,
        )

    def record_diagnosis(
        self, engagement_id: object, actor: Actor, diagnosis: str, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "record_diagnosis",
            actor,
            lambda e, at: e.record_diagnosis(actor, at, self.path.sealing.seal(e.coachee, diagnosis, "diagnosis")),
            command_id=command_id,
        )

    def hold_tripartite_meeting(
        self,
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

        return self._engagement(engagement_id, "hold_tripartite_meeting", actor, command, command_id=command_id)

    def validate_coherence(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "validate_coherence",
            actor,
            lambda e, at: e.validate_coherence(actor, at),
            command_id=command_id,
        )

    def define_indicator(
        self,
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
        return self._engagement(
            engagement_id,
            "define_indicator",
            actor,
            lambda e, at: e.define_indicator(
                actor, at, objective, kind, self.path.sealing.seal(e.coachee, label, "label", 500), baseline, target, unit
            ),
            command_id=command_id,
        )

    def record_synthesis(
        self, engagement_id: object, actor: Actor, reference: str, digest: str, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "record_synthesis",
            actor,
            lambda e, at: e.record_synthesis(actor, at, reference, digest),
            command_id=command_id,
        )

    def fix_contract(
        self,
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
        return self._engagement(
            engagement_id,
            "fix_contract",
            actor,
            lambda e, at: e.fix_contract(actor, at, Contract(sessions, start, end), billing),
            command_id=command_id,
        )

    def start_accompaniment(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "start_accompaniment",
            actor,
            lambda e, at: e.start_accompaniment(actor, at),
            command_id=command_id,
        )

    def record_session(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        duration_minutes: int,
        themes: Iterable[SessionTheme | str],
        notes: str | None = None,
        billing: Billing | str | None = None,
        group_size: int | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[int]:
        """Record a session with its themes and confidential notes (sealed); returns its number.

        ``billing`` (paid or pro_bono) defaults to the contract's; ``group_size`` is how many
        people a team session coached (ICF hours log), for team coachees only."""
        if isinstance(themes, (str, bytes)) or not isinstance(themes, Iterable):
            raise InvalidInput("themes", "expected a list of themes")
        themes = list(themes)
        return self._engagement(
            engagement_id,
            "record_session",
            actor,
            lambda e, at: e.record_session(
                actor, at, held_on, duration_minutes, themes, self.path.sealing.seal_session_notes(e.coachee, e.id, notes),
                billing, group_size,
            ),
            command_id=command_id,
        )

    def consent_to_icf_log(
        self, engagement_id: object, actor: Actor, named: bool = True, *, command_id: object = None
    ) -> CommandResult[None]:
        """The coachee agrees (``named``) or no longer agrees to be named in the coach's ICF hours log."""

        def command(e: Engagement, at: datetime) -> None:
            e.consent_to_icf_log(actor, at, named)  # in every state: a standing consent, not a workflow step

        return self.path.update(Engagement, engagement_id, "engagement", command, command_id=command_id)

    def commit_action(
        self,
        engagement_id: object,
        actor: Actor,
        description: str,
        due: date | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[str]:
        return self._engagement(
            engagement_id,
            "commit_action",
            actor,
            lambda e, at: e.commit_action(actor, at, self.path.sealing.seal(e.coachee, description, "description", 2_000), due),
            command_id=command_id,
        )

    def complete_action(self, engagement_id: object, actor: Actor, key: str, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "complete_action",
            actor,
            lambda e, at: e.complete_action(actor, at, key),
            command_id=command_id,
        )

    def drop_action(self, engagement_id: object, actor: Actor, key: str, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id, "drop_action", actor, lambda e, at: e.drop_action(actor, at, key), command_id=command_id
        )

    def measure_indicator(
        self,
        engagement_id: object,
        actor: Actor,
        indicator: str,
        value: float,
        measured_on: date,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "measure_indicator",
            actor,
            lambda e, at: e.measure_indicator(actor, at, indicator, value, measured_on),
            command_id=command_id,
        )

    def request_review(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id, "request_review", actor, lambda e, at: e.request_review(actor, at), command_id=command_id
        )

    def hold_review(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        summary: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "hold_review",
            actor,
            lambda e, at: e.hold_review(actor, at, held_on, self.path.sealing.seal_optional(e.coachee, summary, "summary")),
            command_id=command_id,
        )

    def suspend(
        self, engagement_id: object, actor: Actor, reason: str | None = None, *, command_id: object = None
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "suspend",
            actor,
            lambda e, at: e.suspend(actor, at, self.path.sealing.seal_optional(e.coachee, reason, "reason")),
            command_id=command_id,
        )

    def resume(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(engagement_id, "resume", actor, lambda e, at: e.resume(actor, at), command_id=command_id)

    def propose_amendment(
        self,
        engagement_id: object,
        actor: Actor,
        extra_sessions: int = 0,
        new_end: date | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "propose_amendment",
            actor,
            lambda e, at: e.propose_amendment(actor, at, extra_sessions, new_end),
            command_id=command_id,
        )

    def agree_amendment(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        return self._engagement(
            engagement_id, "agree_amendment", actor, lambda e, at: e.agree_amendment(actor, at), command_id=command_id
        )

    def hold_closing_session(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        evaluations: Mapping[str, tuple[Outcome | str, str]],
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """Evaluate every indicator: ``{"I1": ("achieved", "evidence..."), ...}``."""
        if not isinstance(evaluations, Mapping):
            raise InvalidInput("evaluations", "expected a mapping of indicator key to (outcome, evidence)")
        evaluations = dict(evaluations)

        def command(e: Engagement, at: datetime) -> None:
            evs = []
            for key, pair in evaluations.items():
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise InvalidInput("evaluations", f"{key}: expected (outcome, evidence)")
                outcome, evidence = pair
                evs.append(
                    Evaluation(
                        str(key),
                        require_member(Outcome, outcome, "outcome"),
                        self.path.sealing.seal(e.coachee, evidence, f"evidence of {key}", 2_000),
                    )
                )
            e.hold_closing_session(actor, at, held_on, evs)

        return self._engagement(engagement_id, "hold_closing_session", actor, command, command_id=command_id)

    def hold_closing_meeting(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        synthesis: str,
        recommendations: str,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "hold_closing_meeting",
            actor,
            lambda e, at: e.hold_closing_meeting(
                actor,
                at,
                held_on,
                self.path.sealing.seal(e.coachee, synthesis, "synthesis"),
                self.path.sealing.seal(e.coachee, recommendations, "recommendations"),
            ),
            command_id=command_id,
        )

    def hold_quarterly_review(
        self,
        engagement_id: object,
        actor: Actor,
        held_on: date,
        objectives_realigned: bool,
        coaches_added: int = 0,
        coaches_removed: int = 0,
        notes: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[int]:
        """Team coaching: the quarterly review with management and its decisions; returns the quarter."""
        decisions = QuarterlyDecisions(bool(objectives_realigned), coaches_added, coaches_removed)
        return self._engagement(
            engagement_id,
            "hold_quarterly_review",
            actor,
            lambda e, at: e.hold_quarterly_review(
                actor, at, held_on, decisions, self.path.sealing.seal_optional(e.coachee, notes, "notes")
            ),
            command_id=command_id,
        )

    def record_signal(
        self,
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
        return self._engagement(
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
        self, engagement_id: object, actor: Actor, items: Iterable[str], *, command_id: object = None
    ) -> CommandResult[None]:
        """Coachee or sponsor proposes what the sponsor may see: objectives, indicators, evaluations, dates."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise InvalidInput("items", f"expected a list of: {', '.join(i.value for i in DisclosureItem)}")
        chosen = list(items)
        return self._engagement(
            engagement_id,
            "propose_disclosure",
            actor,
            lambda e, at: e.propose_disclosure(actor, at, chosen),
            command_id=command_id,
        )

    def accept_disclosure(self, engagement_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[None]:
        """The other party accepts; from then on the sponsor's view holds exactly those items."""
        return self._engagement(
            engagement_id,
            "accept_disclosure",
            actor,
            lambda e, at: e.accept_disclosure(actor, at),
            command_id=command_id,
        )

    def leave_testimonial(
        self,
        engagement_id: object,
        actor: Actor,
        ratings: Mapping[str, int],
        text: str | None = None,
        quote_consent: bool = False,
        anonymous: bool = True,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """The coachee leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
        return leave_testimonial(self.path, Engagement, engagement_id, actor, ratings, text, quote_consent, anonymous,
                          command_id)

    def abandon(
        self,
        engagement_id: object,
        actor: Actor,
        reason: EndReason | str,
        detail: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        return self._engagement(
            engagement_id,
            "abandon",
            actor,
            lambda e, at: e.abandon(actor, at, reason, self.path.sealing.seal_optional(e.coachee, detail, "detail")),
            command_id=command_id,
        )
