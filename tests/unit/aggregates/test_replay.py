"""Replayed equals live: folding an aggregate's own pending events rebuilds exactly its state.

``replayed`` collects the live aggregate's pending events and folds them with ``event.mutate``
from nothing, the way eventsourcing rebuilds an aggregate from its stored events. Events only
assign state, so the fold must give the same ``__dict__`` as the commands did.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from engagement_tracker.domain.coach_load import CapacityPolicy, CoachLoad
from engagement_tracker.domain.errors import EtrackError
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.values import Actor, DataPoint, QuarterlyDecisions, Signal
from engagement_tracker.domain.vocabulary import PartyKind, Role
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    COHORT_COACH,
    COHORT_MILESTONES,
    ENGAGEMENT_MILESTONES,
    PEERS,
    SPONSOR,
    SYSTEM,
    T0,
    Clock,
    cohort_in,
    day,
    engagement_in,
    evaluations_of,
    replayed,
    sealed,
    session,
)

A, B, C, D, E = (p.party for p in PEERS[:5])
M1 = PEERS[0]


def assert_replay_equals_live(aggregate: Any) -> None:
    version = aggregate.version
    rebuilt = replayed(aggregate)
    assert type(rebuilt) is type(aggregate) and rebuilt.version == version
    assert rebuilt.__dict__ == aggregate.__dict__
    assert aggregate.pending_events == []  # collected, as a save would


@pytest.mark.parametrize("milestone", ENGAGEMENT_MILESTONES)
def test_an_engagement_at_each_milestone(milestone: str) -> None:
    assert_replay_equals_live(engagement_in(milestone, Clock()))


@pytest.mark.parametrize("milestone", COHORT_MILESTONES)
def test_a_cohort_at_each_milestone(milestone: str) -> None:
    assert_replay_equals_live(cohort_in(milestone, Clock()))


def test_a_full_accompaniment_with_refusals_along_the_way() -> None:
    clock = Clock()
    e = engagement_in("accompaniment.in_progress", clock)
    session(e, clock)
    a1 = e.commit_action(COACHEE, clock.advance(hours=1), sealed("a"), day(30))
    a2 = e.commit_action(COACH, clock(), sealed("b"))
    e.complete_action(COACHEE, clock(), a1)
    e.drop_action(COACHEE, clock(), a2)
    for n, value in enumerate([40, 44, 30]):
        e.measure_indicator(SPONSOR, clock.advance(days=1), "I1", value, day(20 + n))
    e.request_review(SPONSOR, clock())
    e.suspend(COACHEE, clock(), sealed("leave"))
    e.resume(COACH, clock.advance(days=10))
    e.hold_review(COACH, clock(), day(45), None)
    e.propose_amendment(SPONSOR, clock(), extra_sessions=2, new_end=day(150))
    e.agree_amendment(COACHEE, clock())
    with pytest.raises(EtrackError):
        e.agree_amendment(SPONSOR, clock())  # refused: leaves nothing to replay
    e.agree_amendment(COACH, clock())
    e.propose_disclosure(COACHEE, clock(), ["dates", "indicators"])
    e.accept_disclosure(SPONSOR, clock())
    e.propose_disclosure(SPONSOR, clock(), ["objectives"])  # pending when replayed
    e.record_signal(COACH, clock(), Signal("learning_dip", "tech", "drains", 2, "Operations", day(25), sealed()))
    e.miss_deadline(SYSTEM, clock(), "action:A1", clock() - timedelta(days=1))
    for _ in range(3):
        session(e, clock)
    e.hold_closing_session(COACH, clock(), day(130), evaluations_of(e, "partly"))
    e.hold_closing_meeting(COACH, clock(), day(131), sealed("synthesis"), sealed("recommendations"))
    assert e.state == "closed" and e.sessions_allowed == 5 and e.disclosure_proposal is not None
    assert_replay_equals_live(e)


def test_a_team_engagement_abandoned_during_accompaniment() -> None:
    clock = Clock()
    e = engagement_in("accompaniment.in_progress", clock, team=True)
    e.hold_quarterly_review(SPONSOR, clock.advance(days=91), day(91), QuarterlyDecisions(True, 1, 0), sealed())
    e.abandon(SPONSOR, clock(), "sponsor_withdrew", sealed("budget cut"))
    assert_replay_equals_live(e)


def test_a_declined_engagement() -> None:
    clock = Clock()
    e = engagement_in("met", clock)
    e.confirm_will(COACH, clock())
    e.decline(COACHEE, clock(), "coachee_withdrew")
    assert_replay_equals_live(e)


def test_a_cohort_through_rituals_decisions_and_experiments() -> None:
    clock = Clock()
    c = cohort_in("accompaniment", clock, members=6)
    c.hold_ritual(M1, clock(), "weekly_standup", day(7), A, B, C, "checklist", sealed())
    c.hold_ritual(M1, clock(), "weekly_standup", day(14), D, E, A, "playbook_update", sealed())
    c.record_decision(M1, clock(), sealed("go"), DataPoint("M2", 0.93), day(15), B)
    c.start_experiment(M1, clock(), "E1")
    c.end_experiment(M1, clock.advance(days=3), "E1")
    c.give_feedback(M1, clock.advance(hours=80), "E1", sealed("late but useful"))
    c.update_playbook(M1, clock(), "pick-list", "standardised", sealed("sites with a WMS"))
    c.complete_checkpoint(M1, clock(), 1)
    c.remove_member(PEERS[5], clock(), PEERS[5].party)
    c.add_key_result(M1, clock(), sealed("complaints halved"), day(90))
    c.miss_deadline(SYSTEM, clock(), "cycle_week:2", T0 + timedelta(weeks=2))
    c.record_signal(COHORT_COACH, clock(), Signal("shared_stakes", "business", "gives", 4, "Supply", day(20), None))
    c.begin_closing(COHORT_COACH, clock())
    c.record_closing_synthesis(M1, clock(), sealed())
    c.record_sharing(M1, clock(), sealed())
    c.prepare_scale_up(M1, clock(), sealed())
    c.close(COHORT_COACH, clock())
    assert c.former_members == [str(PEERS[5].party)] and c.state == "closed"
    assert_replay_equals_live(c)


def test_a_coach_load_taking_and_freeing_slots() -> None:
    clock = Clock()
    load = CoachLoad.start(COACH.party, clock())
    policy = CapacityPolicy(warn_above=1, refuse_above=3)
    for n in range(3):
        load.take(UUID(int=700 + n), COACH, clock.advance(days=1), policy)
    load.release(UUID(int=701), COACH, clock())
    assert load.active == [str(UUID(int=700)), str(UUID(int=702))] and len(load.warnings) == 2
    assert_replay_equals_live(load)


def test_a_party_registered_then_erased() -> None:
    clock = Clock()
    party = Party.register(UUID(int=800), PartyKind.PERSON, sealed("Marc Petit"), sealed("marc@example.org"), clock())
    party.erase(Actor(UUID(int=801), Role.ADMIN), clock())
    assert_replay_equals_live(party)


def test_the_check_catches_state_assigned_outside_an_event() -> None:
    e = engagement_in("met", Clock())
    e.first_meeting_on = day(3)  # what a command that skipped its event would leave behind
    with pytest.raises(AssertionError):
        assert_replay_equals_live(e)
