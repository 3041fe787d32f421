"""Engagement, framing phase: open, first meeting, will, diagnosis, tripartite, formalisation, start."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, Contract
from engagement_tracker.domain.vocabulary import ObjectiveLevel, Role
from tests.unit.aggregates.builders import (
    COACH,
    COACHEE,
    CONTRACT,
    ENGAGEMENT_ID,
    OTHER_COACH,
    SPONSOR,
    START,
    SYNTHESIS_DIGEST,
    TRIPARTITE_ON,
    Clock,
    engagement_in,
    new_engagement,
    record_of,
    refused,
    sealed,
)

# --- open -------------------------------------------------------------------------------------


def test_open_starts_in_framing_at_the_first_meeting_with_one_pending_event() -> None:
    e = new_engagement()
    assert (e.state, e.phase, e.version, e.is_ended) == ("framing.first_meeting", "framing", 1, False)
    assert (e.coach, e.coachee, e.sponsor) == (COACH.party, COACHEE.party, SPONSOR.party)
    assert (e.coachee_kind, e.sponsor_function, e.org_unit) == ("person", "line_manager", "Operations/Lyon")
    assert [type(ev) for ev in e.pending_events] == [Engagement.Created]


def open_as(actor: Actor, sponsor: UUID = SPONSOR.party, at: datetime | None = None, coachee_kind: str = "person",
            sponsor_function: str = "line_manager", org_unit: str = "Operations") -> Engagement:
    return Engagement.open(ENGAGEMENT_ID, actor, at or Clock()(), COACH.party, COACHEE.party, coachee_kind, sponsor,
                           sponsor_function, org_unit)


def test_only_the_engagements_own_coach_opens_it() -> None:
    with pytest.raises(NotPermitted) as info:
        open_as(OTHER_COACH)
    assert info.value.allowed == ("coach",)
    with pytest.raises(NotPermitted):
        open_as(Actor(COACHEE.party, Role.COACHEE))


def test_open_needs_three_different_parties() -> None:
    with pytest.raises(InvalidInput) as info:
        open_as(COACH, sponsor=COACHEE.party)
    assert info.value.field == "parties"


@pytest.mark.parametrize(
    ("field", "override"),
    [("coachee_kind", {"coachee_kind": "robot"}), ("sponsor_function", {"sponsor_function": "ceo"}),
     ("org_unit", {"org_unit": "Ops, where Marc Petit works!"})],
)
def test_open_names_the_malformed_field(field: str, override: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        open_as(COACH, **override)
    assert info.value.field == field


def test_open_needs_a_timezone_aware_time() -> None:
    with pytest.raises(InvalidInput) as info:
        open_as(COACH, at=Clock()().replace(tzinfo=None))
    assert info.value.field == "at"


# --- first meeting and will -------------------------------------------------------------------


def test_the_first_meeting_is_recorded_once_and_keeps_the_state() -> None:
    e = engagement_in("met")
    assert (e.state, e.first_meeting_on) == ("framing.first_meeting", START)
    err = refused(e, RuleViolation, lambda: e.hold_first_meeting(COACH, Clock()(), START))
    assert err.problems == (f"the first meeting was already recorded on {START}",)


def test_will_cannot_be_confirmed_before_the_first_meeting() -> None:
    e = new_engagement()
    err = refused(e, RuleViolation, lambda: e.confirm_will(COACH, Clock()()))
    assert "the first meeting has not been recorded yet" in err.problems


def test_one_will_confirmed_waits_for_the_other_party() -> None:
    e = engagement_in("met")
    e.confirm_will(COACHEE, Clock()())
    assert (e.state, e.will_confirmed) == ("framing.first_meeting", ["coachee"])


def test_both_wills_confirmed_lead_to_diagnosis_in_either_order() -> None:
    e = engagement_in("met")
    e.confirm_will(COACHEE, Clock()())
    e.confirm_will(COACH, Clock()())
    assert (e.state, sorted(e.will_confirmed)) == ("framing.diagnosis", ["coach", "coachee"])


def test_a_party_confirms_its_will_only_once() -> None:
    e = engagement_in("met")
    e.confirm_will(COACH, Clock()())
    err = refused(e, RuleViolation, lambda: e.confirm_will(COACH, Clock()()))
    assert err.problems == ("the coach already confirmed the will to work together",)


def test_the_sponsor_does_not_confirm_a_will() -> None:
    e = engagement_in("met")
    err = refused(e, NotPermitted, lambda: e.confirm_will(SPONSOR, Clock()()))
    assert set(err.allowed) == {"coach", "coachee"}


def test_a_party_of_another_engagement_is_not_permitted() -> None:
    e = engagement_in("met")
    err = refused(e, NotPermitted, lambda: e.confirm_will(OTHER_COACH, Clock()()))
    assert "is not this engagement's coach" in err.reason


# --- decline ----------------------------------------------------------------------------------


def test_the_coachee_declines_at_the_first_meeting_and_the_engagement_ends() -> None:
    e = engagement_in("met")
    e.decline(COACHEE, Clock()(), "mismatch", sealed("not the right time"))
    assert (e.state, e.is_ended, e.end_reason, e.ended_by) == ("declined", True, "mismatch", "coachee")


def test_declining_is_only_possible_at_the_first_meeting() -> None:
    e = engagement_in("framing.diagnosis")
    err = refused(e, StepNotAllowed, lambda: e.decline(COACH, Clock()(), "mismatch"))
    assert err.state == "framing.diagnosis" and "decline" not in err.allowed


def test_a_decline_reason_outside_the_categories_is_refused() -> None:
    e = engagement_in("met")
    err = refused(e, InvalidInput, lambda: e.decline(COACH, Clock()(), "the coachee was rude"))
    assert err.field == "reason"


# --- diagnosis and tripartite meeting ---------------------------------------------------------


def test_the_diagnosis_is_sealed_and_leads_to_the_tripartite_meeting() -> None:
    e = engagement_in("framing.diagnosis")
    e.record_diagnosis(COACH, Clock()(), sealed("stakes"))
    assert e.state == "framing.tripartite" and record_of(e).diagnosis == sealed("stakes")


def test_a_plaintext_diagnosis_is_refused() -> None:
    e = engagement_in("framing.diagnosis")
    err = refused(e, InvalidInput, lambda: e.record_diagnosis(COACH, Clock()(), "stakes in clear"))  # type: ignore[arg-type]
    assert err.field == "diagnosis"


def test_the_coachee_does_not_record_the_diagnosis() -> None:
    e = engagement_in("framing.diagnosis")
    refused(e, NotPermitted, lambda: e.record_diagnosis(COACHEE, Clock()(), sealed()))


def test_tripartite_objectives_are_keyed_organisation_first() -> None:
    e = engagement_in("framing.tripartite")
    keys = e.hold_tripartite_meeting(COACH, Clock()(), TRIPARTITE_ON, [sealed("a"), sealed("b")], [sealed("c")])
    assert keys == ["O1", "O2", "O3"]
    assert [record_of(e).objectives[k].level for k in keys] == [
        ObjectiveLevel.ORGANISATION, ObjectiveLevel.ORGANISATION, ObjectiveLevel.COACHEE]
    assert (e.state, e.tripartite_on) == ("framing.coherence", TRIPARTITE_ON)


def test_restating_the_tripartite_objectives_replaces_them() -> None:
    e = engagement_in("framing.coherence")
    keys = e.hold_tripartite_meeting(COACH, Clock()(), TRIPARTITE_ON, [sealed("only")], [sealed("one")])
    assert keys == ["O1", "O2"] and record_of(e).objectives["O1"].statement == sealed("only")


@pytest.mark.parametrize(
    ("organisation", "coachee", "field"),
    [(0, 1, "organisation_request"), (1, 0, "coachee_request"), (11, 1, "organisation_request")],
)
def test_each_level_states_one_to_ten_objectives(organisation: int, coachee: int, field: str) -> None:
    e = engagement_in("framing.tripartite")
    err = refused(e, InvalidInput, lambda: e.hold_tripartite_meeting(
        COACH, Clock()(), TRIPARTITE_ON, [sealed()] * organisation, [sealed()] * coachee))
    assert err.field == field


def test_the_tripartite_meeting_is_not_dated_before_the_first_meeting() -> None:
    e = engagement_in("framing.tripartite")
    err = refused(e, InvalidInput, lambda: e.hold_tripartite_meeting(
        COACH, Clock()(), START - timedelta(days=1), [sealed()], [sealed()]))
    assert err.field == "held_on" and "the first meeting" in err.problem


# --- coherence and formalisation --------------------------------------------------------------


def test_only_the_coach_validates_coherence() -> None:
    e = engagement_in("framing.coherence")
    refused(e, NotPermitted, lambda: e.validate_coherence(SPONSOR, Clock()()))
    e.validate_coherence(COACH, Clock()())
    assert (e.state, e.coherence_validated) == ("framing.formalisation", True)


def test_indicators_are_keyed_and_tied_to_a_known_objective() -> None:
    e = engagement_in("framing.formalisation")
    first = e.define_indicator(COACH, Clock()(), "O2", "observable_result", sealed("x"), 1, 6, "per week")
    second = e.define_indicator(COACH, Clock()(), "O1", "organisation_performance", sealed("y"), 48, 24, "hours")
    assert (first, second) == ("I1", "I2")
    assert (e.indicator_objectives["I1"], record_of(e).indicators["I2"].baseline) == ("O2", 48.0)
    err = refused(e, InvalidInput, lambda: e.define_indicator(
        COACH, Clock()(), "O9", "observable_result", sealed(), 1, 2, "hours"))
    assert err.field == "objective" and "O1, O2" in err.problem


def test_an_indicator_must_aim_at_a_change() -> None:
    e = engagement_in("framing.formalisation")
    err = refused(e, InvalidInput, lambda: e.define_indicator(
        COACH, Clock()(), "O1", "observable_result", sealed(), 5, 5, "hours"))
    assert err.field == "target"


@pytest.mark.parametrize(
    ("field", "kind", "baseline", "unit"),
    [("kind", "vibes", 1, "hours"), ("baseline", "observable_result", float("nan"), "hours"),
     ("unit", "observable_result", 1, "hours spent by Marc, who is tired")],
)
def test_a_malformed_indicator_names_its_field(field: str, kind: str, baseline: float, unit: str) -> None:
    e = engagement_in("framing.formalisation")
    err = refused(e, InvalidInput, lambda: e.define_indicator(COACH, Clock()(), "O1", kind, sealed(), baseline, 9, unit))
    assert err.field == field


def test_the_synthesis_is_a_reference_and_a_sha256_digest() -> None:
    e = engagement_in("framing.formalisation")
    err = refused(e, InvalidInput, lambda: e.record_synthesis(COACH, Clock()(), "DMS/1", "AB" * 32))
    assert err.field == "digest"
    e.record_synthesis(COACH, Clock()(), "DMS/1", SYNTHESIS_DIGEST)
    assert e.synthesis == {"reference": "DMS/1", "digest": SYNTHESIS_DIGEST}


def test_the_contract_is_fixed_within_the_session_limit() -> None:
    e = engagement_in("framing.formalisation")
    err = refused(e, InvalidInput, lambda: e.fix_contract(COACH, Clock()(), Contract(201, CONTRACT.start, CONTRACT.end)))
    assert err.field == "sessions" and "1..200" in err.problem
    e.fix_contract(COACH, Clock()(), CONTRACT)
    assert e.contract == CONTRACT and e.sessions_allowed == 3 and e.contract_end == CONTRACT.end


def test_a_contract_period_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidInput) as info:
        Contract(3, CONTRACT.end, CONTRACT.start)
    assert info.value.field == "end"


# --- start of accompaniment -------------------------------------------------------------------


def test_start_is_refused_listing_everything_missing() -> None:
    e = engagement_in("framing.formalisation")
    err = refused(e, RuleViolation, lambda: e.start_accompaniment(COACH, Clock()()))
    assert err.problems == (
        "no progress indicator is defined",
        "objective O1 has no progress indicator",
        "objective O2 has no progress indicator",
        "the synthesis document is not recorded",
        "the contract (number of sessions and period) is not fixed",
    )
    assert err.state == "framing.formalisation"


def test_start_lists_only_what_is_still_missing() -> None:
    e = engagement_in("framing.formalisation")
    e.define_indicator(COACH, Clock()(), "O1", "observable_result", sealed(), 1, 2, "hours")
    e.fix_contract(COACH, Clock()(), CONTRACT)
    err = refused(e, RuleViolation, lambda: e.start_accompaniment(COACH, Clock()()))
    assert err.problems == ("objective O2 has no progress indicator", "the synthesis document is not recorded")


def test_start_is_allowed_once_framing_is_complete_and_records_when() -> None:
    clock = Clock()
    e = engagement_in("formalised", clock)
    assert e.framing_gaps() == []
    started = clock.advance(hours=2)
    e.start_accompaniment(COACH, started)
    assert (e.state, e.phase, e.accompaniment_started_at) == ("accompaniment.in_progress", "accompaniment", started)


def test_a_step_out_of_order_names_the_state_and_the_allowed_steps() -> None:
    e = new_engagement()
    err = refused(e, StepNotAllowed, lambda: e.validate_coherence(COACH, Clock()()))
    assert (err.workflow, err.state, err.step) == ("engagement", "framing.first_meeting", "validate_coherence")
    assert {"abandon", "confirm_will", "decline", "hold_first_meeting"} <= set(err.allowed)
    assert "validate_coherence" not in err.allowed and list(err.allowed) == sorted(err.allowed)
