"""The engagement steps of the application, each a short load-decide-save through the command path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import grant_checked, require_coach_grant
from engagement_tracker.domain.application import (
    engagement_accompaniment,
    engagement_closing,
    engagement_disclosures,
    engagement_framing,
)
from engagement_tracker.domain.application.coach_loads import CoachLoads
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.templates import latest_template
from engagement_tracker.domain.application.views import EngagementReads
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import (
    InvalidInput,
)
from engagement_tracker.domain.retention import session_subject
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import (
    PartyKind,
    SponsorFunction,
)

R = TypeVar("R")


class EngagementService:
    """Every engagement step: ``app.engagements.<step>(engagement_id, actor, ...)``, and the reads.

    Permission and state are checked before any text is sealed; text is sealed under the
    coachee's key; a team engagement takes and frees a slot in the coach's load atomically.
    The reads are ``EngagementReads``'s (``views.py``), composed, not inherited: ``app.engagements.reads``.
    """

    def __init__(self, path: CommandPath) -> None:
        self.path = path
        #: The role-filtered reads (``views.EngagementReads``), on the same command path.
        self.reads = EngagementReads(path)
        #: The coaches' team loads: a slot taken at opening, freed in the same save as the end.
        self.loads = CoachLoads(path)

    # --- reads (``views.EngagementReads``) --------------------------------------------------------

    def get(self, engagement_id: object, version: int | None = None) -> Engagement:
        """The aggregate itself (for embedding code and tests; carries sealed values only)."""
        return self.reads.get(engagement_id, version)

    def record(self, engagement_id: object, version: int | None = None) -> EngagementRecord:
        """The engagement and the content its events carry, folded up to ``version``; sealed values only."""
        return self.reads.record(engagement_id, version)

    def ids(self) -> Iterator[UUID]:
        """Every engagement id, in the order they were opened."""
        return self.reads.ids()

    def view(self, engagement_id: object, viewer: Actor) -> dict[str, Any]:
        """The engagement as ``viewer`` may see it (:meth:`views.EngagementReads.view`); a refused read
        raises NotPermitted."""
        return self.reads.view(engagement_id, viewer)

    def timeline(self, engagement_id: object, viewer: Actor) -> list[dict[str, Any]]:
        """The engagement's events as ``viewer`` may see them (:meth:`views.EngagementReads.timeline`)."""
        return self.reads.timeline(engagement_id, viewer)

    def coach_hours(self, viewer: Actor, coach: object = None) -> dict[str, Any]:
        """A coach's ICF hours log (see :func:`coach_hours.hours_log`)."""
        return self.reads.coach_hours(viewer, coach)

    def testimonial_quotes(self, viewer: Actor, k: int | None = None) -> list[dict[str, Any]]:
        """For analysts: quotable testimonials by quarter (see :func:`testimonial_commands.quotes`)."""
        return self.reads.testimonial_quotes(viewer, k)

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

    # --- the steps, by phase: each a function of this service in a module of its own -------------

    hold_first_meeting = engagement_framing.hold_first_meeting
    confirm_will = engagement_framing.confirm_will
    decline = engagement_framing.decline
    record_diagnosis = engagement_framing.record_diagnosis
    hold_tripartite_meeting = engagement_framing.hold_tripartite_meeting
    validate_coherence = engagement_framing.validate_coherence
    define_indicator = engagement_framing.define_indicator
    record_synthesis = engagement_framing.record_synthesis
    fix_contract = engagement_framing.fix_contract

    start_accompaniment = engagement_accompaniment.start_accompaniment
    record_session = engagement_accompaniment.record_session
    commit_action = engagement_accompaniment.commit_action
    complete_action = engagement_accompaniment.complete_action
    drop_action = engagement_accompaniment.drop_action
    measure_indicator = engagement_accompaniment.measure_indicator
    request_review = engagement_accompaniment.request_review
    hold_review = engagement_accompaniment.hold_review
    suspend = engagement_accompaniment.suspend
    resume = engagement_accompaniment.resume
    propose_amendment = engagement_accompaniment.propose_amendment
    agree_amendment = engagement_accompaniment.agree_amendment
    hold_quarterly_review = engagement_accompaniment.hold_quarterly_review

    hold_closing_session = engagement_closing.hold_closing_session
    hold_closing_meeting = engagement_closing.hold_closing_meeting
    leave_testimonial = engagement_closing.leave_testimonial
    abandon = engagement_closing.abandon

    record_signal = engagement_disclosures.record_signal
    propose_disclosure = engagement_disclosures.propose_disclosure
    accept_disclosure = engagement_disclosures.accept_disclosure
    consent_to_icf_log = engagement_disclosures.consent_to_icf_log
