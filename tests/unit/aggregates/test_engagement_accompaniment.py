"""Engagement, accompaniment phase: sessions, amendments, actions, measurements, reviews, suspension,
disclosure and quarterly reviews."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.progress import indicator_progress
from engagement_tracker.domain.values import Contract, QuarterlyDecisions, Signal
from engagement_tracker.domain.vocabulary import ActionStatus, Role, SessionTheme
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    CONTRACT,
    OTHER_COACHEE,
    SPONSOR,
    Clock,
    day,
    engagement_in,
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
    return engagement_in("accompaniment.in_progress", clock)


def accompanied_under(contract: Contract, clock: Clock) -> Engagement:
    """An engagement in accompaniment under ``contract`` (the contract is re-fixed before the start)."""
    e = engagement_in("formalised", clock)
    e.fix_contract(COACH, clock(), contract)
    e.start_accompaniment(COACH, clock())
    return e


def amend(e: Engagement, clock: Clock, extra_sessions: int = 0, new_end=None) -> None:  # type: ignore[no-untyped-def]
    """Propose (coachee), then agree (sponsor, coach): the amendment comes into force."""
    e.propose_amendment(COACHEE, clock(), extra_sessions, new_end)
    e.agree_amendment(SPONSOR, clock())
    e.agree_amendment(COACH, clock())


# --- sessions ---------------------------------------------------------------------------------


def test_sessions_are_numbered_and_keep_their_themes_once(e: Engagement, clock: Clock) -> None:
    n = e.record_session(COACH, clock(), day(10), 90, ["delegation", "conflict", "delegation"], None)
    assert n == 1 and e.state == "accompaniment.in_progress"
    assert record_of(e).sessions[0].themes == (SessionTheme.DELEGATION, SessionTheme.CONFLICT)
    assert session(e, clock) == 2


def test_a_session_beyond_the_contract_is_refused_and_says_an_amendment_would_allow_it(
    e: Engagement, clock: Clock
) -> None:
    for _ in range(3):
        session(e, clock)
    err = refused(e, RuleViolation, lambda: session(e, clock))
    assert err.problems == (
        "the contract allows 3 sessions and 3 were held; an amendment agreed by coach, coachee and sponsor would allow more",
    )


@pytest.mark.parametrize(("held_on", "words"), [(day(9), "before the contract starts"),
                                                 (day(121), "after the contract ends")])
def test_a_session_outside_the_contract_period_is_refused(e: Engagement, clock: Clock, held_on, words) -> None:  # type: ignore[no-untyped-def]
    err = refused(e, RuleViolation, lambda: session(e, clock, held_on))
    assert len(err.problems) == 1 and words in err.problems[0]


@pytest.mark.parametrize(
    ("field", "minutes", "themes"),
    [("duration_minutes", 0, ["delegation"]), ("duration_minutes", 481, ["delegation"]),
     ("themes", 60, []), ("themes", 60, ["astrology"]), ("themes", 60, "delegation")],
)
def test_a_malformed_session_names_its_field(e: Engagement, clock: Clock, field: str, minutes: int, themes) -> None:  # type: ignore[no-untyped-def]
    err = refused(e, InvalidInput, lambda: e.record_session(COACH, clock(), day(10), minutes, themes, None))
    assert err.field == field


def test_the_sponsor_never_records_a_session(e: Engagement, clock: Clock) -> None:
    err = refused(e, NotPermitted, lambda: e.record_session(SPONSOR, clock(), day(10), 60, ["career"], None))
    assert err.allowed == ("coach",)


@given(sessions=st.integers(1, 6), extra=st.integers(1, 4))
def test_the_sessions_allowed_are_the_contract_plus_agreed_amendments(sessions: int, extra: int) -> None:
    clock = Clock()
    e = accompanied_under(Contract(sessions, CONTRACT.start, CONTRACT.end), clock)
    for _ in range(sessions):
        session(e, clock)
    refused(e, RuleViolation, lambda: session(e, clock))
    amend(e, clock, extra_sessions=extra)
    assert e.sessions_allowed == sessions + extra
    for _ in range(extra):
        session(e, clock)
    err = refused(e, RuleViolation, lambda: session(e, clock))
    assert f"allows {sessions + extra} sessions and {sessions + extra} were held" in err.problems[0]


# --- amendments -------------------------------------------------------------------------------


def test_an_amendment_is_in_force_only_once_all_three_parties_agree(e: Engagement, clock: Clock) -> None:
    e.propose_amendment(SPONSOR, clock(), extra_sessions=2)
    e.agree_amendment(COACHEE, clock())
    assert e.extra_sessions == 0 and e.sessions_allowed == 3
    assert e.pending_amendment is not None and set(e.pending_amendment.agreed_by) == {Role.SPONSOR, Role.COACHEE}
    e.agree_amendment(COACH, clock())
    assert e.pending_amendment is None and e.sessions_allowed == 5
    agreed = [type(v).__name__ for v in e.pending_events[-3:]]
    assert e.extra_sessions == 2 and agreed == ["AmendmentProposed", "AmendmentAgreed", "AmendmentAgreed"]


def test_a_later_end_agreed_by_all_allows_a_later_session(e: Engagement, clock: Clock) -> None:
    refused(e, RuleViolation, lambda: session(e, clock, day(130)))
    amend(e, clock, new_end=day(140))
    assert e.contract_end == day(140)
    assert session(e, clock, day(130)) == 1


def test_the_proposer_has_already_agreed(e: Engagement, clock: Clock) -> None:
    e.propose_amendment(COACHEE, clock(), extra_sessions=1)
    err = refused(e, RuleViolation, lambda: e.agree_amendment(COACHEE, clock()))
    assert err.problems == ("the coachee already agreed to the pending amendment",)


def test_one_amendment_at_a_time(e: Engagement, clock: Clock) -> None:
    e.propose_amendment(COACH, clock(), extra_sessions=1)
    err = refused(e, RuleViolation, lambda: e.propose_amendment(SPONSOR, clock(), extra_sessions=2))
    assert err.problems == ("an amendment is already awaiting agreement",)


def test_agreeing_needs_a_pending_amendment(e: Engagement, clock: Clock) -> None:
    err = refused(e, RuleViolation, lambda: e.agree_amendment(SPONSOR, clock()))
    assert err.problems == ("no amendment is awaiting agreement",)


@pytest.mark.parametrize(("extra", "new_end", "field"), [(0, None, "amendment"), (0, CONTRACT.end, "new_end"),
                                                          (-1, None, "extra_sessions")])
def test_an_amendment_must_add_sessions_or_extend_the_end(e: Engagement, clock: Clock, extra, new_end, field) -> None:  # type: ignore[no-untyped-def]
    err = refused(e, InvalidInput, lambda: e.propose_amendment(COACH, clock(), extra, new_end))
    assert err.field == field


# --- actions ----------------------------------------------------------------------------------


def test_an_action_is_committed_then_completed_once(e: Engagement, clock: Clock) -> None:
    key = e.commit_action(COACHEE, clock(), sealed("pair on incidents"), day(30))
    assert key == "A1" and record_of(e).actions["A1"].status is ActionStatus.COMMITTED and e.open_actions == {"A1": day(30)}
    e.complete_action(COACHEE, clock(), key)
    assert record_of(e).actions["A1"].status is ActionStatus.DONE and e.open_actions == {}
    err = refused(e, InvalidInput, lambda: e.drop_action(COACH, clock(), key))
    assert "already done" in err.problem


def test_a_dropped_action_keeps_its_key_and_the_next_one_is_numbered_after_it(e: Engagement, clock: Clock) -> None:
    e.commit_action(COACH, clock(), sealed("a"))
    e.drop_action(COACHEE, clock(), "A1")
    assert record_of(e).actions["A1"].status is ActionStatus.DROPPED and e.open_actions == {}
    assert e.commit_action(COACHEE, clock(), sealed("b")) == "A2"


def test_an_unknown_action_is_named(e: Engagement, clock: Clock) -> None:
    err = refused(e, InvalidInput, lambda: e.complete_action(COACHEE, clock(), "A7"))
    assert err.field == "action" and "'A7'" in err.problem


def test_the_sponsor_does_not_commit_the_coachee_to_actions(e: Engagement, clock: Clock) -> None:
    refused(e, NotPermitted, lambda: e.commit_action(SPONSOR, clock(), sealed("work harder")))


# --- measurements and the learning dip --------------------------------------------------------


def test_any_party_measures_a_known_indicator(e: Engagement, clock: Clock) -> None:
    for n, who in enumerate((COACH, COACHEE, SPONSOR)):
        e.measure_indicator(who, clock(), "I1", 40 - n, day(20 + n))
    assert [m.value for m in record_of(e).measurements] == [40.0, 39.0, 38.0]
    err = refused(e, InvalidInput, lambda: e.measure_indicator(COACH, clock(), "I9", 1, day(20)))
    assert err.field == "indicator"


def test_falling_back_is_a_learning_dip_when_lower_is_better(e: Engagement, clock: Clock) -> None:
    for n, value in enumerate([40, 44, 30, 20]):  # I1: 48 -> 24 hours
        e.measure_indicator(COACH, clock(), "I1", value, day(20 + n))
    rows = indicator_progress(record_of(e), "I1")
    assert [r["status"] for r in rows] == ["progress", "learning_dip", "progress", "reached"]
    assert [r["progress"] for r in rows] == [0.333, 0.167, 0.75, 1.167]


def test_falling_back_is_a_learning_dip_when_higher_is_better(e: Engagement, clock: Clock) -> None:
    for n, value in enumerate([0, 3, 2, 6, 5]):  # I2: 1 -> 6 per week
        e.measure_indicator(COACHEE, clock(), "I2", value, day(20 + n))
    assert [r["status"] for r in indicator_progress(record_of(e), "I2")] == [
        "learning_dip", "progress", "learning_dip", "reached", "learning_dip"]


def test_each_indicator_is_classified_on_its_own_measurements(e: Engagement, clock: Clock) -> None:
    e.measure_indicator(COACH, clock(), "I1", 40, day(20))
    e.measure_indicator(COACH, clock(), "I2", 2, day(21))
    e.measure_indicator(COACH, clock(), "I1", 36, day(22))
    assert [r["status"] for r in indicator_progress(record_of(e), "I1")] == ["progress", "progress"]
    assert [r["value"] for r in indicator_progress(record_of(e), "I2")] == [2.0]


# --- intermediate reviews ---------------------------------------------------------------------


def test_any_party_requests_a_review_and_the_coach_holds_it(e: Engagement, clock: Clock) -> None:
    e.request_review(SPONSOR, clock())
    assert (e.state, e.review_requested_by) == ("accompaniment.review_pending", "sponsor")
    e.hold_review(COACH, clock(), day(40), sealed("on track"))
    assert (e.state, e.review_requested_by, e.intermediate_reviews_held) == ("accompaniment.in_progress", None, 1)
    assert record_of(e).reviews_held == [day(40)]


def test_a_review_already_outstanding_is_not_requested_again(e: Engagement, clock: Clock) -> None:
    e.request_review(COACHEE, clock())
    err = refused(e, StepNotAllowed, lambda: e.request_review(SPONSOR, clock()))
    assert err.state == "accompaniment.review_pending" and "hold_review" in err.allowed


def test_sessions_go_on_while_a_review_is_pending(e: Engagement, clock: Clock) -> None:
    e.request_review(COACHEE, clock())
    assert session(e, clock) == 1 and e.state == "accompaniment.review_pending"


def test_a_review_is_not_held_before_one_is_requested(e: Engagement, clock: Clock) -> None:
    refused(e, StepNotAllowed, lambda: e.hold_review(COACH, clock(), day(40)))


# --- suspension -------------------------------------------------------------------------------


def test_suspend_then_resume_returns_to_in_progress(e: Engagement, clock: Clock) -> None:
    e.suspend(COACHEE, clock(), sealed("parental leave"))
    assert e.state == "accompaniment.suspended"
    e.resume(COACH, clock())
    assert e.state == "accompaniment.in_progress"


def test_resuming_returns_to_review_pending_when_a_review_was_outstanding(e: Engagement, clock: Clock) -> None:
    e.request_review(SPONSOR, clock())
    e.suspend(COACH, clock())
    e.resume(COACHEE, clock())
    assert (e.state, e.review_requested_by) == ("accompaniment.review_pending", "sponsor")


def test_nothing_is_recorded_of_the_work_while_suspended(e: Engagement, clock: Clock) -> None:
    e.suspend(COACH, clock())
    err = refused(e, StepNotAllowed, lambda: session(e, clock))
    assert err.state == "accompaniment.suspended" and "resume" in err.allowed
    refused(e, StepNotAllowed, lambda: e.measure_indicator(COACH, clock(), "I1", 40, day(20)))
    refused(e, StepNotAllowed, lambda: e.suspend(COACH, clock()))


def test_the_sponsor_neither_suspends_nor_resumes(e: Engagement, clock: Clock) -> None:
    refused(e, NotPermitted, lambda: e.suspend(SPONSOR, clock()))
    e.suspend(COACH, clock())
    refused(e, NotPermitted, lambda: e.resume(SPONSOR, clock()))


# --- disclosure to the sponsor ----------------------------------------------------------------


def test_a_disclosure_proposed_by_one_party_is_accepted_by_the_other(e: Engagement, clock: Clock) -> None:
    e.propose_disclosure(COACHEE, clock(), ["indicators", "dates", "indicators"])
    assert e.disclosure_proposal == {"items": ["dates", "indicators"], "by": "coachee"} and e.disclosure == []
    e.accept_disclosure(SPONSOR, clock())
    assert (e.disclosure, e.disclosure_proposal) == (["dates", "indicators"], None)


def test_the_proposer_does_not_accept_its_own_disclosure(e: Engagement, clock: Clock) -> None:
    e.propose_disclosure(SPONSOR, clock(), ["objectives"])
    err = refused(e, RuleViolation, lambda: e.accept_disclosure(SPONSOR, clock()))
    assert err.problems == ("the sponsor proposed it; the other party accepts",)


def test_accepting_needs_a_proposal(e: Engagement, clock: Clock) -> None:
    err = refused(e, RuleViolation, lambda: e.accept_disclosure(COACHEE, clock()))
    assert err.problems == ("no disclosure proposal is awaiting acceptance",)


def test_the_coach_is_not_a_party_to_disclosure(e: Engagement, clock: Clock) -> None:
    err = refused(e, NotPermitted, lambda: e.propose_disclosure(COACH, clock(), ["dates"]))
    assert set(err.allowed) == {"coachee", "sponsor"}


def test_session_content_is_never_a_disclosure_item(e: Engagement, clock: Clock) -> None:
    err = refused(e, InvalidInput, lambda: e.propose_disclosure(COACHEE, clock(), ["session_notes"]))
    assert err.field == "items"


# --- quarterly reviews (team coaching) --------------------------------------------------------


def test_quarterly_reviews_are_only_for_teams(e: Engagement, clock: Clock) -> None:
    err = refused(e, RuleViolation, lambda: e.hold_quarterly_review(SPONSOR, clock(), day(91), QuarterlyDecisions(False)))
    assert err.problems == ("quarterly reviews are for team coaching; this coachee is a person",)


def test_a_team_engagement_numbers_its_quarterly_reviews(clock: Clock) -> None:
    e = engagement_in("accompaniment.in_progress", clock, team=True)
    assert e.hold_quarterly_review(SPONSOR, clock(), day(91), QuarterlyDecisions(True, coaches_added=1)) == 1
    assert e.hold_quarterly_review(COACH, clock(), day(182), QuarterlyDecisions(False)) == 2
    assert e.quarterly_reviews_held == 2 and record_of(e).quarterly_reviews == [day(91), day(182)]


def test_the_coachee_does_not_hold_the_quarterly_review(clock: Clock) -> None:
    e = engagement_in("accompaniment.in_progress", clock, team=True)
    err = refused(e, NotPermitted, lambda: e.hold_quarterly_review(COACHEE, clock(), day(91), QuarterlyDecisions(False)))
    assert set(err.allowed) == {"coach", "sponsor"}
    refused(e, InvalidInput, lambda: e.hold_quarterly_review(COACH, clock(), day(91), QuarterlyDecisions(False, 21)))


# --- signals ----------------------------------------------------------------------------------


def test_the_coach_records_a_signal_from_the_taxonomy(e: Engagement, clock: Clock) -> None:
    signal = Signal("learning_dip", "tech", "drains", 3, "Operations/Lyon", day(30), None)
    e.record_signal(COACH, clock(), signal)
    assert e.signals_recorded == 1
    err = refused(e, InvalidInput, lambda: e.record_signal(COACH, clock(), Signal(
        "gossip", "tech", "drains", 3, "Operations/Lyon", day(30), None)))
    assert err.field == "theme"
    refused(e, NotPermitted, lambda: e.record_signal(OTHER_COACHEE, clock(), signal))
