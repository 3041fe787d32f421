"""Off-track (deadlines.py): no session for N weeks in accompaniment is recorded once by the
deadline clock, and cleared by the next session; a later gap records again.

Checked rule by rule, then over random histories against a reference model (hypothesis).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain.checks import end_of
from engagement_tracker.domain.deadlines import last_activity_on, off_track_status
from engagement_tracker.domain.engagement import Engagement
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    SPONSOR,
    SYSTEM,
    T0,
    Clock,
    engagement_in,
)

STARTED = T0.date()


def roomy(clock: Clock) -> Engagement:
    """In accompaniment since T0, amended to 200 more sessions and an end two years on."""
    e = engagement_in("accompaniment.in_progress", clock)
    e.propose_amendment(COACHEE, clock(), extra_sessions=200, new_end=STARTED + timedelta(days=730))
    e.agree_amendment(SPONSOR, clock())
    e.agree_amendment(COACH, clock())
    return e


def off_track_keys(e: Engagement, now: datetime, weeks: int = 4) -> list[str]:
    return [k for k, _ in e.due_deadlines(now, off_track_weeks=weeks) if k.startswith("off_track:")]


def tick(e: Engagement, now: datetime, weeks: int = 4) -> list[str]:
    recorded = []
    for key, due_at in e.due_deadlines(now, off_track_weeks=weeks):
        e.miss_deadline(SYSTEM, now, key, due_at)
        recorded.append(key)
    return [k for k in recorded if k.startswith("off_track:")]


def session(e: Engagement, clock: Clock, held_on: date) -> None:
    e.record_session(COACH, clock(), held_on, 60, ["delegation"], None)


def test_no_session_for_four_weeks_falls_due_the_first_instant_after_the_28th_day() -> None:
    e = roomy(Clock())
    due_at = end_of(STARTED + timedelta(weeks=4))
    assert off_track_keys(e, due_at - timedelta(seconds=1)) == []
    assert e.due_deadlines(due_at) == [(f"off_track:{STARTED}", due_at)]
    assert off_track_keys(e, due_at, weeks=5) == []  # the number of weeks is the setting's


def test_recorded_once_shown_then_cleared_by_the_next_session_and_a_later_gap_records_again() -> None:
    clock = Clock()
    e = roomy(clock)
    later = end_of(STARTED + timedelta(weeks=6))
    assert tick(e, later) == [f"off_track:{STARTED}"]
    assert tick(e, later + timedelta(days=3)) == []  # once
    assert off_track_status(e) == {"since": STARTED.isoformat(), "due_at": end_of(STARTED + timedelta(weeks=4)).isoformat()}
    held = STARTED + timedelta(weeks=6)
    session(e, clock, held)
    assert off_track_status(e) is None and last_activity_on(e) == held
    assert f"off_track:{STARTED}" in e.missed  # the history keeps the earlier gap
    assert tick(e, end_of(held + timedelta(weeks=4)) - timedelta(seconds=1)) == []
    assert tick(e, end_of(held + timedelta(weeks=4))) == [f"off_track:{held}"]
    assert off_track_status(e) is not None


def test_a_suspended_engagement_is_not_off_track_and_a_resume_restarts_the_count() -> None:
    clock = Clock()
    e = roomy(clock)
    e.suspend(COACHEE, clock())
    assert off_track_keys(e, T0 + timedelta(weeks=20)) == []
    clock.now = T0 + timedelta(weeks=10)
    e.resume(COACHEE, clock())
    resumed = clock.now.date()
    assert last_activity_on(e) == resumed
    assert off_track_keys(e, end_of(resumed + timedelta(weeks=4)) - timedelta(seconds=1)) == []
    assert off_track_keys(e, end_of(resumed + timedelta(weeks=4))) == [f"off_track:{resumed}"]


def test_outside_accompaniment_nothing_is_off_track() -> None:
    for milestone in ("formalised", "closing", "closed"):
        e = engagement_in(milestone, Clock())
        assert off_track_keys(e, T0 + timedelta(weeks=100)) == []
        assert off_track_status(e) is None


# --- random histories against a reference model ---------------------------------------------------

#: A history: steps in time order, each (days after the previous step, "session" or "tick").
histories = st.lists(st.tuples(st.integers(0, 28), st.sampled_from(["session", "tick"])), max_size=25)


@settings(max_examples=150, deadline=None)
@given(history=histories, weeks=st.integers(1, 8))
def test_off_track_over_random_histories(history: list[tuple[int, str]], weeks: int) -> None:
    clock = Clock()
    e = roomy(clock)
    now = T0 + timedelta(days=10)  # the contract's first day: sessions are held from then on
    reference = STARTED  # the model's last activity date
    expected: set[str] = set()  # the off-track keys the model says were recorded
    for gap, kind in history:
        now += timedelta(days=gap)
        if kind == "session":
            clock.now = now
            session(e, clock, now.date())
            reference = max(reference, now.date())
        else:
            recorded = tick(e, now, weeks)
            due = now >= end_of(reference + timedelta(weeks=weeks))
            key = f"off_track:{reference}"
            assert recorded == ([key] if due and key not in expected else [])  # once, when due
            if due:
                expected.add(key)
        flagged = f"off_track:{reference}" in expected
        status = off_track_status(e)
        assert (status is not None) == flagged  # shown while flagged, cleared by the next session
        if status is not None:
            assert status["since"] == reference.isoformat()
    assert {k for k in e.missed if k.startswith("off_track:")} == expected
