"""Every event type stored and reloaded through a real SQLite file, with snapshots on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from eventsourcing.domain import Aggregate

from engagement_tracker.domain import Engagement, Party, Role
from engagement_tracker.domain.coach_load import CoachLoad
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.templates import ProgrammeTemplates
from tests.support import START, Cast, CohortCast, FakeClock, drive, frame_cohort, granted, new_tracker, open_engagement, tick_at


def all_event_topics(cls: type[Aggregate]) -> set[str]:
    return {v.TOPIC for v in vars(cls).values() if isinstance(v, type) and getattr(v, "TOPIC", None)}


def record_every_event_type(app, cast: Cast) -> list:  # type: ignore[no-untyped-def]
    dpo = granted(app, Role.ADMIN, "DPO")
    app.templates.declare("leadership", "engagement", dpo, objectives=["Delegate decisions"], indicators=[
        {"objective": "O1", "kind": "observable_result", "label": "Decisions delegated", "unit": "per week"}])
    app.templates.declare("lead-time", "cohort", dpo, rituals=["weekly_standup"], roles=["facilitator", "scribe"])
    full = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                                template="leadership").value
    keys = drive(app, cast, full, "accompaniment.in_progress")
    day = START + timedelta(days=20)
    app.engagements.record_session(full, cast.coach, day, 90, ["delegation", "priorities"], "notes")
    planned = datetime.combine(day + timedelta(days=7), datetime.min.time(), UTC) + timedelta(hours=14)
    p1 = app.sessions.schedule_session(full, cast.coach, planned, 60, "Room 4, Lyon").value
    p2 = app.sessions.schedule_session(full, cast.coachee, planned + timedelta(days=14), 60, "https://meet.example/a").value
    app.sessions.reschedule_session(full, cast.coachee, p1, planned + timedelta(days=1), 90, "Room 5, Lyon")
    app.sessions.cancel_session(full, cast.coach, p2)
    app.sessions.hold_scheduled_session(full, cast.coach, p1, ["delegation"], "held as planned")
    a1 = app.engagements.commit_action(full, cast.coachee, "an action", day).value
    app.engagements.complete_action(full, cast.coachee, a1)
    a2 = app.engagements.commit_action(full, cast.coachee, "another").value
    app.engagements.drop_action(full, cast.coachee, a2)
    app.engagements.measure_indicator(full, cast.coachee, keys["indicators"][1], 2.5, day)
    app.engagements.request_review(full, cast.sponsor)
    app.engagements.hold_review(full, cast.coach, day, "summary")
    app.engagements.suspend(full, cast.coachee, "leave")
    app.engagements.resume(full, cast.coachee)
    app.engagements.propose_amendment(full, cast.coachee, extra_sessions=1, new_end=START + timedelta(days=200))
    app.engagements.agree_amendment(full, cast.coach)
    app.engagements.agree_amendment(full, cast.sponsor)
    app.engagements.record_signal(full, cast.coach, "turnover", "management", "drains", 4, "Operations", day, "two left")
    app.engagements.propose_disclosure(full, cast.coachee, ["objectives", "indicators"])
    app.engagements.accept_disclosure(full, cast.sponsor)
    app.engagements.hold_closing_session(full, cast.coach, day + timedelta(days=50),
                             dict.fromkeys(keys["indicators"], ("partly", "evidence")))
    app.engagements.hold_closing_meeting(full, cast.coach, day + timedelta(days=60), "synthesis", "recommendations")
    app.engagements.consent_to_icf_log(full, cast.coachee, True)
    app.engagements.leave_testimonial(full, cast.coachee, {"would_recommend": 5}, "it helped", quote_consent=True)
    declined = open_engagement(app, cast)
    drive(app, cast, declined, "met")
    app.engagements.decline(declined, cast.coach, "mismatch")
    abandoned = open_engagement(app, cast)
    app.engagements.abandon(abandoned, cast.sponsor, "sponsor_withdrew", "budget")
    team_cast = Cast.register(app, team=True)
    team = open_engagement(app, team_cast)
    drive(app, team_cast, team, "accompaniment.in_progress")
    app.engagements.hold_quarterly_review(team, team_cast.sponsor, START + timedelta(days=90), True, coaches_added=1)
    app.engagements.commit_action(team, team_cast.coachee, "pair on incidents", START + timedelta(days=30))
    tick_at(app, datetime(2027, 1, 1, tzinfo=UTC))  # contract end, action and quarters missed
    app.engagements.abandon(team, team_cast.coach, "other")  # frees the coach's team slot
    record_every_cohort_event_type(app)
    leaver = app.parties.register("person", "Someone Who Left").value
    app.subjects.rectify(leaver, dpo, name="Someone Who Has Left", contact="left@example.org")
    app.parties.erase(leaver, dpo)
    return [full, declined, abandoned, team]


def record_every_cohort_event_type(app) -> None:  # type: ignore[no-untyped-def]
    cc = CohortCast.register(app)
    c = app.cohorts
    cid = frame_cohort(app, cc, members=6)
    app.cohorts.open(cc.coach, "Supply Chain", "Cohort from a template", template="lead-time")
    m = list(cc.members)
    c.hold_ritual(cid, m[0], "weekly_standup", date(2026, 2, 2), m[0].party, m[1].party, m[2].party,
                  "checklist", "pick-list checklist v2")
    c.record_decision(cid, m[1], "extend the trial to site B", "M1", 61.5, date(2026, 2, 2), m[1].party)
    c.start_experiment(cid, m[0], "E1")
    c.end_experiment(cid, m[0], "E1")
    c.set_key_result_target(cid, m[0], 1, "M1", 72)
    c.record_reading(cid, m[2], "M1", 96.5, date(2026, 2, 2), 1)
    since = max(date(2026, 2, 2), c.get(cid).created_on.date())  # coaching time and signals: not before the cohort
    c.log_coaching(cid, cc.coach, since, 60)
    c.give_feedback(cid, m[2], "E1", "errors down by a third")
    c.update_playbook(cid, m[0], "daily-picklist", "standardised", "sites with more than 200 orders a day")
    c.complete_checkpoint(cid, m[0], 1)
    c.record_signal(cid, cc.coach, "energy_gain", "business", "gives", 3, "Supply Chain", since + timedelta(days=1))
    c.remove_member(cid, m[5], m[5].party)
    c.begin_closing(cid, cc.coach)
    c.record_closing_synthesis(cid, m[0], "lead time down 20%")
    c.record_sharing(cid, m[1], "shared with the ops committee")
    c.prepare_scale_up(cid, m[2], "two more sites in Q3")
    c.leave_testimonial(cid, m[1], {"quality_of_listening": 4})
    c.close(cid, cc.coach)
    other = frame_cohort(app, cc, members=5)
    c.start_experiment(other, m[0], "E2")
    c.end_experiment(other, m[0], "E2")
    tick_at(app, max(datetime(2027, 1, 1, tzinfo=UTC), app.clock() + timedelta(days=365)))  # well past its deadlines
    c.abandon(other, cc.coach, "programme stopped")


def test_every_event_type_round_trips_through_sqlite_with_snapshots(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    app = new_tracker(url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2", ETRACK_RETENTION_SESSION_CONTENT_YEARS="1")
    cast = Cast.register(app)
    ids = record_every_event_type(app, cast)
    tick_at(app, app.clock() + timedelta(days=800))  # the retention policy erases the ended ones' session notes
    live = {eid: app.engagements.get(eid) for eid in ids}
    live_cohorts = {cid: app.cohorts.get(cid) for cid in app.cohorts.ids()}
    assert len(live_cohorts) == 3  # one opened from a template
    app.close()

    reopened = new_tracker(url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2")
    notifications = reopened.recorder.select_notifications(1, 10_000)
    stored_topics = {n.topic for n in notifications}
    assert all_event_topics(Engagement) <= stored_topics
    assert all_event_topics(Party) <= stored_topics
    assert all_event_topics(Cohort) <= stored_topics
    assert all_event_topics(CoachLoad) <= stored_topics
    assert all_event_topics(ProgrammeTemplates) <= stored_topics

    mapper = reopened.mapper
    for n in notifications:
        event = mapper.to_domain_event(n)
        assert mapper.to_stored_event(event).state == n.state, n.topic  # the format is stable

    assert list(reopened.cohorts.ids()) == list(live_cohorts)
    for cid, cohort in live_cohorts.items():
        assert reopened.cohorts.get(cid) == cohort
    for eid, aggregate in live.items():
        snapshots = list(reopened.snapshots.get(eid))
        via_snapshot = reopened.engagements.get(eid)
        assert via_snapshot == aggregate
        replayed = None
        for event in reopened.events.get(eid):
            replayed = event.mutate(replayed)
        assert replayed == aggregate
        if aggregate.version >= 2:
            assert snapshots, "snapshots were expected"
    reopened.close()


def test_history_at_every_version_reloads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    app = new_tracker(url)
    cast = Cast.register(app)
    full = record_every_event_type(app, cast)[0]
    states = [app.engagements.get(full, version=v).state for v in range(1, app.engagements.get(full).version + 1)]
    assert states[0] == "framing.first_meeting" and states[-1] == "closed"
    assert [row["state"] for row in app.engagements.timeline(full, cast.coach)] == states
    app.close()
