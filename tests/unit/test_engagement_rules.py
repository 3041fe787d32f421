"""Every refusal of the engagement: a typed error that says why, and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from engagement_tracker.domain import (
    Actor,
    EngagementTracker,
    EtrackError,
    InvalidInput,
    NotFound,
    NotPermitted,
    Role,
    RuleViolation,
    StepNotAllowed,
)
from engagement_tracker.domain.checks import MAX_TEXT_CHARS
from tests.support import START, Cast, drive, event_count, open_engagement


def vault_keys(app: EngagementTracker) -> int:
    keys = getattr(app.sealer, "_keys", None)
    return len(keys) if keys is not None else -1


def refused(app: EngagementTracker, error: type[Exception], command: Callable[[], Any]) -> Exception:
    """Run a command expected to be refused; check the type and that nothing was written."""
    before = (event_count(app), vault_keys(app))
    with pytest.raises(error) as info:
        command()
    assert (event_count(app), vault_keys(app)) == before, "a refused command wrote something"
    assert isinstance(info.value, EtrackError)
    return info.value


@pytest.fixture
def eid(tracker: EngagementTracker, cast: Cast):  # type: ignore[no-untyped-def]
    return open_engagement(tracker, cast)


# --- steps out of order -----------------------------------------------------------------------


def test_a_step_out_of_order_names_the_state_and_the_allowed_steps(tracker, cast, eid) -> None:
    err = refused(tracker, StepNotAllowed, lambda: tracker.engagements.validate_coherence(eid, cast.coach).value)
    assert err.state == "framing.first_meeting"
    assert {"abandon", "confirm_will", "decline", "hold_first_meeting"} <= set(err.allowed)
    assert "validate_coherence" not in err.allowed and list(err.allowed) == sorted(err.allowed)
    assert "framing.first_meeting" in str(err) and "hold_first_meeting" in str(err)


def test_a_session_before_accompaniment_is_refused(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "framing.formalisation")
    err = refused(
        tracker, StepNotAllowed,
        lambda: tracker.engagements.record_session(eid, cast.coach, START, 60, ["delegation"], "notes").value,
    )
    assert err.state == "framing.formalisation"
    assert "start_accompaniment" in err.allowed


def test_will_cannot_be_confirmed_before_the_first_meeting(tracker, cast, eid) -> None:
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.confirm_will(eid, cast.coachee).value)
    assert "first meeting has not been recorded" in str(err)


def test_a_party_confirms_only_once(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "met")
    tracker.engagements.confirm_will(eid, cast.coachee)
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.confirm_will(eid, cast.coachee).value)
    assert "coachee already confirmed" in str(err)


def test_accompaniment_cannot_start_until_framing_is_complete_and_says_what_is_missing(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "framing.formalisation")
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.start_accompaniment(eid, cast.coach).value)
    assert err.problems == (
        "no progress indicator is defined",
        "objective O1 has no progress indicator",
        "objective O2 has no progress indicator",
        "the synthesis document is not recorded",
        "the contract (number of sessions and period) is not fixed",
    )
    tracker.engagements.define_indicator(eid, cast.coach, "O1", "organisation_performance", "resolution", 48, 24, "hours")
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.start_accompaniment(eid, cast.coach).value)
    assert "objective O2 has no progress indicator" in err.problems
    assert "objective O1 has no progress indicator" not in err.problems


def test_closing_with_an_unevaluated_indicator_is_refused(tracker, cast, eid) -> None:
    keys = drive(tracker, cast, eid, "accompaniment.in_progress")
    first, second = keys["indicators"]
    err = refused(
        tracker, RuleViolation,
        lambda: tracker.engagements.hold_closing_session(
            eid, cast.coach, START + timedelta(days=90), {first: ("achieved", "ok")}).value,
    )
    assert err.problems == (f"indicator {second} has no evaluation",)


def test_a_session_beyond_the_contract_is_refused_unless_amended(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    day = START + timedelta(days=20)
    for n in range(3):  # the contract allows 3
        tracker.engagements.record_session(eid, cast.coach, day + timedelta(days=n), 60, ["delegation"], None)
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.record_session(
            eid, cast.coach, day, 60, ["career"], None).value)
    assert "allows 3 sessions and 3 were held" in str(err) and "amendment" in str(err)
    tracker.engagements.propose_amendment(eid, cast.coachee, extra_sessions=1)
    tracker.engagements.agree_amendment(eid, cast.coach)
    refused(tracker, RuleViolation, lambda: tracker.engagements.record_session(eid, cast.coach, day, 60, ["career"], None).value)
    tracker.engagements.agree_amendment(eid, cast.sponsor)
    assert tracker.engagements.record_session(eid, cast.coach, day, 60, ["career"], None).value == 4


def test_a_session_after_the_contract_end_is_refused(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    late = START + timedelta(days=200)
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.record_session(
            eid, cast.coach, late, 60, ["career"], None).value)
    assert "after the contract ends" in str(err)
    early = START
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.record_session(
        eid, cast.coach, early, 60, ["career"], None).value)
    assert "before the contract starts" in str(err)


def test_terminal_states_allow_nothing(tracker, cast, eid) -> None:
    tracker.engagements.abandon(eid, cast.sponsor, "sponsor_withdrew", "budget cut")
    err = refused(tracker, StepNotAllowed, lambda: tracker.engagements.abandon(eid, cast.coach, "other").value)
    assert err.allowed == ()
    assert "terminal" in str(err)


# --- the wrong party --------------------------------------------------------------------------


def test_a_sponsor_cannot_record_a_session(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    err = refused(
        tracker, NotPermitted,
        lambda: tracker.engagements.record_session(eid, cast.sponsor, START + timedelta(days=20), 60, ["career"], "x").value,
    )
    assert err.allowed == ("coach",)


def test_only_the_coach_validates_coherence(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "framing.coherence")
    for actor in (cast.coachee, cast.sponsor):
        refused(tracker, NotPermitted, lambda a=actor: tracker.engagements.validate_coherence(eid, a).value)
    tracker.engagements.validate_coherence(eid, cast.coach)


@pytest.mark.parametrize("role", [Role.COACH, Role.COACHEE, Role.SPONSOR])
def test_any_of_the_three_parties_can_request_a_review(tracker, cast, eid, role: Role) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.request_review(eid, cast.of(role))
    assert tracker.engagements.get(eid).state == "accompaniment.review_pending"
    assert tracker.engagements.get(eid).review_requested_by == role.value


def test_only_the_coachee_confirms_the_coachees_will(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "met")
    refused(tracker, NotPermitted, lambda: tracker.engagements.confirm_will(eid, cast.sponsor).value)
    # the coach confirming records the coach's will, never the coachee's
    tracker.engagements.confirm_will(eid, cast.coach)
    assert tracker.engagements.get(eid).will_confirmed == ["coach"]
    tracker.engagements.confirm_will(eid, cast.coachee)
    assert tracker.engagements.get(eid).state == "framing.diagnosis"


def test_a_party_of_another_engagement_is_refused(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "met")
    err = refused(tracker, NotPermitted, lambda: tracker.engagements.confirm_will(eid, cast.other_coachee).value)
    assert "is not this engagement's coachee" in str(err)
    refused(tracker, NotPermitted, lambda: tracker.engagements.decline(eid, cast.other_coach, "mismatch").value)


def test_a_claimed_role_does_not_grant_a_step(tracker, cast, eid) -> None:
    impostor = Actor(cast.sponsor.party, Role.COACH)
    refused(tracker, NotPermitted, lambda: tracker.engagements.hold_first_meeting(eid, impostor, START).value)


def test_only_the_coach_opens_and_never_for_someone_else(tracker, cast) -> None:
    refused(tracker, NotPermitted, lambda: tracker.engagements.open(
        cast.coachee, cast.other_coachee.party, cast.sponsor.party, "hr", "Ops").value)
    refused(tracker, NotPermitted, lambda: tracker.engagements.open(
        cast.sponsor, cast.coachee.party, cast.sponsor.party, "hr", "Ops").value)


# --- unknown ids ------------------------------------------------------------------------------


def test_an_unknown_engagement_id_is_not_found(tracker, cast) -> None:
    missing = uuid4()
    err = refused(tracker, NotFound, lambda: tracker.engagements.hold_first_meeting(missing, cast.coach, START).value)
    assert str(missing) in str(err)
    refused(tracker, NotFound, lambda: tracker.engagements.view(missing, cast.coach))


def test_a_party_id_is_not_an_engagement(tracker, cast) -> None:
    refused(tracker, NotFound, lambda: tracker.engagements.hold_first_meeting(cast.coachee.party, cast.coach, START).value)


def test_a_malformed_id_is_invalid_input(tracker, cast) -> None:
    refused(tracker, InvalidInput, lambda: tracker.engagements.hold_first_meeting("not-a-uuid", cast.coach, START).value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.hold_first_meeting(42, cast.coach, START).value)


def test_opening_with_unknown_parties_is_not_found(tracker, cast) -> None:
    refused(tracker, NotFound, lambda: tracker.engagements.open(cast.coach, uuid4(), cast.sponsor.party, "hr", "Ops").value)


def test_an_engagement_needs_three_distinct_parties(tracker, cast) -> None:
    err = refused(tracker, InvalidInput, lambda: tracker.engagements.open(
        cast.coach, cast.coachee.party, cast.coachee.party, "hr", "Ops").value)
    assert "three different parties" in str(err)


# --- bad values -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_TEXT_CHARS + 1)])
def test_empty_or_oversized_notes_are_refused_with_the_limit(tracker, cast, eid, text: str) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    err = refused(
        tracker, InvalidInput,
        lambda: tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], text).value,
    )
    assert err.field == "notes"
    if text.strip():
        assert f"the limit is {MAX_TEXT_CHARS}" in str(err)
    else:
        assert "must not be empty" in str(err)


def test_notes_at_the_limit_are_accepted(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], "é" * MAX_TEXT_CHARS)
    view = tracker.engagements.view(eid, cast.coach)
    assert view["sessions"][0]["notes"] == "é" * MAX_TEXT_CHARS


@pytest.mark.parametrize("minutes", [-30, 0, 481, 1.5, "90", True])
def test_durations_must_be_whole_minutes_in_range(tracker, cast, eid, minutes: Any) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    err = refused(
        tracker, InvalidInput,
        lambda: tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), minutes, ["career"], None).value,
    )
    assert err.field == "duration_minutes"


def test_an_unknown_theme_lists_the_accepted_themes(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "accompaniment.in_progress")
    err = refused(
        tracker, InvalidInput,
        lambda: tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["astrology"], None).value,
    )
    assert "'astrology' is not one of" in str(err) and "delegation" in str(err)
    refused(tracker, InvalidInput,
            lambda: tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, [], None).value)


def test_a_period_that_ends_before_it_starts_is_refused(tracker, cast, eid) -> None:
    drive(tracker, cast, eid, "framing.formalisation")
    err = refused(tracker, InvalidInput,
                  lambda: tracker.engagements.fix_contract(eid, cast.coach, 6, date(2026, 6, 1), date(2026, 1, 1)).value)
    assert "must end after it starts: it ends 2026-01-01 and starts 2026-06-01" in str(err)
    assert err.state == "framing.formalisation" and "[engagement state: framing.formalisation]" in str(err)
    refused(tracker, InvalidInput, lambda: tracker.engagements.fix_contract(
        eid, cast.coach, -2, date(2026, 1, 1), date(2026, 6, 1)).value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.fix_contract(
        eid, cast.coach, 500, date(2026, 1, 1), date(2026, 6, 1)).value)


def test_wrong_types_are_invalid_input(tracker, cast, eid) -> None:
    refused(tracker, InvalidInput, lambda: tracker.engagements.hold_first_meeting(eid, cast.coach, "2026-01-05").value)
    drive(tracker, cast, eid, "framing.formalisation")
    refused(tracker, InvalidInput, lambda: tracker.engagements.define_indicator(
        eid, cast.coach, "O1", "organisation_performance", "label", float("nan"), 2, "h").value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.define_indicator(
        eid, cast.coach, "O9", "organisation_performance", "label", 1, 2, "h").value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.define_indicator(
        eid, cast.coach, "O1", "vibes", "label", 1, 2, "h").value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.record_synthesis(eid, cast.coach, "DMS/1", "not-a-digest").value)


def test_an_oversized_party_name_is_refused(tracker) -> None:
    before = event_count(tracker)
    with pytest.raises(InvalidInput, match="the limit is 200"):
        tracker.parties.register("person", "x" * 201)
    with pytest.raises(InvalidInput, match="not one of"):
        tracker.parties.register("robot", "R2")
    assert event_count(tracker) == before
