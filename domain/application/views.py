"""Role-filtered reads: an engagement's view and timeline, and a state as JSON for auditors.

``access.py`` decides each viewer's scope; this module only shapes what that scope shows. A
refused read is NotPermitted, never an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from typing import Any, cast
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import read_scope
from engagement_tracker.domain.application.coach_hours import hours_log
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.confidential import ERASED
from engagement_tracker.domain.application.testimonial_commands import quotes
from engagement_tracker.domain.deadlines import off_track_status
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_events import EngagementEvent
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.progress import indicator_progress
from engagement_tracker.domain.sealing import one_read
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import DisclosureItem


class EngagementReads:
    """Role-filtered reads of engagements: what each party may see (``access.py`` decides).

    ``app.engagements.get / record / ids / view / timeline / coach_load / coach_hours``.
    """

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def get(self, engagement_id: object, version: int | None = None) -> Engagement:
        """The aggregate itself (for embedding code and tests; carries sealed values only)."""
        return self.path.load(Engagement, engagement_id, "engagement", version)

    def record(self, engagement_id: object, version: int | None = None) -> EngagementRecord:
        """The engagement and the content its events carry (``engagement_record.py``), folded from
        its events up to ``version``: what the views read; sealed values only."""
        return EngagementRecord.of(self.path.history(Engagement, engagement_id, "engagement", version))

    def ids(self) -> Iterator[UUID]:
        """Every engagement id, in the order they were opened."""
        return self.path.ids_of(Engagement.Created.TOPIC)

    def coach_hours(self, viewer: Actor, coach: object = None) -> dict[str, Any]:
        """A coach's ICF hours log (see :func:`coach_hours.hours_log`)."""
        return hours_log(self.path, viewer, coach)

    def testimonial_quotes(self, viewer: Actor, k: int | None = None) -> list[dict[str, Any]]:
        """For analysts: quotable testimonials by quarter (see :func:`testimonial_commands.quotes`)."""
        return quotes(self.path, viewer, k)

    @one_read()
    def view(self, engagement_id: object, viewer: Actor) -> dict[str, Any]:
        """The engagement as ``viewer`` may see it; a refused read raises NotPermitted.

        Scopes (``domain.access.READ_SCOPES``): coach and coachee see everything, content
        unsealed; the sponsor sees what the tripartite contract shares (objectives,
        indicators, measurements, outcomes, meeting dates), never session content;
        auditors and admins see states and dates, no content.
        """
        r = self.record(engagement_id)
        e = r.engagement
        scope = read_scope(e, viewer, self.path.held_grants)
        view: dict[str, Any] = {
            "id": str(e.id),
            "version": e.version,
            "state": e.state,
            "phase": e.phase,
            "opened_at": e.created_on.isoformat(),
            "updated_at": e.modified_on.isoformat(),
            "coachee_kind": e.coachee_kind,
            "org_unit": e.org_unit,
            "allowed_steps": e.allowed_steps(),
            "contract": None
            if e.contract is None
            else {
                "sessions": e.contract.sessions,
                "start": e.contract.start.isoformat(),
                "end": e.contract.end.isoformat(),
                "sessions_allowed": e.sessions_allowed,
                "end_with_amendments": e.contract_end.isoformat() if e.contract_end else None,
            },
            "sessions_held": e.sessions_held,
            "dates": {
                "first_meeting": _iso(e.first_meeting_on),
                "tripartite_meeting": _iso(e.tripartite_on),
                "reviews": [d.isoformat() for d in r.reviews_held],
                "sessions": [s.held_on.isoformat() for s in r.sessions],
                "closing_session": _iso(e.closing_session_on),
                "closing_meeting": _iso(e.closing_meeting_on),
            },
            "end_reason": e.end_reason,
            "missed_deadlines": {k: d.isoformat() for k, d in e.missed.items()},
            "quarterly_reviews": [d.isoformat() for d in r.quarterly_reviews],
            "scope": scope,
        }
        off_track = off_track_status(e)
        if off_track is not None:  # only while flagged: the next session clears it (deadlines.py)
            view["off_track"] = off_track
        if e.template is not None:  # the programme template it was opened with (programme wording only)
            view["template"] = e.template
        if scope == "metadata":
            view["parties"] = {"coach": str(e.coach), "coachee": str(e.coachee), "sponsor": str(e.sponsor)}
            return view
        view["parties"] = {
            role: {"id": str(pid), "name": self.path.party_name(pid)}
            for role, pid in (("coach", e.coach), ("coachee", e.coachee), ("sponsor", e.sponsor))
        }
        view["sponsor_function"] = e.sponsor_function
        view["disclosure"] = {"agreed": list(e.disclosure), "proposal": e.disclosure_proposal}
        shared = set(e.disclosure) if scope == "contract" else {i.value for i in DisclosureItem}
        if "objectives" in shared:
            view["objectives"] = [
                {"key": o.key, "level": o.level.value, "statement": self.path.sealing.unseal(o.statement)}
                for o in r.objectives.values()
            ]
        if "indicators" in shared:
            view["indicators"] = [self._indicator_view(r, i.key) for i in r.indicators.values()]
        if "evaluations" in shared:
            view["evaluations"] = {
                k: {"outcome": ev.outcome.value}
                | ({} if scope == "contract" else {"evidence": self.path.sealing.unseal(ev.evidence)})
                for k, ev in r.evaluations.items()
            }
        if "dates" not in shared:
            view.pop("dates")
            view.pop("quarterly_reviews")
            for indicator in view.get("indicators", []):
                for m in indicator["measurements"]:
                    m.pop("measured_on")
        if scope == "contract":  # the phase, never the step: no suspension, no activity rhythm
            for hidden in ("sessions_held", "missed_deadlines", "version", "updated_at", "allowed_steps", "state",
                           "off_track"):
                view.pop(hidden, None)
            return view
        view["will_confirmed_by"] = list(e.will_confirmed)
        view["diagnosis"] = self.path.sealing.unseal(r.diagnosis)
        view["synthesis_document"] = e.synthesis
        view["sessions"] = [
            {
                "number": s.number,
                "held_on": s.held_on.isoformat(),
                "duration_minutes": s.duration_minutes,
                "themes": [t.value for t in s.themes],
            }
            | ({"notes": ERASED if e.session_content_erased_at and s.notes else self.path.sealing.unseal(s.notes)}
               if scope == "full" else {})
            for s in r.sessions
        ]
        if e.session_content_erased_at is not None:  # the retention policy's erasure (retention.py)
            view["session_content_erased_at"] = e.session_content_erased_at.isoformat()
        view["actions"] = [
            {"key": a.key, "description": self.path.sealing.unseal(a.description), "due": _iso(a.due), "status": a.status.value}
            for a in r.actions.values()
        ]
        view["review_requested_by"] = e.review_requested_by
        view["pending_amendment"] = (
            None
            if e.pending_amendment is None
            else {
                "extra_sessions": e.pending_amendment.extra_sessions,
                "new_end": _iso(e.pending_amendment.new_end),
                "agreed_by": [r.value for r in e.pending_amendment.agreed_by],
            }
        )
        view["closing_synthesis"] = self.path.sealing.unseal(r.closing_synthesis)
        view["recommendations"] = self.path.sealing.unseal(r.recommendations)
        view["end_detail"] = self.path.sealing.unseal(r.end_detail)
        return view

    def _indicator_view(self, r: EngagementRecord, key: str) -> dict[str, Any]:
        i = r.indicators[key]
        progress = indicator_progress(r, key)
        return {
            "key": i.key,
            "objective": i.objective,
            "kind": i.kind.value,
            "label": self.path.sealing.unseal(i.label),
            "baseline": i.baseline,
            "target": i.target,
            "unit": i.unit,
            "measurements": progress,
            "trend": (progress or [{"status": "not measured"}])[-1]["status"],
        }

    @one_read()
    def timeline(self, engagement_id: object, viewer: Actor) -> list[dict[str, Any]]:
        """Every recorded step of an engagement: when, which step, by which role, to which state, at which
        version; to a sponsor (the contract scope) the steps it shares, each to its phase, with no version."""
        e = self.get(engagement_id)
        scope = read_scope(e, viewer, self.path.held_grants)
        rows: list[dict[str, Any]] = []
        for stored in self.path.events.get(e.id):
            event = cast(EngagementEvent, stored)
            if scope == "contract" and not _sponsor_sees(event, e, viewer):
                continue
            if scope == "contract":  # the phase, and no version: its gaps would count the steps it hides
                rows.append({"at": event.timestamp.isoformat(), "event": type(event).__name__,
                             "role": event.actor.role.value, "state": _phase_of(event.to_state)})
                continue
            rows.append({"version": event.originator_version, "at": event.timestamp.isoformat(),
                         "event": type(event).__name__, "role": event.actor.role.value, "state": event.to_state})
        return rows


