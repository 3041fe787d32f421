"""Team coaching capacity, quarterly reviews, deadlines (tick) and learning dips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engagement_tracker.domain import Actor, CapacityExceeded, Role, RuleViolation
from engagement_tracker.domain.coach_load import CapacityPolicy
from engagement_tracker.domain.errors import InvalidInput
from tests.support import START, Cast, drive, event_count, granted, new_tracker, open_engagement, tick_at
from tests.unit.test_engagement_rules import refused


def team_engagement(app, coach: Actor):  # type: ignore[no-untyped-def]
    team = app.parties.register("team", "Team X").value
    sponsor = app.parties.register("person", "Manager Y").value
    return app.engagements.open(coach, team, sponsor, "line_manager", "Digital Factory").value


def test_above_three_teams_warns_and_above_four_refuses(tracker, cast) -> None:
    coach = cast.coach
    for _ in range(3):
        team_engagement(tracker, coach)
    assert tracker.engagements.coach_load(coach)["status"] == "ok"
    team_engagement(tracker, coach)
    load = tracker.engagements.coach_load(coach)
    assert (load["active"], load["status"], load["warnings_recorded"]) == (4, "at the limit", 1)
    team = tracker.parties.register("team", "Team Z").value
    sponsor = tracker.parties.register("person", "Manager Z").value
    err = refused(tracker, CapacityExceeded,
                  lambda: tracker.engagements.open(coach, team, sponsor, "line_manager", "Digital Factory").value)
    assert "already accompanies 4 teams; the limit is 4" in str(err)
    assert isinstance(err, RuleViolation)


def test_individual_coachees_do_not_count(tracker, cast) -> None:
    for _ in range(5):
        open_engagement(tracker, cast)
    assert tracker.engagements.coach_load(cast.coach)["active"] == 0


def test_an_ended_team_engagement_frees_its_slot(tracker, cast) -> None:
    ids = [team_engagement(tracker, cast.coach) for _ in range(4)]
    tracker.engagements.abandon(ids[0], cast.coach, "other")
    assert tracker.engagements.coach_load(cast.coach)["active"] == 3
    team_engagement(tracker, cast.coach)  # the freed slot is usable
    assert tracker.engagements.coach_load(cast.coach)["active"] == 4


def test_the_limits_are_configurable(clock) -> None:
    app = new_tracker("memory:", clock, ETRACK_TEAMS_WARN_ABOVE="1", ETRACK_TEAMS_REFUSE_ABOVE="2")
    coach = granted(app, Role.COACH, "Coach")
    team_engagement(app, coach)
    team_engagement(app, coach)
    with pytest.raises(CapacityExceeded, match="the limit is 2"):
        team_engagement(app, coach)
    with pytest.raises(InvalidInput):
        CapacityPolicy(warn_above=5, refuse_above=4)


def test_quarterly_reviews_are_for_team_engagements(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    err = refused(tracker, RuleViolation,
                  lambda: tracker.engagements.hold_quarterly_review(eid, cast.coach, START + timedelta(days=90), True).value)
    assert "quarterly reviews are for team coaching" in str(err)


def test_tick_records_each_missed_deadline_once(tracker) -> None:
    cast = Cast.register(tracker, team=True)
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.commit_action(eid, cast.coachee, "pair on incidents", START + timedelta(days=30))
    started = tracker.engagements.get(eid).accompaniment_started_at
    assert tracker.tick(started + timedelta(days=1)).value == []

    later = datetime(2026, 6, 1, tzinfo=UTC)
    first = tick_at(tracker, later)
    assert sorted(r["deadline"] for r in first) == [
        "action:A1", "contract_end:2026-05-05", "off_track:2026-01-01", "quarterly_review:1"]
    before = event_count(tracker)
    assert tracker.tick(later).value == [] and tracker.tick(later + timedelta(minutes=5)).value == []
    assert event_count(tracker) == before
    tracker.engagements.hold_quarterly_review(eid, cast.sponsor, later.date(), False, coaches_added=1)
    assert [r["deadline"] for r in tracker.tick(started + timedelta(days=183)).value] == ["quarterly_review:2"]
    view = tracker.engagements.view(eid, cast.coach)
    assert set(view["missed_deadlines"]) == {"action:A1", "contract_end:2026-05-05", "off_track:2026-01-01",
                                             "quarterly_review:1", "quarterly_review:2"}
    timeline = tracker.engagements.timeline(eid, cast.coach)
    assert {row["role"] for row in timeline if row["event"] == "DeadlineMissed"} == {"system"}


def test_tick_returns_its_outcome_and_its_command_id_marks_what_it_recorded(tracker) -> None:
    from engagement_tracker.domain.command_ids import command_id_of

    cast = Cast.register(tracker, team=True)
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    at = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    done = tracker.tick(at)
    assert (done.status, done.command_id) == ("recorded", "tick:20260601T093000.000000Z")
    assert done.value and {r["id"] for r in done.value} == {str(eid)}
    missed = [e for e in tracker.events.get(eid) if type(e).__name__ == "DeadlineMissed"]
    assert len(missed) == len(done.value)
    assert {command_id_of(e) for e in missed} == {done.command_id}
    again = tracker.tick(at)
    assert (again.status, again.value, again.command_id) == ("already recorded", [], done.command_id)
    assert "already recorded" in again.describe()


def test_a_completed_action_is_not_overdue(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    key = tracker.engagements.commit_action(eid, cast.coachee, "do it", START + timedelta(days=30)).value
    tracker.engagements.complete_action(eid, cast.coachee, key)
    assert [r["deadline"] for r in tracker.tick(datetime(2026, 3, 1, tzinfo=UTC)).value] == ["off_track:2026-01-01"]


def test_cohort_deadlines_feedback_and_cycle_weeks(tracker) -> None:
    from tests.support import CohortCast, frame_cohort

    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    c.start_experiment(cid, m[0], "E1")
    c.end_experiment(cid, m[0], "E1")
    ended = c.get(cid).experiments["E1"].ended_at
    c.complete_checkpoint(cid, m[0], 1)
    assert tracker.tick(ended + timedelta(hours=71)).value == []
    rows = tracker.tick(ended + timedelta(days=15)).value
    assert sorted(r["deadline"] for r in rows) == ["cycle_week:2", "feedback:E1"]
    assert tracker.tick(ended + timedelta(days=15)).value == []


def test_a_dip_during_accompaniment_is_a_learning_dip_not_a_failure(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    keys = drive(tracker, cast, eid, "accompaniment.in_progress")
    i1 = keys["indicators"][0]  # baseline 48 hours, target 24: lower is better
    tracker.engagements.propose_disclosure(eid, cast.coachee, ["indicators"])
    tracker.engagements.accept_disclosure(eid, cast.sponsor)
    for n, value in enumerate([40, 44, 30, 20]):
        tracker.engagements.measure_indicator(eid, cast.coach, i1, value, START + timedelta(days=20 + n))
    view = tracker.engagements.view(eid, cast.sponsor)
    indicator = view["indicators"][0]
    assert [m["status"] for m in indicator["measurements"]] == ["progress", "learning_dip", "progress", "reached"]
    assert indicator["trend"] == "reached"
    assert "failure" not in repr(view)
