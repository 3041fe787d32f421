"""Every rule of domain/deadlines.py against hand-built aggregates and chosen ``now``s.

Keys: contract_end:<date>, action:<key>, quarterly_review:<n>, feedback:<experiment>, cycle_week:<n>.
Each is recorded once: after ``miss_deadline`` the same key is no longer due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.checks import end_of
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.deadlines import QUARTER, cycle_status
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import NotPermitted, RuleViolation
from engagement_tracker.domain.values import CohortRules, QuarterlyDecisions
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    COHORT_COACH,
    CONTRACT,
    PEERS,
    SPONSOR,
    SYSTEM,
    T0,
    Clock,
    cohort_in,
    day,
    engagement_in,
    refused,
    sealed,
)

SECOND = timedelta(seconds=1)
CONTRACT_END = end_of(CONTRACT.end)  # 2026-05-06T00:00Z, the first instant after the contract's last day
M1 = PEERS[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def e(clock: Clock) -> Engagement:
    """A person's engagement in accompaniment since T0, contract ending 2026-05-05."""
    return engagement_in("accompaniment.in_progress", clock)


#: These tests are about the other rules: no session gap is long enough to put them off track
#: (off-track has its own tests, tests/unit/aggregates/test_off_track.py).
NO_GAP_WEEKS = 1000


def due(e: Engagement, now: datetime) -> list[tuple[str, datetime]]:
    return e.due_deadlines(now, off_track_weeks=NO_GAP_WEEKS)


def keys(due: list[tuple[str, object]]) -> list[str]:
    return sorted(k for k, _ in due)


# --- contract end -----------------------------------------------------------------------------


def test_the_contract_end_falls_due_the_first_instant_after_its_last_day(e: Engagement) -> None:
    assert due(e, CONTRACT_END - SECOND) == []
    assert due(e, CONTRACT_END) == [("contract_end:2026-05-05", CONTRACT_END)]


def test_a_suspended_engagement_still_runs_past_its_contract(e: Engagement, clock: Clock) -> None:
    e.suspend(COACHEE, clock())
    assert keys(due(e, CONTRACT_END)) == ["contract_end:2026-05-05"]


def test_an_agreed_later_end_moves_the_deadline_and_its_key(e: Engagement, clock: Clock) -> None:
    e.propose_amendment(COACHEE, clock(), new_end=day(140))
    assert keys(due(e, CONTRACT_END)) == ["contract_end:2026-05-05"]  # not yet agreed by all
    e.agree_amendment(SPONSOR, clock())
    e.agree_amendment(COACH, clock())
    assert due(e, CONTRACT_END) == []
    assert due(e, end_of(day(140))) == [(f"contract_end:{day(140)}", end_of(day(140)))]


@pytest.mark.parametrize("milestone", ["formalised", "closing", "closed"])
def test_outside_accompaniment_nothing_falls_due(milestone: str) -> None:
    e = engagement_in(milestone, Clock())
    assert due(e, CONTRACT_END + timedelta(days=400)) == []


# --- intersession actions ---------------------------------------------------------------------


def test_a_committed_action_falls_due_after_its_due_day(e: Engagement, clock: Clock) -> None:
    e.commit_action(COACHEE, clock(), sealed("pair on incidents"), day(30))
    assert due(e, end_of(day(30)) - SECOND) == []
    assert due(e, end_of(day(30))) == [("action:A1", end_of(day(30)))]


def test_done_dropped_and_undated_actions_never_fall_due(e: Engagement, clock: Clock) -> None:
    done = e.commit_action(COACHEE, clock(), sealed("a"), day(30))
    dropped = e.commit_action(COACHEE, clock(), sealed("b"), day(30))
    e.commit_action(COACHEE, clock(), sealed("c"))
    e.complete_action(COACHEE, clock(), done)
    e.drop_action(COACH, clock(), dropped)
    assert due(e, end_of(day(60))) == []


# --- quarterly review (team coaching) ---------------------------------------------------------


def test_a_team_is_reviewed_every_quarter_of_accompaniment(clock: Clock) -> None:
    e = engagement_in("accompaniment.in_progress", clock, team=True)
    assert e.accompaniment_started_at == T0
    assert due(e, T0 + QUARTER - SECOND) == []
    assert due(e, T0 + QUARTER) == [("quarterly_review:1", T0 + QUARTER)]


def test_a_quarterly_review_held_meets_the_next_quarter(clock: Clock) -> None:
    e = engagement_in("accompaniment.in_progress", clock, team=True)
    e.hold_quarterly_review(SPONSOR, clock(), day(80), QuarterlyDecisions(False))
    assert due(e, T0 + QUARTER) == []
    assert [k for k in keys(due(e, T0 + 2 * QUARTER)) if k.startswith("quarterly")] == [
        "quarterly_review:2"]


def test_a_person_has_no_quarterly_review(e: Engagement) -> None:
    assert "quarterly_review:1" not in keys(due(e, T0 + QUARTER))


@given(days=st.integers(0, 800))
def test_one_quarterly_review_falls_due_per_full_quarter(days: int) -> None:
    e = engagement_in("accompaniment.in_progress", Clock(), team=True)
    quarterly = [k for k in keys(due(e, T0 + timedelta(days=days))) if k.startswith("quarterly")]
    assert len(quarterly) == days // 91


# --- recorded once ----------------------------------------------------------------------------


