"""A schedule never produces a deadline the rules do not (issue #27, item 1).

Random plans (schedule, reschedule, cancel, hold a scheduled session, record an unplanned one),
taken on a real engagement in accompaniment; at any time afterwards the deadlines due are exactly
those of the same history with every planning event taken out (a held session stays a session).
Refused steps write nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain import Engagement
from engagement_tracker.domain.errors import EtrackError
from tests.support import START, Cast, FakeClock, drive, event_count, new_tracker, open_engagement

PLANNING = (Engagement.SessionScheduled, Engagement.SessionRescheduled, Engagement.SessionCancelled,
            Engagement.ScheduledSessionHeld)

APP = new_tracker("memory:", FakeClock())
CAST = Cast.register(APP)

op = st.one_of(
    st.tuples(st.just("schedule"), st.integers(-30, 200), st.integers(1, 480), st.sampled_from(["coach", "coachee"])),
    st.tuples(st.just("reschedule"), st.integers(1, 6), st.integers(-30, 200), st.integers(1, 480)),
    st.tuples(st.just("cancel"), st.integers(1, 6)),
    st.tuples(st.just("hold"), st.integers(1, 6)),
    st.tuples(st.just("record"), st.integers(0, 200)),
)


def take(eid: Any, step: tuple[Any, ...]) -> None:
    kind = step[0]
    when = datetime.combine(START, datetime.min.time(), UTC) + timedelta(hours=10)
    if kind == "schedule":
        actor = CAST.coach if step[3] == "coach" else CAST.coachee
        APP.sessions.schedule_session(eid, actor, when + timedelta(days=step[1]), step[2], "Room 4")
    elif kind == "reschedule":
        APP.sessions.reschedule_session(eid, CAST.coach, f"P{step[1]}", when + timedelta(days=step[2]), step[3])
    elif kind == "cancel":
        APP.sessions.cancel_session(eid, CAST.coachee, f"P{step[1]}")
    elif kind == "hold":
        APP.sessions.hold_scheduled_session(eid, CAST.coach, f"P{step[1]}", ["delegation"])
    else:
        APP.engagements.record_session(eid, CAST.coach, START + timedelta(days=20 + step[1]), 60, ["priorities"])


def without_plans(events: list[Any]) -> Engagement:
    kept = [e for e in events if not isinstance(e, PLANNING)]
    aggregate = None
    for version, event in enumerate(kept, start=1):
        aggregate = dataclasses.replace(event, originator_version=version).mutate(aggregate)
    assert isinstance(aggregate, Engagement)
    return aggregate


@settings(max_examples=30)
@given(st.lists(op, max_size=12), st.lists(st.integers(0, 400), min_size=1, max_size=4))
def test_a_schedule_never_produces_a_deadline_the_rules_do_not(ops: list[tuple[Any, ...]], days: list[int]) -> None:
    eid = open_engagement(APP, CAST)
    drive(APP, CAST, eid, "accompaniment.in_progress")
    for step in ops:
        before = event_count(APP)
        try:
            take(eid, step)
        except EtrackError:
            assert event_count(APP) == before  # a refused step writes nothing
    live = APP.engagements.get(eid)
    plain = without_plans(APP.history(Engagement, eid, "engagement"))
    assert live.state == plain.state and live.sessions_held == plain.sessions_held
    for day in days:
        now = datetime.combine(START, datetime.min.time(), UTC) + timedelta(days=day)
        assert live.due_deadlines(now) == plain.due_deadlines(now)
