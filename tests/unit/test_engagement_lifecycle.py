"""The seed lifecycle end to end, and what each role may read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engagement_tracker.domain import NotPermitted, Role
from tests.support import START, drive, granted, open_engagement


def test_the_full_lifecycle_reaches_closed_with_every_step_recorded(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    keys = drive(tracker, cast, eid, "accompaniment.in_progress")
    day = START + timedelta(days=20)
    tracker.engagements.record_session(eid, cast.coach, day, 90, ["delegation", "priorities"], "he fears losing control")
    action = tracker.engagements.commit_action(eid, cast.coachee, "hand over the weekly planning", day + timedelta(days=7)).value
    tracker.engagements.complete_action(eid, cast.coachee, action)
    dropped = tracker.engagements.commit_action(eid, cast.coach, "read a book on delegation").value
    tracker.engagements.drop_action(eid, cast.coachee, dropped)
    tracker.engagements.measure_indicator(eid, cast.sponsor, keys["indicators"][0], 36, day)
    tracker.engagements.request_review(eid, cast.sponsor)
    tracker.engagements.record_session(eid, cast.coach, day + timedelta(days=14), 60, ["conflict"], None)
    tracker.engagements.hold_review(eid, cast.coach, day + timedelta(days=15), "objectives still relevant")
    tracker.engagements.suspend(eid, cast.coachee, "parental leave")
    tracker.engagements.resume(eid, cast.coachee)
    drive_rest = dict.fromkeys(keys["indicators"], ("achieved", "evidence"))
    tracker.engagements.hold_closing_session(eid, cast.coach, day + timedelta(days=60), drive_rest)
    tracker.engagements.hold_closing_meeting(eid, cast.coach, day + timedelta(days=70), "synthesis", "recommendations")
    e = tracker.engagements.get(eid)
    assert e.state == "closed" and e.is_ended
    r = tracker.engagements.record(eid)
    assert [s.number for s in r.sessions] == [1, 2] and e.sessions_held == 2
    assert {a.status.value for a in r.actions.values()} == {"done", "dropped"} and e.open_actions == {}
    assert [row["event"] for row in tracker.engagements.timeline(eid, cast.coach)][-3:] == [
        "Resumed", "ClosingSessionHeld", "ClosingMeetingHeld"]
    assert tracker.engagements.timeline(eid, cast.coach)[-1]["state"] == "closed"


def test_either_party_may_decline_at_the_first_meeting(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "met")
    tracker.engagements.decline(eid, cast.coachee, "mismatch", "prefers a mentor")
    e = tracker.engagements.get(eid)
    assert (e.state, e.end_reason, e.ended_by) == ("declined", "mismatch", "coachee")


@pytest.mark.parametrize("milestone", ["opened", "framing.tripartite", "accompaniment.in_progress", "closing"])
def test_abandon_from_any_phase_records_the_reason(tracker, cast, milestone: str) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, milestone)
    tracker.engagements.abandon(eid, cast.sponsor, "organisational_change", "unit merged")
    e = tracker.engagements.get(eid)
    assert (e.state, e.end_reason) == ("abandoned", "organisational_change")
    assert tracker.engagements.view(eid, cast.coach)["end_detail"] == "unit merged"


def test_suspension_keeps_an_outstanding_review(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.request_review(eid, cast.coachee)
    tracker.engagements.suspend(eid, cast.coach)
    tracker.engagements.resume(eid, cast.coachee)
    assert tracker.engagements.get(eid).state == "accompaniment.review_pending"


def test_an_amendment_extends_the_end_once_all_three_agree(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    late = START + timedelta(days=150)
    tracker.engagements.propose_amendment(eid, cast.sponsor, new_end=START + timedelta(days=160))
    tracker.engagements.agree_amendment(eid, cast.coach)
    assert tracker.engagements.get(eid).pending_amendment.agreed_by == (Role.SPONSOR, Role.COACH)
    tracker.engagements.agree_amendment(eid, cast.coachee)
    e = tracker.engagements.get(eid)
    assert e.pending_amendment is None and e.contract_end == START + timedelta(days=160)
    tracker.engagements.record_session(eid, cast.coach, late, 60, ["career"], None)


def test_the_coach_view_unseals_everything(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 90, ["delegation"], "confidential note")
    view = tracker.engagements.view(eid, cast.coach)
    assert view["scope"] == "full"
    assert view["sessions"][0]["notes"] == "confidential note"
    assert view["diagnosis"] == "stakes and first objectives"
    assert view["parties"]["coachee"]["name"] == "Marc Petit"
    assert [o["statement"] for o in view["objectives"]] == ["Shorter incident resolution", "Delegate decisions"]


def test_the_sponsor_view_never_holds_session_content(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 90, ["delegation"], "confidential note")
    tracker.engagements.commit_action(eid, cast.coachee, "private action")
    before = tracker.engagements.view(eid, cast.sponsor)
    assert before["disclosure"]["agreed"] == [] and "indicators" not in before and "dates" not in before
    tracker.engagements.propose_disclosure(eid, cast.sponsor, ["indicators", "dates", "objectives"])
    tracker.engagements.accept_disclosure(eid, cast.coachee)
    view = tracker.engagements.view(eid, cast.sponsor)
    assert view["scope"] == "contract"
    for hidden in ("sessions", "diagnosis", "actions", "closing_synthesis", "will_confirmed_by"):
        assert hidden not in view
    text = repr(view)
    assert "confidential note" not in text and "private action" not in text and "stakes" not in text
    assert view["dates"]["sessions"] == [(START + timedelta(days=20)).isoformat()]
    assert [i["label"] for i in view["indicators"]] == ["Median resolution", "Decisions delegated"]


def test_auditors_see_no_content_and_analysts_nothing(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "framing.tripartite")
    auditor = granted(tracker, Role.AUDITOR, "Audit Firm")
    view = tracker.engagements.view(eid, auditor)
    assert view["scope"] == "metadata" and "diagnosis" not in view and "Marc Petit" not in repr(view)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    with pytest.raises(NotPermitted):
        tracker.engagements.view(eid, analyst)
    with pytest.raises(NotPermitted):
        tracker.engagements.timeline(eid, analyst)


def test_a_coachee_never_reads_another_engagement(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    with pytest.raises(NotPermitted):
        tracker.engagements.view(eid, cast.other_coachee)


def test_history_carries_the_injected_clock(tracker, cast, clock) -> None:
    eid = open_engagement(tracker, cast)
    e = tracker.engagements.get(eid)
    assert e.created_on == clock.now
    assert e.created_on.year == 2026 and e.created_on.month == 1
