"""Retention over random histories (issue #27, item 6): after tick at any time, exactly the session
content past its retention is erased (its key destroyed, one SessionContentErased each), nothing else
(the diagnosis and the running engagements' notes stay readable); a rerun of tick erases nothing twice;
the audit log still verifies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Role
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.retention import session_subject, years_after
from engagement_tracker.domain.values import Actor
from tests.support import START, Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement

DIAGNOSIS = "stakes and first objectives"  # what drive() records
fates = st.sampled_from(["running", "closed", "abandoned", "declined"])
histories = st.lists(st.tuples(fates, st.integers(0, 2), st.integers(0, 400)), min_size=1, max_size=3)
# (fate, sessions with notes, days the clock moves on after it)
ticks = st.lists(st.integers(0, 6 * 366), min_size=1, max_size=4)  # days after the last event, any order


def build(app: Any, fate: str, notes: int, n: int) -> tuple[UUID, list[str]]:
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    if fate == "declined":
        drive(app, cast, eid, "met")
        app.engagements.decline(eid, cast.coach, "mismatch")
        return eid, []
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    texts = [f"engagement {n}, session {i}: thinking of leaving" for i in range(notes)]
    for i, text in enumerate(texts):
        app.engagements.record_session(eid, cast.coach, START + timedelta(days=20 + i), 60, ["career"], text)
    if fate == "closed":
        c = cast.coach
        app.engagements.hold_closing_session(eid, c, START + timedelta(days=100),
                                             dict.fromkeys(keys["indicators"], ("achieved", "measured")))
        app.engagements.hold_closing_meeting(eid, c, START + timedelta(days=110), "what changed", "keep it")
    elif fate == "abandoned":
        app.engagements.abandon(eid, cast.sponsor, "sponsor_withdrew")
    return eid, texts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, days=ticks, years=st.integers(1, 3))
def test_tick_erases_exactly_the_session_content_past_retention(history: list[tuple[str, int, int]],
                                                                days: list[int], years: int) -> None:
    clock = FakeClock()
    app = new_tracker("memory:", clock, ETRACK_RETENTION_SESSION_CONTENT_YEARS=str(years))
    built = []
    for n, (fate, notes, later) in enumerate(history):
        built.append(build(app, fate, notes, n))
        clock.now += timedelta(days=later)
    auditor = grant(app, granted(app, Role.ADMIN, "DPO").party, Role.AUDITOR)
    start = clock.now
    latest: datetime | None = None
    erased_before: set[UUID] = set()
    for d in days:
        now = start + timedelta(days=d)
        latest = now if latest is None else max(latest, now)
        rows = [r for r in app.tick(now).value if r["deadline"] == "retention:session_content"]
        before = app.recorder.max_notification_id()
        assert app.tick(now).value == []  # a rerun records nothing, erases nothing twice
        assert app.recorder.max_notification_id() == before
        for eid, texts in built:
            e = app.engagements.get(eid)
            due = None if e.ended_at is None else years_after(e.ended_at, years)
            erased = due is not None and due <= latest
            assert (e.session_content_erased_at is not None) == erased
            assert app.sealer.is_erased(session_subject(e.coachee, eid)) == erased
            assert (str(eid) in {r["id"] for r in rows}) == (erased and eid not in erased_before)  # once each
            if erased:
                erased_before.add(eid)
            view = app.engagements.view(eid, Actor(e.coach, Role.COACH))
            notes = [s["notes"] for s in view.get("sessions", [])]
            assert notes == (["[erased]"] * len(texts) if erased else texts)
            if texts:
                assert view["diagnosis"] == DIAGNOSIS  # nothing else of the engagement is erased
            assert not app.sealer.is_erased(str(e.coachee))  # nor the person
            erasures = [ev for ev in app.events.get(eid) if isinstance(ev, Engagement.SessionContentErased)]
            assert len(erasures) == (1 if erased else 0)
            if erasures:
                assert erasures[0].due_at == due and erasures[0].subject == session_subject(e.coachee, eid)
                assert erasures[0].actor.role is Role.SYSTEM
    service = bootstrap.audit_service(app)
    service.trail.catch_up()
    assert service.verify(auditor).ok
    app.close()

