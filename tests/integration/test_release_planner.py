"""``etrack releases plan`` (issue #24, item 3) on the demo, on SQLite and PostgreSQL: it records
nothing, tells what asking each shape would answer, and follows the ledger as releases are made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import EngagementTracker
from tests.integration.test_releases_all_or_nothing import ANALYST, AS_ANALYST, etrack, recorded
from tests.support import new_tracker


@pytest.fixture
def demo(durable_store_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, EngagementTracker]]:
    code, err = etrack(capsys, durable_store_url, "demo")
    assert code == 0, err
    app = new_tracker(durable_store_url)
    try:
        yield durable_store_url, app
    finally:
        app.close()


def test_the_plan_records_nothing_and_follows_the_ledger(demo: tuple[str, EngagementTracker],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    url, app = demo
    before = recorded(app)
    service = bootstrap.analyst_service(app)
    first = {(r["family"], r["by"]): r["status"] for r in service.plan(ANALYST, "2026")}
    assert recorded(app) == before
    # activity by metric over 2026 is closed: the calendar recorded Q3 at the demo's tick, and Q4 has one fact
    assert first[("signal", "theme")] == "releasable" and first[("activity", "unit")] == "releasable"
    code, err = etrack(capsys, url, "releases", "plan", "--period", "2026", "--as", AS_ANALYST, "--format", "csv")
    assert code == 0, err
    assert recorded(app) == before
    service.summary(ANALYST, ["theme"], period="year", since="2026-01", until="2026-12")  # as planned: released
    assert recorded(app)[0] == before[0] + 1
    after = {(r["family"], r["by"]): r["status"] for r in service.plan(ANALYST, "2026")}
    assert after[("signal", "theme")] == "releasable"  # the same query again is always accepted
    assert set(after.values()) <= {"releasable", "closed", "reserved", "empty", "cut"}
    assert recorded(app)[0] == before[0] + 1
