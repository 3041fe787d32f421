"""The demo's recorded times never run backwards inside one engagement or cohort, so a replay at
a time returns only what was recorded by then."""

from __future__ import annotations

from datetime import UTC, datetime

from engagement_tracker import open_tracker
from engagement_tracker.adapters.demo import ScriptedClock, seed


def test_recorded_times_only_move_forward_within_each_aggregate() -> None:
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker("memory:", clock=clock)
    seed(app, clock)
    ids = [*app.engagements.ids(), *app.cohorts.ids()]
    assert len(ids) == 17
    for agg_id in ids:
        times = [e.timestamp for e in app.events.get(agg_id)]
        assert times == sorted(times), f"{agg_id}: recorded times run backwards"
    app.close()
