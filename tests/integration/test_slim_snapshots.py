"""Slim aggregates: a snapshot holds what decisions need, so its size does not grow with history.

Sealed content (session notes, action descriptions, measurements, ...) stays in the events and
reaches the views through the record folded from them (``domain/engagement_record.py``). A
snapshot of an earlier layout is ignored: the engagement is replayed from its events.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.domain import Engagement, NotPermitted
from tests.support import START, Cast, CohortCast, drive, frame_cohort, new_tracker, open_engagement

LONG_NOTE = ("what the coachee said, at length. " * 30).strip()


def snapshot_bytes(app: Any, e: Engagement) -> int:
    """The stored size of a snapshot of ``e`` as the tracker would write it."""
    return len(app.mapper.to_stored_event(Snapshot.take(e)).state)


def test_the_snapshot_stays_the_same_size_from_version_20_to_160(store_url: str) -> None:
    app = new_tracker(store_url)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    sizes = {}
    day = START + timedelta(days=11)
    n = 0
    while app.engagements.get(eid).version < 160:
        n += 1
        app.engagements.propose_amendment(eid, cast.sponsor, extra_sessions=1)
        app.engagements.agree_amendment(eid, cast.coach)
        app.engagements.agree_amendment(eid, cast.coachee)
        app.engagements.record_session(eid, cast.coach, day + timedelta(days=n), 60, ["delegation"], LONG_NOTE)
        action = app.engagements.commit_action(eid, cast.coachee, LONG_NOTE, day + timedelta(days=n + 7)).value
        app.engagements.complete_action(eid, cast.coachee, action)
        app.engagements.measure_indicator(eid, cast.sponsor, keys["indicators"][0], 40 - n % 5, day + timedelta(days=n))
        e = app.engagements.get(eid)
        for mark in (20, 160):
            if mark not in sizes and e.version >= mark:
                sizes[mark] = snapshot_bytes(app, e)
    assert sizes[160] <= sizes[20] * 1.1, sizes
    record = app.engagements.record(eid)  # the content is all there, for the views
    assert len(record.sessions) == e.sessions_held == n and len(record.actions) == n == e.actions_committed
    assert len(record.measurements) == n and e.open_actions == {}
    view = app.engagements.view(eid, cast.coach)
    assert [s["notes"] for s in view["sessions"]] == [LONG_NOTE] * n
    app.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["session", "action", "done", "drop", "measure", "review"]),
                      min_size=1, max_size=30), interval=st.integers(2, 7))
def test_a_snapshot_loads_the_same_state_as_a_replay_from_the_events(
    steps: list[str], interval: int, tmp_path_factory: Any,
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('slim') / 'etrack.sqlite'}"
    app = new_tracker(url, ETRACK_SNAPSHOT_INTERVAL=str(interval))
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    day = START + timedelta(days=11)
    open_actions: list[str] = []
    for i, step in enumerate(steps):
        if step == "session" and app.engagements.get(eid).sessions_held < app.engagements.get(eid).sessions_allowed:
            app.engagements.record_session(eid, cast.coach, day + timedelta(days=i), 45, ["career"], f"note {i}")
        elif step == "action":
            open_actions.append(app.engagements.commit_action(eid, cast.coachee, f"action {i}", day + timedelta(days=i)).value)
        elif step in ("done", "drop") and open_actions:
            key = open_actions.pop(0)
            (app.engagements.complete_action if step == "done" else app.engagements.drop_action)(eid, cast.coachee, key)
        elif step == "measure":
            app.engagements.measure_indicator(eid, cast.sponsor, keys["indicators"][0], i, day + timedelta(days=i))
        elif step == "review":
            app.engagements.request_review(eid, cast.sponsor)
            app.engagements.hold_review(eid, cast.coach, day + timedelta(days=i))
    loaded = app.engagements.get(eid)  # from its latest snapshot, if one was taken
    replayed = app.engagements.record(eid).engagement  # from the first event
    assert app.snapshots is not None
    assert vars(loaded) == vars(replayed)
    assert sorted(loaded.open_actions) == sorted(open_actions)
    app.close()


def test_a_snapshot_of_the_earlier_layout_is_ignored(tmp_path: Any) -> None:
    """A version-2 snapshot (sessions and their notes inside) is skipped: replayed from the events."""
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, ETRACK_SNAPSHOT_INTERVAL="1000")
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["career"], "notes")
    e = app.engagements.get(eid)
    old = Snapshot.take(e)
    state = dict(old.state, class_version=2, sessions=[], indicators={}, objectives={})
    assert app.snapshots is not None
    app.snapshots.put([Snapshot(originator_id=e.id, originator_version=e.version, timestamp=e.modified_on,
                                topic=old.topic, state=state)])
    again = app.engagements.get(eid)
    assert vars(again) == vars(e) and again.sessions_held == 1
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=13), 60, ["career"], "more notes")
    assert app.engagements.get(eid).sessions_held == 2
    app.close()


def test_a_cached_aggregate_catches_up_with_another_writer(durable_store_url: str) -> None:
    """Aggregates are cached; every load fast-forwards with what another writer stored since."""
    first = new_tracker(durable_store_url)
    cast = Cast.register(first)
    eid = open_engagement(first, cast)
    drive(first, cast, eid, "accompaniment.in_progress")
    second = new_tracker(durable_store_url)
    assert first.repository.cache is not None and second.repository.cache is not None
    for n in range(1, 4):  # the contract allows 3
        writer = first if n % 2 else second
        assert writer.engagements.record_session(eid, cast.coach, START + timedelta(days=11 + n), 60, ["career"], None).value == n
    assert first.engagements.get(eid).sessions_held == second.engagements.get(eid).sessions_held == 3
    assert vars(first.engagements.get(eid)) == vars(first.engagements.record(eid).engagement)
    first.close()
    second.close()


def test_a_cohort_snapshot_stays_the_same_size_as_rituals_decisions_and_readings_pile_up(tmp_path: Any) -> None:
    """Rituals (with their artefacts), decisions and readings stay in their events: the snapshot keeps
    counts, each ritual's metrics keeper (one party id per ritual) and who held each role last."""
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", ETRACK_SNAPSHOT_INTERVAL="7")
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    c = app.cohorts
    m = cc.members
    metric = next(iter(c.get(cid).metrics))
    sizes = {}
    for n in range(40):
        day = date(2026, 2, 2) + timedelta(days=n)
        f, s, k = m[n % 5], m[(n + 1) % 5], m[(n + 2) % 5]
        number = c.hold_ritual(cid, f, "weekly_standup", day, f.party, s.party, k.party, "checklist", LONG_NOTE).value
        c.record_reading(cid, k, metric, 40 + n % 7, day, number)
        c.record_decision(cid, f, LONG_NOTE, metric, 41.5, day, s.party)
        cohort = c.get(cid)
        sizes[n] = snapshot_bytes(app, cohort)
    assert sizes[39] - sizes[4] <= 35 * 60, sizes  # at most a party id (and its JSON) per ritual
    record = c.record(cid)
    assert len(record.rituals) == len(record.decisions) == len(record.readings) == 40
    assert (cohort.rituals_held, cohort.decisions_recorded, cohort.readings_recorded) == (40, 40, 40)
    assert vars(cohort) == vars(record.cohort)  # loaded from a snapshot, or replayed: the same state
    view = c.view(cid, m[0])
    assert [r["artefact"] for r in view["ritual_list"]] == [LONG_NOTE] * 40
    assert len(view["metric_series"][metric]["readings"]) == 40
    with pytest.raises(NotPermitted, match="metrics keeper"):
        c.record_reading(cid, m[0], metric, 1.0, date(2026, 3, 30), 40)  # ritual 40's keeper is another member
    app.close()
