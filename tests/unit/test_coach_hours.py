"""The ICF hours log (domain/coach_hours.py), the ICF consent step, and off-track through the application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain.coach_hours import CONFIDENTIAL, CREDENTIALS, hours_totals
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, StepNotAllowed
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from tests.support import START, Cast, FakeClock, drive, event_count, granted, new_tracker, open_engagement, tick_at


@pytest.fixture
def tracker():
    app = new_tracker("memory:", FakeClock())
    yield app
    app.close()


def engagement(app, team: bool = False, billing: str = "paid"):
    cast = Cast.register(app, team=team)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "framing.formalisation")
    c = cast.coach
    app.engagements.define_indicator(eid, c, "O1", "organisation_performance", "Median resolution", 48, 24, "hours")
    app.engagements.define_indicator(eid, c, "O2", "observable_result", "Decisions delegated", 1, 6, "per week")
    app.engagements.record_synthesis(eid, c, "DMS/synthesis-1", "ab" * 32)
    app.engagements.fix_contract(eid, c, 10, START + timedelta(days=10), START + timedelta(days=300), billing)
    app.engagements.start_accompaniment(eid, c)
    return cast, eid


def test_sessions_take_the_contracts_billing_unless_told_and_the_log_adds_them_up(tracker) -> None:
    cast, eid = engagement(tracker, billing="pro_bono")
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 90, ["delegation"])
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["delegation"], billing="paid")
    log = tracker.engagements.coach_hours(cast.coach)
    assert [(ln["session"], ln["paid_hours"], ln["pro_bono_hours"]) for ln in log["lines"]] == [(1, 0.0, 1.5), (2, 1.0, 0.0)]
    assert all(ln["client"] == CONFIDENTIAL and ln["engagement"] == str(eid) for ln in log["lines"])
    assert log["totals"] | {"credentials": None} == {
        "hours": 2.5, "paid_hours": 1.0, "pro_bono_hours": 1.5, "clients": 1, "sessions": 2, "credentials": None}
    assert log["totals"]["credentials"]["ACC"]["missing"] == {"hours": 97.5, "paid_hours": 74.0, "clients": 7}


def test_a_client_is_named_only_with_consent_and_never_to_an_auditor(tracker) -> None:
    cast, eid = engagement(tracker)
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["delegation"])
    refused = event_count(tracker)
    with pytest.raises(NotPermitted, match="coachee"):
        tracker.engagements.consent_to_icf_log(eid, cast.coach, True)  # only the client consents
    with pytest.raises(InvalidInput, match="already not named"):
        tracker.engagements.consent_to_icf_log(eid, cast.coachee, False)
    assert event_count(tracker) == refused
    tracker.engagements.consent_to_icf_log(eid, cast.coachee, True)
    assert [ln["client"] for ln in tracker.engagements.coach_hours(cast.coach)["lines"]] == ["Marc Petit"]
    auditor = granted(tracker, Role.AUDITOR)
    audited = tracker.engagements.coach_hours(auditor, cast.coach.party)
    assert [ln["client"] for ln in audited["lines"]] == [CONFIDENTIAL]
    tracker.engagements.consent_to_icf_log(eid, cast.coachee, False)  # withdrawn
    assert [ln["client"] for ln in tracker.engagements.coach_hours(cast.coach)["lines"]] == [CONFIDENTIAL]


def test_consent_is_taken_after_closing_too(tracker) -> None:
    cast = Cast.register(tracker)
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "closed")
    tracker.engagements.consent_to_icf_log(eid, cast.coachee, True)
    assert tracker.engagements.get(eid).icf_named and tracker.engagements.get(eid).state == "closed"


def test_every_line_names_the_recorded_session_it_comes_from(tracker) -> None:
    cast, eid = engagement(tracker, team=True)
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 120, ["technical_practices"], group_size=7)
    tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=19), 60, ["technical_practices"])
    lines = tracker.engagements.coach_hours(cast.coach)["lines"]
    assert [(ln["coaching"], ln["group_size"]) for ln in lines] == [("team", 7), ("team", None)]
    for line in lines:
        event = tracker.events.get(eid, gt=line["version"] - 1, lte=line["version"])
        (held,) = list(event)
        assert isinstance(held, Engagement.SessionHeld)
        assert held.session.number == line["session"] and held.session.duration_minutes == line["minutes"]


def test_refusals_name_what_is_accepted_and_write_nothing(tracker) -> None:
    cast, eid = engagement(tracker)
    before = event_count(tracker)
    with pytest.raises(InvalidInput, match="billing"):
        tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["delegation"], billing="free")
    with pytest.raises(InvalidInput, match="teams only"):
        tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["delegation"], group_size=3)
    with pytest.raises(NotPermitted):
        tracker.engagements.coach_hours(cast.other_coach, cast.coach.party)  # another coach's log
    with pytest.raises(NotPermitted):
        tracker.engagements.coach_hours(cast.sponsor)
    with pytest.raises(InvalidInput, match="auditor names the coach"):
        tracker.engagements.coach_hours(granted(tracker, Role.AUDITOR))
    assert event_count(tracker) == before + 2  # the auditor's registration and grant only


def test_tick_flags_off_track_after_the_configured_weeks_and_the_view_shows_it_until_a_session() -> None:
    app = new_tracker("memory:", FakeClock(), ETRACK_OFF_TRACK_WEEKS="2")
    cast, eid = engagement(app)
    started = app.engagements.get(eid).accompaniment_started_at.date()
    rows = tick_at(app, datetime.combine(started + timedelta(days=15), datetime.min.time(), tzinfo=UTC))
    assert [r["deadline"] for r in rows] == [f"off_track:{started}"]
    assert app.engagements.view(eid, cast.coach)["off_track"]["since"] == started.isoformat()
    assert app.engagements.view(eid, cast.coachee)["off_track"]["since"] == started.isoformat()
    assert "off_track" not in app.engagements.view(eid, cast.sponsor)  # no activity rhythm for a sponsor
    app.engagements.record_session(eid, cast.coach, started + timedelta(days=16), 60, ["delegation"])
    assert "off_track" not in app.engagements.view(eid, cast.coach)
    app.close()


def test_a_bad_off_track_setting_is_refused_when_the_tracker_opens() -> None:
    with pytest.raises(InvalidInput, match="ETRACK_OFF_TRACK_WEEKS"):
        new_tracker("memory:", FakeClock(), ETRACK_OFF_TRACK_WEEKS="0")


def test_consent_is_not_a_workflow_step_so_the_workflow_refuses_it() -> None:
    from engagement_tracker.domain.workflow import ENGAGEMENT_WORKFLOW

    with pytest.raises(StepNotAllowed):
        ENGAGEMENT_WORKFLOW.decide("consent_to_icf_log", "closed")


# --- the totals, over random logs ------------------------------------------------------------------

lines_st = st.lists(
    st.tuples(st.integers(1, 480), st.booleans(), st.integers(0, 30)),  # minutes, paid, client
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(sessions=lines_st)
def test_totals_add_up_and_each_credential_is_met_exactly_when_nothing_is_missing(sessions) -> None:
    lines = [{"minutes": m, "paid_hours": round(m / 60, 2) if paid else 0.0} for m, paid, _ in sessions]
    clients = [f"c{c}" for _, _, c in sessions]
    totals = hours_totals(lines, clients)
    paid_minutes = sum(m for m, paid, _ in sessions if paid)
    all_minutes = sum(m for m, _, _ in sessions)
    assert totals["hours"] == round(all_minutes / 60, 2)
    assert totals["paid_hours"] == round(paid_minutes / 60, 2)
    assert abs(totals["hours"] - totals["paid_hours"] - totals["pro_bono_hours"]) < 0.011
    assert totals["clients"] == len(set(clients))
    for c in CREDENTIALS:
        met = all_minutes / 60 >= c.hours - 0.005 and paid_minutes / 60 >= c.paid_hours - 0.005 \
            and len(set(clients)) >= c.clients
        assert totals["credentials"][c.name]["met"] == met
    assert not totals["credentials"]["PCC"]["met"] or totals["credentials"]["ACC"]["met"]  # PCC implies ACC


@settings(max_examples=25, deadline=None)
@given(sessions=st.lists(st.tuples(st.integers(15, 240), st.sampled_from([None, "paid", "pro_bono"])),
                         min_size=1, max_size=8),
       contract=st.sampled_from(["paid", "pro_bono"]))
def test_the_log_of_random_sessions_equals_what_was_recorded(sessions, contract) -> None:
    app = new_tracker("memory:", FakeClock())
    cast, eid = engagement(app, billing=contract)
    for n, (minutes, billing) in enumerate(sessions):
        app.engagements.record_session(eid, cast.coach, START + timedelta(days=11 + n), minutes, ["delegation"], billing=billing)
    log = app.engagements.coach_hours(cast.coach)
    paid = [m for m, b in sessions if (b or contract) == "paid"]
    assert [ln["minutes"] for ln in log["lines"]] == [m for m, _ in sessions]
    assert log["totals"]["paid_hours"] == round(sum(paid) / 60, 2)
    assert log["totals"]["hours"] == round(sum(m for m, _ in sessions) / 60, 2)
    assert log["totals"]["sessions"] == len(sessions) and log["totals"]["clients"] == 1
    assert app.engagements.coach_hours(Actor(cast.other_coach.party, Role.COACH))["lines"] == []
    app.close()


def test_cohort_work_is_a_line_with_its_group_size_and_no_name(tracker) -> None:
    from datetime import date

    from engagement_tracker.domain.errors import RuleViolation
    from tests.support import CohortCast, frame_cohort

    cc = CohortCast.register(tracker)
    framing = frame_cohort(tracker, cc, start=False)
    with pytest.raises(RuleViolation):  # in framing: nothing to log yet, nothing written
        tracker.cohorts.log_coaching(framing, cc.coach, date(2026, 2, 2), 90)
    cid = frame_cohort(tracker, cc)
    before = event_count(tracker)
    with pytest.raises(NotPermitted):  # a member does not log the coach's hours
        tracker.cohorts.log_coaching(cid, cc.members[0], date(2026, 2, 2), 90)
    with pytest.raises(InvalidInput, match="duration_minutes"):
        tracker.cohorts.log_coaching(cid, cc.coach, date(2026, 2, 2), 0)
    with pytest.raises(InvalidInput, match="billing"):
        tracker.cohorts.log_coaching(cid, cc.coach, date(2026, 2, 2), 90, "free")
    assert event_count(tracker) == before
    assert tracker.cohorts.log_coaching(cid, cc.coach, date(2026, 2, 2), 90).value == 5
    tracker.cohorts.log_coaching(cid, cc.coach, date(2026, 2, 9), 60, "pro_bono", command_id="ritual-2")
    tracker.cohorts.log_coaching(cid, cc.coach, date(2026, 2, 9), 60, "pro_bono", command_id="ritual-2")  # a retry
    log = tracker.engagements.coach_hours(cc.coach)
    cohort_lines = [line for line in log["lines"] if line["coaching"] == "cohort"]
    assert [(x["held_on"], x["minutes"], x["group_size"], x["paid_hours"], x["pro_bono_hours"]) for x in cohort_lines] \
        == [("2026-02-02", 90, 5, 1.5, 0.0), ("2026-02-09", 60, 5, 0.0, 1.0)]
    assert all(x["client"] == CONFIDENTIAL and x["engagement"] == str(cid) for x in cohort_lines)
    assert log["totals"]["hours"] >= 2.5
    for line in cohort_lines:  # an auditor finds each line's event in the cohort's history
        event = list(tracker.events.get(cid))[line["version"] - 1]
        assert type(event).__name__ == "CoachingLogged" and event.duration_minutes == line["minutes"]
