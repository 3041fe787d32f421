"""Snapshots are taken lazily: none at import; the first command that loads a long history snapshots
it, and later loads start from that snapshot and give the same aggregate as a full replay."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime

from bench.workload import engagement
from engagement_tracker.domain import Engagement
from tests.support import Cast, FakeClock, new_tracker

START = datetime(2025, 1, 6, 9, tzinfo=UTC)


def _snapshot_versions(app: object, eid: object) -> list[int]:
    snapshots = app.snapshots  # type: ignore[attr-defined]
    return [s.originator_version for s in snapshots.get(eid)]


def test_import_takes_no_snapshot_and_the_first_command_takes_one(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    coach = Cast.register(app).coach
    seed = next(s for s in range(50) if engagement(app.sealer, random.Random(s), 45, START, coach).state
                == "accompaniment.in_progress")  # one the workload leaves open
    history = engagement(app.sealer, random.Random(seed), 45, START, coach)
    imported = history.version
    assert imported >= 40  # two intervals of 20 lie in it
    app.save(history)  # a bulk import: one save, no command's load
    assert _snapshot_versions(app, history.id) == []

    app.engagements.record_session(history.id, coach, date(2025, 3, 1), 60, ["delegation"], "a note")
    assert _snapshot_versions(app, history.id) == [imported + 1]  # lazily, at the first command

    app.engagements.record_session(history.id, coach, date(2025, 3, 2), 60, ["delegation"], "another note")
    assert _snapshot_versions(app, history.id) == [imported + 1]  # not again until 20 more events

    replayed = app.repository.get(history.id, version=imported + 2)  # every event from the first
    loaded = app.engagements.get(history.id)  # from the snapshot
    assert isinstance(loaded, Engagement)
    assert loaded == replayed
    app.close()


def test_commands_snapshot_every_interval(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2")
    from tests.support import in_accompaniment

    cast, eid = in_accompaniment(app)
    start = app.engagements.get(eid).version
    for day in range(1, 4):  # the contract allows 3 sessions
        app.engagements.record_session(eid, cast.coach, date(2026, 2, day), 60, ["delegation"], "a note")
    versions = _snapshot_versions(app, eid)
    assert versions, "commands took snapshots"
    assert all(b - a >= 2 for a, b in itertools.pairwise(versions))  # never closer than the interval
    assert app.engagements.get(eid).version - versions[-1] < 2  # a load replays fewer than an interval
    assert app.engagements.get(eid) == app.repository.get(eid, version=start + 3)
    app.close()


def test_a_commands_snapshot_is_written_in_the_transaction_of_its_events(durable_store_url: str) -> None:
    """The recorder stores the snapshot a command makes due beside its events, in one transaction:
    the separate snapshot write (which failed here) is not used, and nothing is counted as failed."""
    app = new_tracker(durable_store_url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2")
    from tests.support import in_accompaniment

    assert app.recorder.snapshots_table is not None  # type: ignore[attr-defined]
    cast, eid = in_accompaniment(app)

    def apart(*_: object, **__: object) -> None:
        raise AssertionError("a snapshot written apart from its events")

    app.snapshots.put = apart  # type: ignore[method-assign, union-attr]
    before = app.engagements.get(eid).version
    app.engagements.record_session(eid, cast.coach, date(2026, 2, 1), 60, ["delegation"], "a note")
    app.engagements.record_session(eid, cast.coach, date(2026, 2, 2), 60, ["delegation"], "a note")
    versions = _snapshot_versions(app, eid)
    assert versions and versions[-1] > before and app.snapshot_failures == 0
    assert app.engagements.get(eid) == app.repository.get(eid, version=app.engagements.get(eid).version)
    app.close()
