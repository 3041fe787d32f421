"""tick(now) is idempotent: random histories, random clocks, any order of ticks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.support import START, Cast, CohortCast, FakeClock, drive, frame_cohort, new_tracker, open_engagement

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

histories = st.fixed_dictionaries({
    "team": st.booleans(),
    "actions": st.lists(st.tuples(st.integers(10, 200), st.booleans()), max_size=4),  # (due day, completed)
    "reviews": st.integers(0, 2),
    "experiments_ended": st.lists(st.integers(0, 90), max_size=2),  # hours after frame
    "checkpoints": st.sets(st.integers(1, 4), max_size=4),
})
tick_days = st.lists(st.integers(0, 500), min_size=1, max_size=6)


@given(history=histories, ticks=tick_days)
def test_ticking_in_any_order_records_each_deadline_exactly_once(history: dict, ticks: list[int]) -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app, team=history["team"])
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    for due, completed in history["actions"]:
        key = app.engagements.commit_action(eid, cast.coachee, "an action", START + timedelta(days=due)).value
        if completed:
            app.engagements.complete_action(eid, cast.coachee, key)
    for n in range(history["reviews"]):
        if history["team"]:
            app.engagements.hold_quarterly_review(eid, cast.coach, START + timedelta(days=90 * (n + 1)), True)
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    for n, _hours in enumerate(history["experiments_ended"]):
        app.cohorts.start_experiment(cid, cc.members[0], f"E{n + 1}")
        app.cohorts.end_experiment(cid, cc.members[0], f"E{n + 1}")
    for week in history["checkpoints"]:
        app.cohorts.complete_checkpoint(cid, cc.members[0], week)

    times = [EPOCH + timedelta(days=d) for d in ticks]
    latest = max(times)
    expected = {("engagement", k) for k, _ in app.engagements.get(eid).due_deadlines(latest)} | {
        ("cohort", k) for k, _ in app.cohorts.get(cid).due_deadlines(latest)}

    recorded = [row for t in times for row in app.tick(t).value]
    counts = Counter((r["kind"], r["deadline"]) for r in recorded)
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values())
    for t in times:
        assert app.tick(t).value == []
    assert set(app.engagements.get(eid).missed) == {k for kind, k in expected if kind == "engagement"}
    app.close()
