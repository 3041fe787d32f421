"""The directory read model lists what loading every aggregate gives, on every backend.

After the embedded catch-up (what ``etrack engagements`` / ``etrack cohorts`` do), after a
rebuild, and after a runner that caught up page by page while the sample was being recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import IntegrityError, Tracking

from engagement_tracker.adapters.bootstrap import directory, open_tracker
from engagement_tracker.adapters.cli import cli
from engagement_tracker.adapters.demo import ScriptedClock, access_actor, seed
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.projections import tracking
from engagement_tracker.projections.directory import COHORT, ENGAGEMENT, Directory, Entry

Row = tuple[Any, ...]


def loaded_engagements(app: EngagementTracker) -> list[Row]:
    """Every engagement, loaded, as the directory should list it (in the order opened)."""
    rows = []
    for eid in app.engagements.ids():
        e = app.engagements.get(eid)
        rows.append((str(e.id), ENGAGEMENT, e.state, e.org_unit, e.coachee_kind, e.sessions_held, 0, 0, 0,
                     len(e.missed), e.created_on.date().isoformat(), e.modified_on.isoformat()))
    return rows


def loaded_cohorts(app: EngagementTracker) -> list[Row]:
    rows = []
    for cid in app.cohorts.ids():
        c = app.cohorts.get(cid)
        rows.append((str(c.id), COHORT, c.state, c.org_unit, None, 0, len(c.members), c.rituals_held,
                     c.decisions_recorded, len(c.missed), c.created_on.date().isoformat(), c.modified_on.isoformat()))
    return rows


def listed(entries: list[Entry]) -> list[Row]:
    return [(e.id, e.kind, e.state, e.org_unit, e.coachee_kind, e.sessions, e.members, e.rituals, e.decisions,
             e.missed_deadlines, e.opened_at, e.updated_at) for e in entries]


def directory_of(runner: ProjectionRunner) -> Directory:
    (found,) = [p for p in runner.projections if isinstance(p, Directory)]
    return found


def assert_lists_the_aggregates(d: Directory, app: EngagementTracker) -> None:
    engagements, cohorts = loaded_engagements(app), loaded_cohorts(app)
    assert len(engagements) == 15 and len(cohorts) == 2
    assert listed(d.view.listing(ENGAGEMENT)) == engagements
    assert listed(d.view.listing(COHORT)) == cohorts
    positions = [e.position for e in d.view.listing()]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.fixture
def demo_app(store_url: str) -> Iterator[tuple[EngagementTracker, ScriptedClock]]:
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker(store_url, clock=clock)
    try:
        yield app, clock
    finally:
        app.close()


def test_the_directory_lists_what_loading_every_aggregate_gives(
    demo_app: tuple[EngagementTracker, ScriptedClock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, clock = demo_app
    monkeypatch.setattr(tracking, "PAGE", 37)  # pages cut through aggregates: rows carry over between pages
    runner = ProjectionRunner(app)
    seed(app, clock, progress=lambda _: runner.catch_up())  # a runner following the writes
    runner.catch_up()
    followed = directory_of(runner)
    assert followed.position() == app.recorder.max_notification_id()
    assert_lists_the_aggregates(followed, app)

    embedded = directory(app)  # what etrack engagements / cohorts read: caught up first
    assert listed(embedded.engagements()) == loaded_engagements(app)
    assert listed(embedded.cohorts()) == loaded_cohorts(app)
    assert embedded.catch_up() == 0, "caught up: nothing is projected twice"
    assert_lists_the_aggregates(embedded, app)

    runner.rebuild()
    assert_lists_the_aggregates(directory_of(runner), app)


def test_a_position_is_projected_once(demo_app: tuple[EngagementTracker, ScriptedClock]) -> None:
    app, clock = demo_app
    seed(app, clock)
    d = directory(app)
    d.catch_up()
    before = d.view.listing()
    with pytest.raises(IntegrityError):
        d.view.save(before[:1], Tracking(d.name, d.position()))  # the same position again: refused whole
    assert d.view.listing() == before
    d.rebuild()
    assert d.view.listing() == before


def test_the_list_commands_read_the_directory(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker(url, clock=clock)
    try:
        seed(app, clock)  # recorded without any projection catching up
        # the rows as the commands built them by loading every aggregate, before the directory
        want_engagements = [
            {"id": str(e.id), "state": e.state, "coachee_kind": e.coachee_kind, "org_unit": e.org_unit,
             "sessions": e.sessions_held, "opened_at": e.created_on.date().isoformat()}
            for e in map(app.engagements.get, app.engagements.ids())]
        want_cohorts = [
            {"id": str(c.id), "state": c.state, "org_unit": c.org_unit, "members": len(c.members),
             "rituals": c.rituals_held, "decisions": c.decisions_recorded, "missed_deadlines": len(c.missed)}
            for c in map(app.cohorts.get, app.cohorts.ids())]
    finally:
        app.close()
    runner = CliRunner()
    auditor = ["--as", str(access_actor("auditor"))]  # the demo's auditor lists them
    got = runner.invoke(cli, ["--db", url, "engagements", *auditor, "--format", "json"], catch_exceptions=False)
    assert json.loads(got.output) == want_engagements
    got = runner.invoke(cli, ["--db", url, "cohorts", *auditor, "--format", "json"], catch_exceptions=False)
    assert json.loads(got.output) == want_cohorts
    rebuilt = runner.invoke(cli, ["--db", url, "projections", "rebuild"], catch_exceptions=False)
    assert "directory: 15 engagements, 2 cohorts" in rebuilt.output
