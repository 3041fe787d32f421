"""Cohort, phase by phase: framing and membership, rituals, decisions, experiments, checkpoints, closing."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, CohortRules, DataPoint
from engagement_tracker.domain.vocabulary import ExperimentStatus, PracticeStatus, Role
from tests.unit.aggregates.builders import (
    COHORT_COACH,
    COHORT_ID,
    OUTSIDER,
    PEERS,
    T0,
    Clock,
    cohort_in,
    cohort_record_of,
    frame_cohort,
    new_cohort,
    refused,
    sealed,
)

A, B, C, D, E = (p.party for p in PEERS[:5])
M1, M2 = PEERS[0], PEERS[1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cohort(clock: Clock) -> Cohort:
    """Five peers, framed, in accompaniment."""
    return cohort_in("accompaniment", clock)


def ritual(c: Cohort, clock: Clock, facilitator: UUID, scribe: UUID, keeper: UUID, kind: str = "weekly_standup") -> int:
    return c.hold_ritual(M1, clock(), kind, date(2026, 2, 2), facilitator, scribe, keeper, "checklist", sealed("notes"))


# --- framing ----------------------------------------------------------------------------------


def test_a_coach_opens_a_cohort_in_framing_with_the_default_rules(clock: Clock) -> None:
    c = new_cohort(clock)
    assert (c.state, c.coach, c.rules, c.members) == ("framing", COHORT_COACH.party, CohortRules(), {})
    with pytest.raises(NotPermitted):
        Cohort.open(COHORT_ID, M1, clock(), "Supply Chain", sealed())
    with pytest.raises(InvalidInput) as info:
        Cohort.open(COHORT_ID, COHORT_COACH, clock(), "Supply Chain", "Cohort in clear")  # type: ignore[arg-type]
    assert info.value.field == "name"


def test_start_is_refused_listing_every_framing_gap(clock: Clock) -> None:
    c = new_cohort(clock)
    err = refused(c, RuleViolation, lambda: c.start_accompaniment(COHORT_COACH, clock()))
    assert err.problems == (
        "the cohort has 0 members; it needs 5 to 8",
        "no process scope is set",
        "no objective tied to a customer result is set",
        "no key result is defined",
        "0 of 3 metrics are defined",
        "0 of 2 experiments are chosen",
    )


def test_start_with_four_members_lists_only_the_membership_gap(clock: Clock) -> None:
    c = cohort_in("framed", clock, members=4)
    err = refused(c, RuleViolation, lambda: c.start_accompaniment(COHORT_COACH, clock()))
    assert err.problems == ("the cohort has 4 members; it needs 5 to 8",)
    c.add_member(COHORT_COACH, clock(), PEERS[4].party)
    c.start_accompaniment(COHORT_COACH, clock())
    assert (c.state, c.cycle_started_at) == ("accompaniment", clock())


def test_a_key_result_needs_the_objective_first(clock: Clock) -> None:
    c = cohort_in("framing", clock)
    err = refused(c, RuleViolation, lambda: c.add_key_result(M1, clock(), sealed(), date(2026, 6, 30)))
    assert err.problems == ("set the objective first",)


def test_an_experiment_contributes_to_a_known_key_result(clock: Clock) -> None:
    c = cohort_in("framed", clock)
    err = refused(c, InvalidInput, lambda: c.plan_experiment(M1, clock(), 2, sealed()))
    assert err.field == "key_result" and "known: 1" in err.problem
    assert c.plan_experiment(M1, clock(), 1, sealed()) == "E3"


def test_scope_and_objective_are_set_in_framing_only(cohort: Cohort, clock: Clock) -> None:
    err = refused(cohort, StepNotAllowed, lambda: cohort.set_scope(M1, clock(), sealed()))
    assert err.state == "accompaniment"


# --- membership -------------------------------------------------------------------------------


def test_membership_is_capped_at_the_maximum(clock: Clock) -> None:
    c = cohort_in("framing", clock, members=8)
    err = refused(c, RuleViolation, lambda: c.add_member(COHORT_COACH, clock(), PEERS[8].party))
    assert err.problems == ("the cohort has 8 members; the limit is 8",)


def test_accompaniment_keeps_at_least_the_minimum(cohort: Cohort, clock: Clock) -> None:
    err = refused(cohort, RuleViolation, lambda: cohort.remove_member(COHORT_COACH, clock(), A))
    assert err.problems == ("the cohort would keep 4 members; accompaniment needs at least 5",)


def test_a_member_leaves_freely_during_framing(clock: Clock) -> None:
    c = cohort_in("framing", clock)
    c.remove_member(M1, clock(), M1.party)
    assert str(M1.party) not in c.members and c.former_members == [str(M1.party)]


def test_a_member_may_leave_but_not_remove_another(clock: Clock) -> None:
    c = cohort_in("framing", clock)
    err = refused(c, NotPermitted, lambda: c.remove_member(M1, clock(), B))
    assert err.allowed == ("coach",)


def test_the_coach_and_existing_members_are_not_added(clock: Clock) -> None:
    c = cohort_in("framing", clock)
    assert "already a member" in refused(c, RuleViolation, lambda: c.add_member(COHORT_COACH, clock(), A)).problems[0]
    err = refused(c, RuleViolation, lambda: c.add_member(COHORT_COACH, clock(), COHORT_COACH.party))
    assert err.problems == ("the cohort's coach is not one of its peers",)


def test_a_member_of_no_cohort_may_not_act(clock: Clock) -> None:
    c = cohort_in("framing", clock)
    err = refused(c, NotPermitted, lambda: c.set_scope(OUTSIDER, clock(), sealed()))
    assert "is not this cohort's member" in err.reason


@given(low=st.integers(3, 8), span=st.integers(0, 4))
def test_membership_stays_within_the_rules_bounds(low: int, span: int) -> None:
    rules = CohortRules(min_members=low, max_members=low + span)
    peers = [UUID(int=500 + n) for n in range(rules.max_members + 1)]
    clock = Clock()
    c = new_cohort(clock, rules)
    for p in peers[: rules.max_members]:
        c.add_member(COHORT_COACH, clock(), p)
    refused(c, RuleViolation, lambda: c.add_member(COHORT_COACH, clock(), peers[-1]))
    frame_cohort(c, clock)
    c.start_accompaniment(COHORT_COACH, clock())
    for p in peers[: rules.max_members - rules.min_members]:
        c.remove_member(COHORT_COACH, clock(), p)
    assert len(c.members) == rules.min_members
    refused(c, RuleViolation, lambda: c.remove_member(COHORT_COACH, clock(), peers[rules.max_members - 1]))


# --- rituals ----------------------------------------------------------------------------------


def test_a_ritual_is_held_by_three_distinct_members(cohort: Cohort, clock: Clock) -> None:
    assert ritual(cohort, clock, A, B, C) == 1
    first = cohort_record_of(cohort).rituals[0]
    assert (first.facilitator, first.metrics_keeper) == (A, C) and cohort.ritual_keepers == [str(C)]
    err = refused(cohort, RuleViolation, lambda: ritual(cohort, clock, D, D, E))
    assert err.problems == ("facilitator, scribe and metrics keeper must be three distinct members",)


def test_a_ritual_role_is_held_by_a_member(cohort: Cohort, clock: Clock) -> None:
    err = refused(cohort, RuleViolation, lambda: ritual(cohort, clock, A, B, OUTSIDER.party))
    assert err.problems == (f"metrics_keeper {OUTSIDER.party} is not a member of this cohort",)


def test_roles_rotate_between_consecutive_rituals_of_a_kind(cohort: Cohort, clock: Clock) -> None:
    ritual(cohort, clock, A, B, C)
    err = refused(cohort, RuleViolation, lambda: ritual(cohort, clock, A, D, E))
    assert len(err.problems) == 1 and f"{A} was facilitator at the previous weekly_standup" in err.problems[0]
    assert ritual(cohort, clock, B, C, A) == 2  # everyone changes role


def test_rotation_is_per_kind_of_ritual(cohort: Cohort, clock: Clock) -> None:
    ritual(cohort, clock, A, B, C)
    assert ritual(cohort, clock, A, B, C, kind="metrics_review") == 2


def test_with_no_free_member_a_role_may_be_held_again(clock: Clock) -> None:
    c = cohort_in("accompaniment", clock, members=3, rules=CohortRules(min_members=3, max_members=3))
    ritual(c, clock, A, B, C)
    assert ritual(c, clock, A, C, B) == 2


def test_rituals_are_held_during_accompaniment_only(clock: Clock) -> None:
    c = cohort_in("framed", clock)
    err = refused(c, StepNotAllowed, lambda: ritual(c, clock, A, B, C))
    assert err.state == "framing" and "start_accompaniment" in err.allowed


# --- decisions --------------------------------------------------------------------------------


def test_a_decision_rests_on_a_data_point_a_date_and_a_member_owner(cohort: Cohort, clock: Clock) -> None:
    n = cohort.record_decision(M1, clock(), sealed("adopt it"), DataPoint("M1", 71.5), date(2026, 2, 3), B)
    (decision,) = cohort_record_of(cohort).decisions
    assert n == 1 == cohort.decisions_recorded and decision.owner == B and decision.data_point.value == 71.5


@pytest.mark.parametrize(
    ("data_point", "decided_on", "owner", "field"),
    [(None, date(2026, 2, 3), B, "data_point"), (DataPoint("M9", 1.0), date(2026, 2, 3), B, "data_point"),
     (DataPoint("M1", 1.0), None, B, "decided_on"), (DataPoint("M1", 1.0), date(2026, 2, 3), None, "owner"),
     (DataPoint("M1", float("inf")), date(2026, 2, 3), B, "data_point.value")],
)
def test_a_decision_without_its_evidence_is_refused(cohort: Cohort, clock: Clock, data_point, decided_on, owner,  # type: ignore[no-untyped-def]
                                                    field: str) -> None:
    err = refused(cohort, InvalidInput,
                  lambda: cohort.record_decision(M1, clock(), sealed(), data_point, decided_on, owner))
    assert err.field == field


def test_a_decisions_owner_is_a_member(cohort: Cohort, clock: Clock) -> None:
    err = refused(cohort, RuleViolation, lambda: cohort.record_decision(
        M1, clock(), sealed(), DataPoint("M1", 1.0), date(2026, 2, 3), COHORT_COACH.party))
    assert "is not a member of this cohort" in err.problems[0]


# --- experiments and feedback -----------------------------------------------------------------


def test_an_experiment_runs_ends_then_gets_feedback_in_time(cohort: Cohort, clock: Clock) -> None:
    cohort.start_experiment(M1, clock(), "E1")
    assert cohort.experiments["E1"].status is ExperimentStatus.RUNNING
    ended = clock.advance(days=7)
    cohort.end_experiment(M2, ended, "E1")
    assert (cohort.experiments["E1"].status, cohort.experiments["E1"].ended_at) == (ExperimentStatus.ENDED, ended)
    assert cohort.give_feedback(M2, clock.advance(hours=72), "E1", sealed("it worked")) is False
    assert cohort.experiments["E1"].feedback_at == clock() and cohort.feedback["E1"] == sealed("it worked")


def test_feedback_after_the_window_is_recorded_as_late(cohort: Cohort, clock: Clock) -> None:
    cohort.start_experiment(M1, clock(), "E2")
    cohort.end_experiment(M1, clock(), "E2")
    assert cohort.give_feedback(M1, clock.advance(hours=72, seconds=1), "E2", sealed()) is True
    assert cohort.pending_events[-1].late is True  # type: ignore[attr-defined]


def test_feedback_is_given_once(cohort: Cohort, clock: Clock) -> None:
    cohort.start_experiment(M1, clock(), "E1")
    cohort.end_experiment(M1, clock(), "E1")
    cohort.give_feedback(M1, clock(), "E1", sealed())
    err = refused(cohort, RuleViolation, lambda: cohort.give_feedback(M2, clock(), "E1", sealed()))
    assert err.problems == ("experiment E1 already has feedback",)


def test_feedback_needs_an_ended_experiment(cohort: Cohort, clock: Clock) -> None:
    err = refused(cohort, RuleViolation, lambda: cohort.give_feedback(M1, clock(), "E1", sealed()))
    assert err.problems == ("experiment E1 never ran: start and end it before feedback",)
    cohort.start_experiment(M1, clock(), "E1")
    err = refused(cohort, RuleViolation, lambda: cohort.give_feedback(M1, clock(), "E1", sealed()))
    assert err.problems == ("experiment E1 is running; give feedback needs it ended",)


def test_experiments_move_forward_only(cohort: Cohort, clock: Clock) -> None:
    refused(cohort, RuleViolation, lambda: cohort.end_experiment(M1, clock(), "E1"))
    cohort.start_experiment(M1, clock(), "E1")
    err = refused(cohort, RuleViolation, lambda: cohort.start_experiment(M1, clock(), "E1"))
    assert err.problems == ("experiment E1 is running; start experiment needs it planned",)
    assert refused(cohort, InvalidInput, lambda: cohort.start_experiment(M1, clock(), "E9")).field == "experiment"


def test_the_playbook_standardises_or_abandons_a_practice(cohort: Cohort, clock: Clock) -> None:
    cohort.update_playbook(M1, clock(), "pick-list-review", "standardised", sealed("sites with a WMS"))
    assert cohort.playbook["pick-list-review"].status is PracticeStatus.STANDARDISED
    assert refused(cohort, InvalidInput, lambda: cohort.update_playbook(
        M1, clock(), "a practice with spaces", "abandoned", sealed())).field == "practice"


# --- checkpoints ------------------------------------------------------------------------------


def test_each_week_of_the_cycle_is_checked_once(cohort: Cohort, clock: Clock) -> None:
    cohort.complete_checkpoint(M1, clock(), 1)
    assert cohort.checkpoints == {"1": clock()}
    err = refused(cohort, RuleViolation, lambda: cohort.complete_checkpoint(M2, clock(), 1))
    assert err.problems == ("week 1 is already done",)


@pytest.mark.parametrize("week", [0, 5])
def test_a_checkpoint_falls_within_the_cycle(cohort: Cohort, clock: Clock, week: int) -> None:
    err = refused(cohort, InvalidInput, lambda: cohort.complete_checkpoint(M1, clock(), week))
    assert err.field == "week" and "1..4" in err.problem


# --- closing ----------------------------------------------------------------------------------


def test_close_is_refused_listing_the_closing_items_missing(cohort: Cohort, clock: Clock) -> None:
    cohort.begin_closing(COHORT_COACH, clock())
    cohort.record_sharing(M1, clock(), sealed("other sites"))
    err = refused(cohort, RuleViolation, lambda: cohort.close(COHORT_COACH, clock()))
    assert err.problems == ("the synthesis is not recorded", "the scale-up preparation is not recorded")


def test_with_every_closing_item_the_coach_closes_the_cohort(clock: Clock) -> None:
    c = cohort_in("closing", clock)
    refused(c, NotPermitted, lambda: c.close(M1, clock()))
    c.close(COHORT_COACH, clock())
    assert (c.state, c.is_ended, c.allowed_steps()) == ("closed", True, [])


def test_feedback_is_still_given_while_closing(cohort: Cohort, clock: Clock) -> None:
    cohort.start_experiment(M1, clock(), "E1")
    cohort.end_experiment(M1, clock(), "E1")
    cohort.begin_closing(COHORT_COACH, clock())
    assert cohort.give_feedback(M1, clock(), "E1", sealed()) is False


@pytest.mark.parametrize("milestone", ["framing", "accompaniment", "closing"])
def test_the_coach_abandons_from_any_open_phase(milestone: str) -> None:
    clock = Clock()
    c = cohort_in(milestone, clock)
    refused(c, NotPermitted, lambda: c.abandon(M1, clock()))
    c.abandon(COHORT_COACH, clock(), sealed("the programme was cut"))
    assert (c.state, c.is_ended) == ("abandoned", True)


@pytest.mark.parametrize("milestone", ["closed", "abandoned"])
def test_nothing_is_recorded_after_a_cohort_ended(milestone: str) -> None:
    clock = Clock()
    c = cohort_in("closed", clock) if milestone == "closed" else cohort_in("framing", clock)
    if milestone == "abandoned":
        c.abandon(COHORT_COACH, clock())
    for command in (lambda: c.add_member(COHORT_COACH, clock(), PEERS[8].party),
                    lambda: c.abandon(COHORT_COACH, clock()),
                    lambda: c.miss_deadline(Actor(UUID(int=0), Role.SYSTEM), clock(), "cycle_week:1", T0)):
        err = refused(c, StepNotAllowed, command)
        assert (err.state, err.allowed) == (milestone, ())

