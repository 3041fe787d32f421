"""Activity indicators, fed by events: what internal coaches report, counted per unit and month.

Engagements started, closed, declined and abandoned; sessions held; closing evaluations per
outcome (achievement rates); cohort rituals held and the artefacts they produced; experiment
feedback that came late. Each is a fact with the persons behind it, released under the same
rules as signals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.projections.anonymity import Fact
from engagement_tracker.projections.weak_signals import SOURCE_TOPICS, Sources, month_of

#: Event type -> activity metric (one fact per event).
SIMPLE = {
    Engagement.Created.TOPIC: "engagements_started",
    Engagement.ClosingMeetingHeld.TOPIC: "engagements_closed",
    Engagement.Declined.TOPIC: "engagements_declined",
    Engagement.Abandoned.TOPIC: "engagements_abandoned",
    Engagement.SessionHeld.TOPIC: "sessions_held",
    Cohort.RitualHeld.TOPIC: "rituals_held",
    Cohort.Closed.TOPIC: "cohorts_closed",
}
CLOSING_SESSION = Engagement.ClosingSessionHeld.TOPIC
RITUAL = Cohort.RitualHeld.TOPIC
DEADLINES = frozenset({Engagement.DeadlineMissed.TOPIC, Cohort.DeadlineMissed.TOPIC})
METRICS = (
    *SIMPLE.values(), "indicators_achieved", "indicators_partly", "indicators_not_achieved",
    "artefact_playbook_update", "artefact_checklist", "artefact_controlled_trial", "feedback_overdue",
)


#: Topics whose one fact needs nothing but the event's time, and which change no source: no
#: decoding of the event.
STAMPED = frozenset(t for t in SIMPLE if t != RITUAL and t not in SOURCE_TOPICS)


def stamped_fact(topic: str, sid: str, recorded_at: datetime, sources: Sources) -> list[Fact]:
    """The fact of a ``STAMPED`` event from its topic, aggregate and time alone (its month, in the
    time's own offset, as :func:`activity_facts` takes it from the decoded timestamp)."""
    source = sources.get(sid)
    if source is None or topic not in STAMPED:
        return []
    return [Fact("activity", SIMPLE[topic], source.unit, month_of(recorded_at), sid, frozenset(source.persons))]


def counts(topic: str) -> bool:
    """Whether an event of this topic can yield an activity fact (the others need no decoding)."""
    return topic in SIMPLE or topic in (CLOSING_SESSION, RITUAL) or topic in DEADLINES


def activity_facts(event: Any, sources: Sources) -> list[Fact]:
    topic = getattr(type(event), "TOPIC", "")
    sid = str(event.originator_id)
    source = sources.get(sid)
    if source is None:
        return []
    persons = frozenset(source.persons)
    month = month_of(event.timestamp)

    def fact(metric: str) -> Fact:
        return Fact("activity", metric, source.unit, month, sid, persons)

    facts = []
    if topic in SIMPLE:
        facts.append(fact(SIMPLE[topic]))
    if topic == CLOSING_SESSION:
        facts.extend(fact(f"indicators_{ev.outcome.value}") for ev in event.evaluations)
    if topic == RITUAL:
        facts.append(fact(f"artefact_{event.ritual.artefact_kind.value}"))
    if topic in DEADLINES and event.deadline.startswith("feedback:"):
        facts.append(fact("feedback_overdue"))
    return facts