SPONSOR_VISIBLE_EVENTS = frozenset(
    {
        "Created",
        "TripartiteMeetingHeld",
        "CoherenceValidated",
        "IndicatorDefined",
        "ContractFixed",
        "AccompanimentStarted",
        "IndicatorMeasured",
        "ReviewRequested",
        "ReviewHeld",
        "AmendmentProposed",
        "AmendmentAgreed",
        "QuarterlyReviewHeld",
        "ClosingSessionHeld",
        "ClosingMeetingHeld",
        "Abandoned",
        "Declined",
        "DisclosureProposed",
        "DisclosureAgreed",
    }
)


def _phase_of(state: str) -> str:
    return state.split(".", 1)[0]


def _sponsor_sees(event: Any, e: Engagement, viewer: Actor) -> bool:
    """A sponsor's timeline: the sponsor's own steps and the disclosure agreement always; other
    contract steps only once "dates" is agreed, each also needing its own item."""
    name = type(event).__name__
    if name not in SPONSOR_VISIBLE_EVENTS:
        return False
    if name in ("Created", "DisclosureProposed", "DisclosureAgreed") or event.actor == viewer:
        return True
    needs = SPONSOR_EVENT_ITEMS.get(name, set())
    return "dates" in e.disclosure and needs <= set(e.disclosure)


#: The disclosure items a sponsor must have agreed to see an event on the timeline (beyond "dates").
SPONSOR_EVENT_ITEMS = {
    "TripartiteMeetingHeld": {"objectives"},
    "CoherenceValidated": {"objectives"},
    "IndicatorDefined": {"indicators"},
    "IndicatorMeasured": {"indicators"},
    "ClosingSessionHeld": {"evaluations"},
}


def state_as_json(value: Any) -> Any:
    """An aggregate's state as JSON data, with every sealed value shown sealed (never opened)."""
    if isinstance(value, Sealed):
        return {"sealed": True, "subject": value.subject, "digest": value.digest}
    if isinstance(value, Aggregate):
        state = {k.lstrip("_"): state_as_json(v) for k, v in vars(value).items() if k != "_pending_events"}
        return {"type": type(value).__name__, **state}
    if attrs.has(type(value)):
        return {f.name: state_as_json(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (UUID,)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): state_as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [state_as_json(v) for v in value]
    return value


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
