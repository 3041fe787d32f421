"""Engagement, closing phase and end states: closing session, closing meeting, abandon, nothing after an end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, Evaluation, Signal
from engagement_tracker.domain.vocabulary import Outcome
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    SPONSOR,
    SYSTEM,
    Clock,
    day,
    engagement_in,
    evaluations_of,
    record_of,
    refused,
    sealed,
    session,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def e(clock: Clock) -> Engagement:
    e = engagement_in("accompaniment.in_progress", clock)
    session(e, clock, day(30))
    return e


# --- closing session --------------------------------------------------------------------------


def test_the_closing_session_evaluates_every_indicator_and_leads_to_closing(e: Engagement, clock: Clock) -> None:
    e.hold_closing_session(COACH, clock(), day(100), evaluations_of(e, "partly"))
    assert (e.state, e.phase, e.closing_session_on) == ("closing", "closing", day(100))
    assert sorted(record_of(e).evaluations) == ["I1", "I2"] and record_of(e).evaluations["I2"].outcome is Outcome.PARTLY


def test_the_closing_session_is_refused_while_an_indicator_has_no_evaluation(e: Engagement, clock: Clock) -> None:
    only_i1 = evaluations_of(e)[:1]
    err = refused(e, RuleViolation, lambda: e.hold_closing_session(COACH, clock(), day(100), only_i1))
    assert err.problems == ("indicator I2 has no evaluation",) and err.state == "accompaniment.in_progress"
    err = refused(e, RuleViolation, lambda: e.hold_closing_session(COACH, clock(), day(100), []))
    assert err.problems == ("indicator I1 has no evaluation", "indicator I2 has no evaluation")


@pytest.mark.parametrize(
    ("evaluations", "words"),
    [([("I1", sealed()), ("I2", sealed()), ("I3", sealed())], "unknown indicators I3"),
     ([("I1", sealed()), ("I2", sealed()), ("I2", sealed())], "evaluated twice"),
     ([("I1", sealed()), ("I2", "it went well")], "evidence")],
)
def test_malformed_evaluations_are_refused(e: Engagement, clock: Clock, evaluations, words: str) -> None:  # type: ignore[no-untyped-def]
    evs = [Evaluation(key, "achieved", evidence) for key, evidence in evaluations]
    err = refused(e, InvalidInput, lambda: e.hold_closing_session(COACH, clock(), day(100), evs))
    assert words in str(err)


def test_an_evaluation_outcome_outside_the_scale_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        Evaluation("I1", "failure", sealed())
    assert info.value.field == "Outcome"


def test_the_closing_session_is_not_dated_before_the_last_session(e: Engagement, clock: Clock) -> None:
    err = refused(e, InvalidInput, lambda: e.hold_closing_session(COACH, clock(), day(29), evaluations_of(e)))
    assert err.field == "held_on" and "the last session" in err.problem


def test_the_closing_session_waits_for_an_outstanding_review(e: Engagement, clock: Clock) -> None:
    e.request_review(COACHEE, clock())
    err = refused(e, StepNotAllowed, lambda: e.hold_closing_session(COACH, clock(), day(100), evaluations_of(e)))
    assert err.state == "accompaniment.review_pending" and "hold_closing_session" not in err.allowed


def test_only_the_coach_holds_the_closing_session(e: Engagement, clock: Clock) -> None:
    refused(e, NotPermitted, lambda: e.hold_closing_session(COACHEE, clock(), day(100), evaluations_of(e)))


# --- closing meeting --------------------------------------------------------------------------


def test_the_closing_meeting_closes_the_engagement(clock: Clock) -> None:
    e = engagement_in("closing", clock)
    e.hold_closing_meeting(COACH, clock(), day(110), sealed("synthesis"), sealed("keep a monthly review"))
    assert (e.state, e.is_ended, e.closing_meeting_on) == ("closed", True, day(110))
    assert (record_of(e).closing_synthesis, record_of(e).recommendations) == (
        sealed("synthesis"), sealed("keep a monthly review"))


def test_the_closing_meeting_follows_the_closing_session(clock: Clock) -> None:
    e = engagement_in("closing", clock)
    err = refused(e, InvalidInput, lambda: e.hold_closing_meeting(COACH, clock(), day(99), sealed(), sealed()))
    assert err.field == "held_on" and "the closing session" in err.problem


def test_the_closing_meeting_carries_only_sealed_text(clock: Clock) -> None:
    e = engagement_in("closing", clock)
    err = refused(e, InvalidInput, lambda: e.hold_closing_meeting(COACH, clock(), day(110), sealed(), "in clear"))  # type: ignore[arg-type]
    assert err.field == "recommendations"


def test_the_closing_meeting_is_not_held_during_accompaniment(e: Engagement, clock: Clock) -> None:
    err = refused(e, StepNotAllowed, lambda: e.hold_closing_meeting(COACH, clock(), day(110), sealed(), sealed()))
    assert err.state == "accompaniment.in_progress"


# --- abandon ----------------------------------------------------------------------------------

OPEN_MILESTONES = ["framing.first_meeting", "framing.diagnosis", "framing.coherence", "formalised",
                   "accompaniment.in_progress", "closing"]


@pytest.mark.parametrize("milestone", OPEN_MILESTONES)
@pytest.mark.parametrize("who", [COACH, COACHEE, SPONSOR], ids=lambda a: a.role.value)
def test_any_party_abandons_from_any_open_phase(milestone: str, who: Actor) -> None:
    clock = Clock()
    e = engagement_in(milestone, clock)
    e.abandon(who, clock(), "organisational_change", sealed("reorganisation"))
    assert (e.state, e.is_ended, e.end_reason, e.ended_by) == (
        "abandoned", True, "organisational_change", who.role.value)
    assert record_of(e).end_detail == sealed("reorganisation")


@pytest.mark.parametrize("prepare", ["request_review", "suspend"])
def test_abandon_from_review_pending_or_suspended(e: Engagement, clock: Clock, prepare: str) -> None:
    getattr(e, prepare)(COACHEE, clock())
    e.abandon(SPONSOR, clock(), "sponsor_withdrew")
    assert e.state == "abandoned"


def test_an_abandon_reason_is_a_category(e: Engagement, clock: Clock) -> None:
    err = refused(e, InvalidInput, lambda: e.abandon(COACH, clock(), "the sponsor was difficult"))
    assert err.field == "reason"


# --- nothing after an end state ---------------------------------------------------------------


def ended(how: str, clock: Clock) -> Engagement:
    if how == "closed":
        return engagement_in("closed", clock)
    e = engagement_in("met", clock)
    if how == "declined":
        e.decline(COACHEE, clock(), "mismatch")
    else:
        e.abandon(COACH, clock(), "other")
    return e


AFTER_THE_END: dict[str, Callable[[Engagement, Clock], Any]] = {
    "abandon": lambda e, clock: e.abandon(COACH, clock(), "other"),
    "record_signal": lambda e, clock: e.record_signal(COACH, clock(), Signal(
        "turnover", "business", "drains", 2, "Operations", day(200), None)),
    "propose_disclosure": lambda e, clock: e.propose_disclosure(COACHEE, clock(), ["dates"]),
    "miss_deadline": lambda e, clock: e.miss_deadline(SYSTEM, clock(), "action:A1", clock()),
    "hold_closing_meeting": lambda e, clock: e.hold_closing_meeting(COACH, clock(), day(200), sealed(), sealed()),
    "hold_first_meeting": lambda e, clock: e.hold_first_meeting(COACH, clock(), day(200)),
}


@pytest.mark.parametrize("how", ["closed", "declined", "abandoned"])
@pytest.mark.parametrize("step", sorted(AFTER_THE_END))
def test_nothing_is_recorded_after_an_end_state(how: str, step: str) -> None:
    clock = Clock()
    e = ended(how, clock)
    assert e.allowed_steps() == []
    err = refused(e, StepNotAllowed, lambda: AFTER_THE_END[step](e, clock))
    assert (err.state, err.step, err.allowed) == (how, step, ())
    assert "none (terminal state)" in str(err)
