"""The directory: one row per engagement and per cohort, non-personal metadata only, kept exactly once.

What ``etrack engagements`` and ``etrack cohorts`` list, without loading every aggregate: id,
kind, state (each event's ``to_state``), unit, coachee kind, counts (sessions held, members,
rituals, decisions, missed deadlines), when it was opened and last changed. No party id, no
name, no content. Events are selected by their classes' topics; rows and the position are
written in one transaction, in the view handed in (``adapters/bootstrap.py`` picks the
backend's); nothing here knows how it is stored.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import StoreError
from engagement_tracker.projections.directory_entries import (
    COHORT,
    COHORT_COLUMNS,
    COLUMNS,
    ENGAGEMENT,
    ENGAGEMENT_COLUMNS,
    NAME,
    Entry,
    cohort_row,
    engagement_row,
)
from engagement_tracker.projections.tracking import Record, StoredEvents, TrackedProjection, View


def _topics(aggregate: type[Aggregate]) -> frozenset[str]:
    """The stable topics of every event class an aggregate defines (each carries ``to_state``)."""
    topics = (getattr(value, "TOPIC", None) for value in vars(aggregate).values()
              if isinstance(value, type) and issubclass(value, Aggregate.Event))
    return frozenset(t for t in topics if isinstance(t, str))


#: Topic -> the kind of row its events change.
KINDS: dict[str, str] = {**dict.fromkeys(_topics(Engagement), ENGAGEMENT), **dict.fromkeys(_topics(Cohort), COHORT)}
CREATED = frozenset({Engagement.Created.TOPIC, Cohort.Created.TOPIC})
#: Topic -> (counter, step): what each event adds to its row besides its state and time.
COUNTERS: dict[str, tuple[str, int]] = {
    Engagement.SessionHeld.TOPIC: ("sessions", 1),
    Cohort.MemberJoined.TOPIC: ("members", 1),
    Cohort.MemberLeft.TOPIC: ("members", -1),
    Cohort.RitualHeld.TOPIC: ("rituals", 1),
    Cohort.DecisionRecorded.TOPIC: ("decisions", 1),
    Engagement.DeadlineMissed.TOPIC: ("missed_deadlines", 1),
    Cohort.DeadlineMissed.TOPIC: ("missed_deadlines", 1),
}


class DirectoryView(View):
    """Where the directory is kept: one row per engagement and cohort, and the tracked position."""

    @abstractmethod
    def save(self, entries: Sequence[Entry], tracking: Tracking) -> None:
        """Insert or replace ``entries`` (by id) and record ``tracking``, in one transaction."""

    @abstractmethod
    def entries(self, ids: Iterable[str]) -> dict[str, Entry]:
        """The rows of these ids (those that exist): a page reads only what it touches."""

    @abstractmethod
    def listing(self, kind: str | None = None) -> list[Entry]:
        """Every row (of ``kind``, when given), in the order opened."""


def decoded(r: Record) -> Any:
    """The record's domain event; a record that cannot be decoded stops the projection."""
    event = r.event
    if event is None:
        raise StoreError(f"cannot decode position {r.id} (tampered, unknown topic, or ETRACK_CIPHER_KEY "
                         "missing or wrong): run etrack audit verify")
    return event


def opened(aggregate_id: str, kind: str, position: int, event: Any) -> Entry:
    """The row a Created event starts."""
    coachee_kind = str(event.coachee_kind) if kind == ENGAGEMENT else None
    return Entry(aggregate_id, kind, position, str(event.to_state), str(event.org_unit), coachee_kind,
                 0, 0, 0, 0, 0, event.timestamp.date().isoformat(), event.timestamp.isoformat())


#: Where each field sits in an Entry's values (``attrs.astuple`` order), for the page's working rows.
_AT = {name: i for i, name in enumerate(COLUMNS)}
_STATE, _UPDATED_AT = _AT["state"], _AT["updated_at"]
#: Topic -> (index of its counter, step).
_STEPS: dict[str, tuple[int, int]] = {topic: (_AT[name], step) for topic, (name, step) in COUNTERS.items()}


def _evolve(values: list[Any], topic: str, to_state: str, at: str) -> None:
    """A row's values (an Entry's, in order) after one more of its events (its ``to_state`` and ISO time):
    its state, its time, and its counter if it has one; in place (a page changes a row many times, the
    Entry is built once)."""
    values[_STATE], values[_UPDATED_AT] = to_state, at
    step = _STEPS.get(topic)
    if step is not None:
        values[step[0]] += step[1]


class Directory(TrackedProjection[DirectoryView]):
    """Keeps the directory current, exactly once (rows and position in one transaction)."""

    name = NAME

    def __init__(self, view: DirectoryView, events: StoredEvents) -> None:
        super().__init__(view, events)

    def apply(self, page: Sequence[Record]) -> int:
        """Project a page that follows the directory's position; only Created events are decoded (the others'
        state and time are read from the stored JSON)."""
        wanted = [r for r in page if r.topic in KINDS]
        stored = self.view.entries({r.originator_id for r in wanted if r.topic not in CREATED})
        rows: dict[str, list[Any]] = {}  # the page's working rows (an Entry's values), built once at the end
        for r in wanted:
            if r.topic in CREATED:
                rows[r.originator_id] = list(attrs.astuple(opened(r.originator_id, KINDS[r.topic], r.id, decoded(r)),
                                                            recurse=False))
                continue
            values = rows.get(r.originator_id)
            if values is None:
                current = stored.get(r.originator_id)
                if current is None:  # no Created event before it: nothing to list it under
                    continue
                values = rows[r.originator_id] = list(attrs.astuple(current, recurse=False))
            to_state, at = r.to_state, r.stamp[2]  # read from the stored JSON, without decoding
            if to_state is None or at is None:
                event = decoded(r)
                to_state, at = str(event.to_state), event.timestamp.isoformat()
            _evolve(values, r.topic, to_state, at)
        self.view.save([Entry(*values) for values in rows.values()], Tracking(NAME, page[-1].id))
        return len(rows)

    def engagements(self) -> list[Entry]:
        """Every engagement, in the order opened, after catching up with the store."""
        self.catch_up()
        return self.view.listing(ENGAGEMENT)

    def cohorts(self) -> list[Entry]:
        """Every cohort, in the order opened, after catching up with the store."""
        self.catch_up()
        return self.view.listing(COHORT)


__all__ = ["COHORT", "COHORT_COLUMNS", "COLUMNS", "ENGAGEMENT", "ENGAGEMENT_COLUMNS", "NAME", "Directory", "DirectoryView",
           "Entry", "cohort_row", "engagement_row"]
