"""Weak-signal facts, fed by events: one fact per recorded signal, with the persons behind it.

The projection keeps a small registry of *sources* (engagements and cohorts: their unit and
the pseudonymous persons concerned: the coachee, or the cohort's members at the time). Facts
and sources stay inside the read model; analysts only ever get a release
(``projections.anonymity``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import attrs

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.projections.anonymity import Fact


@attrs.define
class Source:
    kind: str  # "engagement" | "cohort"
    unit: str
    persons: set[str]


Sources = MutableMapping[str, Source]


def month_of(day: Any) -> str:
    return f"{day.year:04d}-{day.month:02d}"


ENGAGEMENT_OPENED = Engagement.Created.TOPIC
COHORT_OPENED = Cohort.Created.TOPIC
MEMBER_JOINED = Cohort.MemberJoined.TOPIC
MEMBER_LEFT = Cohort.MemberLeft.TOPIC
SIGNALS = frozenset({Engagement.SignalRecorded.TOPIC, Cohort.SignalRecorded.TOPIC})
SOURCE_TOPICS = frozenset({ENGAGEMENT_OPENED, COHORT_OPENED, MEMBER_JOINED, MEMBER_LEFT})


def concerns(topic: str) -> bool:
    """Whether an event of this topic changes a source or is a signal (the others need no decoding)."""
    return topic in SOURCE_TOPICS or topic in SIGNALS


def update_sources(event: Any, sources: Sources) -> str | None:
    """Keep the registry current; returns the id of a source this event changed, if any."""
    topic = getattr(type(event), "TOPIC", "")
    sid = str(event.originator_id)
    if topic == ENGAGEMENT_OPENED:
        sources[sid] = Source("engagement", event.org_unit, {str(event.coachee)})
        return sid
    if topic == COHORT_OPENED:
        sources[sid] = Source("cohort", event.org_unit, set())
        return sid
    if topic in (MEMBER_JOINED, MEMBER_LEFT) and sid in sources:
        persons = sources[sid].persons
        (persons.add if topic == MEMBER_JOINED else persons.discard)(str(event.member))
        return sid
    return None


def signal_facts(event: Any, sources: Sources) -> list[Fact]:
    if getattr(type(event), "TOPIC", "") not in SIGNALS:
        return []
    sid = str(event.originator_id)
    source = sources.get(sid)
    persons = frozenset(source.persons) if source else frozenset()
    s = event.signal
    return [Fact("signal", "signal", s.unit, month_of(s.observed_on), sid, persons,
                 theme=s.theme, context=str(s.context), polarity=str(s.polarity), intensity=int(s.intensity))]