def test_a_missed_deadline_is_recorded_once_and_is_then_no_longer_due(e: Engagement, clock: Clock) -> None:
    e.commit_action(COACHEE, clock(), sealed("a"), day(30))
    now = CONTRACT_END
    found = due(e, now)
    assert keys(found) == ["action:A1", "contract_end:2026-05-05"]
    for key, due_at in found:
        e.miss_deadline(SYSTEM, now, key, due_at)
    assert e.missed == {"action:A1": end_of(day(30)), "contract_end:2026-05-05": CONTRACT_END}
    assert due(e, now) == [] and due(e, now + timedelta(days=30)) == []
    assert e.state == "accompaniment.in_progress"
    err = refused(e, RuleViolation, lambda: e.miss_deadline(SYSTEM, now, "action:A1", end_of(day(30))))
    assert err.problems == ("action:A1 was already recorded as missed",)


def test_only_the_deadline_clock_records_a_missed_deadline(e: Engagement) -> None:
    err = refused(e, NotPermitted, lambda: e.miss_deadline(COACH, CONTRACT_END, "contract_end:2026-05-05",
                                                          CONTRACT_END))
    assert err.allowed == ("system",)


# --- cohorts: experiment feedback window ------------------------------------------------------


@pytest.fixture
def cohort(clock: Clock) -> Cohort:
    return cohort_in("accompaniment", clock)


def ended_experiment(c: Cohort, clock: Clock, key: str = "E1") -> None:
    """Start and end ``key`` at the clock's instant (T0): its feedback window opens then."""
    c.start_experiment(M1, clock(), key)
    c.end_experiment(M1, clock(), key)


def test_feedback_falls_due_once_the_window_has_passed(cohort: Cohort, clock: Clock) -> None:
    ended_experiment(cohort, clock)
    window_end = T0 + timedelta(hours=72)
    assert cohort.due_deadlines(window_end) == []
    assert cohort.due_deadlines(window_end + SECOND) == [("feedback:E1", window_end)]


def test_feedback_given_meets_its_deadline(cohort: Cohort, clock: Clock) -> None:
    ended_experiment(cohort, clock)
    cohort.give_feedback(M1, clock.advance(hours=100), "E1", sealed())
    assert "feedback:E1" not in keys(cohort.due_deadlines(T0 + timedelta(days=30)))


def test_the_feedback_window_is_the_cohorts_own_rule(clock: Clock) -> None:
    c = cohort_in("accompaniment", clock, rules=CohortRules(feedback_hours=24))
    ended_experiment(c, clock)
    assert c.due_deadlines(T0 + timedelta(hours=24, seconds=1)) == [("feedback:E1", T0 + timedelta(hours=24))]


def test_feedback_stays_due_while_closing_but_not_after_the_end(cohort: Cohort, clock: Clock) -> None:
    ended_experiment(cohort, clock)
    cohort.begin_closing(COHORT_COACH, clock())
    later = T0 + timedelta(days=60)
    assert keys(cohort.due_deadlines(later)) == ["feedback:E1"]
    cohort.abandon(COHORT_COACH, clock())
    assert cohort.due_deadlines(later) == []


# --- cohorts: the first cycle's weeks ---------------------------------------------------------


def test_each_week_of_the_cycle_falls_due_after_it_ends(cohort: Cohort) -> None:
    week = timedelta(weeks=1)
    assert cohort.due_deadlines(T0 + week) == []
    assert cohort.due_deadlines(T0 + week + SECOND) == [("cycle_week:1", T0 + week)]
    assert keys(cohort.due_deadlines(T0 + 10 * week)) == [f"cycle_week:{n}" for n in range(1, 5)]


def test_a_completed_week_is_not_due(cohort: Cohort, clock: Clock) -> None:
    cohort.complete_checkpoint(M1, clock(), 2)
    assert keys(cohort.due_deadlines(T0 + timedelta(weeks=3, seconds=1))) == ["cycle_week:1", "cycle_week:3"]


def test_the_cycle_length_is_the_cohorts_own_rule(clock: Clock) -> None:
    c = cohort_in("accompaniment", clock, rules=CohortRules(cycle_weeks=2))
    assert keys(c.due_deadlines(T0 + timedelta(weeks=10))) == ["cycle_week:1", "cycle_week:2"]


def test_no_cycle_week_falls_due_before_accompaniment_or_while_closing(clock: Clock) -> None:
    assert cohort_in("framed", clock).due_deadlines(T0 + timedelta(weeks=10)) == []
    assert cohort_in("closing", clock).due_deadlines(T0 + timedelta(weeks=10)) == []


def test_a_missed_cycle_week_is_recorded_once(cohort: Cohort, clock: Clock) -> None:
    now = T0 + timedelta(weeks=1, seconds=1)
    [(key, due_at)] = cohort.due_deadlines(now)
    cohort.miss_deadline(SYSTEM, now, key, due_at)
    assert cohort.due_deadlines(now) == [] and cohort.missed == {"cycle_week:1": due_at}
    refused(cohort, RuleViolation, lambda: cohort.miss_deadline(SYSTEM, now, key, due_at))


def test_the_cycle_status_says_done_done_late_late_and_due(cohort: Cohort, clock: Clock) -> None:
    cohort.complete_checkpoint(M1, T0 + timedelta(days=3), 1)
    cohort.complete_checkpoint(M1, T0 + timedelta(days=15), 2)  # week 2 ended on day 14
    rows = cycle_status(cohort, T0 + timedelta(days=16))
    assert [r["status"] for r in rows] == ["done", "done late", "due", "due"]
    assert [r["status"] for r in cycle_status(cohort, T0 + timedelta(days=22))][2:] == ["late", "due"]
    assert rows[0]["due_at"] == (T0 + timedelta(weeks=1)).isoformat()


def test_before_accompaniment_the_cycle_has_not_started(clock: Clock) -> None:
    rows = cycle_status(cohort_in("framed", clock), T0 + timedelta(weeks=10))
    assert {r["status"] for r in rows} == {"not started"} and {r["due_at"] for r in rows} == {None}
