"""Cohort rules: framing, membership bounds, rotating ritual roles, decisions, experiments, cycle."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engagement_tracker.domain import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import CohortRules
from tests.support import CohortCast, frame_cohort
from tests.unit.test_engagement_rules import refused


@pytest.fixture
def cc(tracker) -> CohortCast:  # type: ignore[no-untyped-def]
    return CohortCast.register(tracker)


def ritual(tracker, cid, actor, kind, f, s, k, day=date(2026, 2, 2)):  # type: ignore[no-untyped-def]
    return tracker.cohorts.hold_ritual(cid, actor, kind, day, f.party, s.party, k.party, "checklist", "artefact").value


def test_accompaniment_needs_five_members_and_the_whole_frame(tracker, cc) -> None:
    c = tracker.cohorts
    cid = c.open(cc.coach, "Supply Chain", "Cohort A").value
    err = refused(tracker, RuleViolation, lambda: c.start_accompaniment(cid, cc.coach).value)
    assert err.problems == (
        "the cohort has 0 members; it needs 5 to 8",
        "no process scope is set",
        "no objective tied to a customer result is set",
        "no key result is defined",
        "0 of 3 metrics are defined",
        "0 of 2 experiments are chosen",
    )
    cid = frame_cohort(tracker, cc, members=4, start=False)
    err = refused(tracker, RuleViolation, lambda: c.start_accompaniment(cid, cc.coach).value)
    assert err.problems == ("the cohort has 4 members; it needs 5 to 8",)
    c.add_member(cid, cc.coach, cc.members[4].party)
    c.start_accompaniment(cid, cc.coach)
    assert c.get(cid).state == "accompaniment"


def test_a_ninth_member_is_refused(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc, members=8)
    err = refused(tracker, RuleViolation, lambda: tracker.cohorts.add_member(cid, cc.coach, cc.members[8].party).value)
    assert "the cohort has 8 members; the limit is 8" in str(err)


def test_members_never_fall_below_five_in_accompaniment(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc, members=6)
    m = cc.members
    tracker.cohorts.remove_member(cid, m[5], m[5].party)  # a member leaves
    err = refused(tracker, RuleViolation, lambda: tracker.cohorts.remove_member(cid, m[4], m[4].party).value)
    assert "would keep 4 members; accompaniment needs at least 5" in str(err)


def test_a_member_may_leave_but_not_remove_another(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc, members=7)
    m = cc.members
    refused(tracker, NotPermitted, lambda: tracker.cohorts.remove_member(cid, m[0], m[1].party).value)


def test_the_configured_numbers_replace_the_seeds(tracker, cc) -> None:
    c = tracker.cohorts
    cid = c.open(cc.coach, "Back office", "Small cohort", CohortRules(min_members=3, max_members=4, metrics=1,
                                                                        experiments=1, feedback_hours=24)).value
    for m in cc.members[:4]:
        c.add_member(cid, cc.coach, m.party)
    refused(tracker, RuleViolation, lambda: c.add_member(cid, cc.coach, cc.members[4].party).value)


def test_a_ritual_with_two_roles_held_by_one_member_is_refused(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    m = cc.members
    err = refused(tracker, RuleViolation, lambda: ritual(tracker, cid, m[0], "weekly_standup", m[0], m[0], m[1]))
    assert "three distinct members" in str(err)
    assert err.state == "accompaniment"


def test_a_non_member_cannot_hold_a_ritual_role(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    m = cc.members
    err = refused(tracker, RuleViolation, lambda: ritual(tracker, cid, m[0], "weekly_standup", m[0], m[1], m[8]))
    assert "is not a member of this cohort" in str(err)


def test_roles_rotate_between_consecutive_rituals_of_a_kind(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    m = cc.members
    ritual(tracker, cid, m[0], "weekly_standup", m[0], m[1], m[2])
    err = refused(tracker, RuleViolation, lambda: ritual(tracker, cid, m[0], "weekly_standup", m[0], m[3], m[4]))
    assert "was facilitator at the previous weekly_standup" in str(err)
    # another kind of ritual has its own rotation
    ritual(tracker, cid, m[0], "metrics_review", m[0], m[1], m[2])
    # the same people in other roles is rotation
    ritual(tracker, cid, m[0], "weekly_standup", m[1], m[2], m[0])


def test_rotation_yields_when_no_other_member_could_take_the_role(tracker, cc) -> None:
    c = tracker.cohorts
    cid = c.open(cc.coach, "Ops", "Trio", CohortRules(min_members=3, max_members=3, metrics=1, experiments=1)).value
    m = cc.members
    for member in m[:3]:
        c.add_member(cid, cc.coach, member.party)
    c.set_scope(cid, m[0], "scope")
    c.set_objective(cid, m[0], "objective", "customer result")
    c.add_key_result(cid, m[0], "kr", date(2026, 6, 1))
    c.add_metric(cid, m[0], "lead time")
    c.plan_experiment(cid, m[0], 1, "hypothesis")
    c.start_accompaniment(cid, cc.coach)
    ritual(tracker, cid, m[0], "weekly_standup", m[0], m[1], m[2])
    ritual(tracker, cid, m[0], "weekly_standup", m[0], m[1], m[2])  # nobody else could
    assert c.get(cid).rituals_held == len(c.record(cid).rituals) == 2


def test_a_decision_needs_an_owner_a_data_point_and_a_date(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    day = date(2026, 2, 3)
    err = refused(tracker, InvalidInput, lambda: c.record_decision(cid, m[0], "go", "M1", 10, day, None).value)
    assert "a decision needs a named owner" in str(err)
    err = refused(tracker, InvalidInput, lambda: c.record_decision(cid, m[0], "go", None, None, day, m[0].party).value)
    assert "needs a data point" in str(err)
    refused(tracker, InvalidInput, lambda: c.record_decision(cid, m[0], "go", "M1", 10, None, m[0].party).value)
    refused(tracker, InvalidInput, lambda: c.record_decision(cid, m[0], "go", "M9", 10, day, m[0].party).value)
    err = refused(tracker, RuleViolation, lambda: c.record_decision(cid, m[0], "go", "M1", 10, day, m[8].party).value)
    assert "owner" in str(err) and "is not a member" in str(err)
    assert c.record_decision(cid, m[0], "go", "M1", 10, day, m[1].party).value == 1


def test_feedback_on_an_experiment_that_never_ran_is_refused(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    err = refused(tracker, RuleViolation, lambda: c.give_feedback(cid, m[0], "E1", "it worked").value)
    assert "experiment E1 never ran" in str(err)
    c.start_experiment(cid, m[0], "E1")
    refused(tracker, RuleViolation, lambda: c.give_feedback(cid, m[0], "E1", "too early").value)
    refused(tracker, InvalidInput, lambda: c.give_feedback(cid, m[0], "E7", "no such").value)


def test_feedback_after_72_hours_is_accepted_but_late(tracker, cc, clock) -> None:
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    for key in ("E1", "E2"):
        c.start_experiment(cid, m[0], key)
        c.end_experiment(cid, m[0], key)
    assert c.give_feedback(cid, m[1], "E1", "on time").value is False
    clock.now += timedelta(hours=73)
    assert c.give_feedback(cid, m[1], "E2", "late").value is True
    view = c.view(cid, m[0])
    assert [x["feedback_late"] for x in view["experiments"]] == [False, True]


def test_the_first_cycle_shows_done_due_and_late(tracker, cc, clock) -> None:
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    started = c.get(cid).cycle_started_at
    c.complete_checkpoint(cid, m[0], 1)
    refused(tracker, RuleViolation, lambda: c.complete_checkpoint(cid, m[0], 1).value)
    refused(tracker, InvalidInput, lambda: c.complete_checkpoint(cid, m[0], 5).value)
    statuses = [w["status"] for w in c.view(cid, m[0], now=started + timedelta(days=15))["cycle"]]
    assert statuses == ["done", "late", "due", "due"]


def test_the_coach_closes_only_after_synthesis_sharing_and_scale_up(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    c, m = tracker.cohorts, cc.members
    refused(tracker, StepNotAllowed, lambda: c.close(cid, cc.coach).value)
    c.begin_closing(cid, cc.coach)
    err = refused(tracker, RuleViolation, lambda: c.close(cid, cc.coach).value)
    assert len(err.problems) == 3
    c.record_closing_synthesis(cid, m[0], "lead time down 20%")
    c.record_sharing(cid, m[0], "ops committee")
    c.prepare_scale_up(cid, m[0], "two more sites")
    c.close(cid, cc.coach)
    assert c.get(cid).state == "closed"


def test_outsiders_neither_act_nor_read(tracker, cc) -> None:
    cid = frame_cohort(tracker, cc)
    outsider = cc.members[8]
    refused(tracker, NotPermitted, lambda: tracker.cohorts.set_scope(cid, outsider, "x").value)
    with pytest.raises(NotPermitted):
        tracker.cohorts.view(cid, outsider)
    view = tracker.cohorts.view(cid, cc.members[0])
    assert view["objective"] == "cut order lead time" and len(view["member_list"]) == 5
