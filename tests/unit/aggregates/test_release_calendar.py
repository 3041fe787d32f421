"""ReleaseCalendar, store-free: shapes are checked before anything is recorded; a period's first
record stays; replaying the events gives the same calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.release_calendar import (
    DEFAULT_SHAPES,
    ReleaseCalendar,
    parse_shape,
    require_shapes,
)
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

AT = datetime(2026, 5, 1, tzinfo=UTC)
ADMIN = Actor(UUID("00000000-0000-4000-8000-00000000ad01"), Role.ADMIN)


def test_a_new_calendar_is_the_synthesis_note_s_shapes_per_quarter() -> None:
    calendar = ReleaseCalendar.start(AT)
    assert (calendar.period, tuple(calendar.shapes), calendar.declared) == ("quarter", DEFAULT_SHAPES, False)
    assert [parse_shape(s) for s in DEFAULT_SHAPES][1] == ("signal", ("theme", "period"))


@pytest.mark.parametrize("shapes", ["", "signal", "signal:", "signal:mood", "activity:theme", "signal:theme,theme",
                                    "signal:theme; signal:theme", ";".join(["signal:theme"] * 13), 7, None, ["x:y"]])
def test_a_bad_calendar_is_refused_and_records_nothing(shapes: Any) -> None:
    calendar = ReleaseCalendar.start(AT)
    version = len(calendar.pending_events)
    with pytest.raises(InvalidInput):
        calendar.declare(ADMIN, "quarter", shapes, AT)
    with pytest.raises(InvalidInput):
        require_shapes(shapes)
    assert len(calendar.pending_events) == version


def test_a_period_s_first_record_stays_and_replay_gives_the_same_calendar() -> None:
    calendar = ReleaseCalendar.start(AT)
    calendar.declare(ADMIN, "month", " signal:theme , period ; activity:metric", AT)
    assert calendar.shapes == ["signal:theme,period", "activity:metric"] and calendar.period == "month"
    with pytest.raises(InvalidInput):
        calendar.declare(ADMIN, "week", "signal:theme", AT)
    first = calendar.record_period(ADMIN, "2026-03", {"signal:theme,period": '{"release": null}'}, AT)
    events = len(calendar.pending_events)
    assert calendar.record_period(ADMIN, "2026-03", {"signal:theme,period": "other"}, AT) == first
    assert len(calendar.pending_events) == events  # nothing recorded: the first record stays
    replayed: Aggregate | None = None
    for event in calendar.collect_events():
        replayed = cast(Aggregate.Event, event).mutate(replayed)
    assert isinstance(replayed, ReleaseCalendar)
    assert (replayed.period, replayed.shapes, replayed.released) == (calendar.period, calendar.shapes,
                                                                     calendar.released)


def test_every_event_has_an_explicit_topic() -> None:
    classes = (ReleaseCalendar, ReleaseCalendar.Created, ReleaseCalendar.CalendarSet, ReleaseCalendar.PeriodReleased)
    assert [c.TOPIC for c in classes] == [
        "etrack:ReleaseCalendar", "etrack:ReleaseCalendar.Created", "etrack:ReleaseCalendar.CalendarSet",
        "etrack:ReleaseCalendar.PeriodReleased"]
