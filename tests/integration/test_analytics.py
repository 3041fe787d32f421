"""Analysts get released aggregates only: projection exactly once, region rule, SQL view, CLI."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.adapters.views.memory import MemoryAnalyticsView
from engagement_tracker.domain import Actor, DisclosureRisk, InvalidInput, NotPermitted, Role
from engagement_tracker.projections.analytics import AnalystService, release_rows, to_csv
from engagement_tracker.projections.anonymity import Level, build_cells, tally
from tests.support import START, Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def engagement_with_signals(app, n_signals: int, theme: str = "turnover", unit: str = "Operations"):  # type: ignore[no-untyped-def]
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    for i in range(n_signals):
        app.engagements.record_signal(eid, cast.coach, theme, "management", "drains", 3, unit, START + timedelta(days=30 * i))
    return cast, eid


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["turnover", "energy_gain"]), st.booleans()),
                     min_size=1, max_size=8))
def test_incremental_projection_equals_a_rebuild(plan) -> None:
    app = new_tracker("memory:", FakeClock())
    analytics = bootstrap.analytics(app, MemoryAnalyticsView())
    for n, theme, catch_up in plan:
        engagement_with_signals(app, n, theme)
        if catch_up:
            analytics.catch_up()
    analytics.catch_up()
    incremental = analytics.view.facts()
    assert analytics.catch_up() == 0  # exactly once
    fresh = bootstrap.analytics(app, MemoryAnalyticsView())
    fresh.catch_up()
    assert fresh.view.facts() == incremental
    for family in ("signal", "activity"):
        assert fresh.view.tallies(family) == analytics.view.tallies(family)
        assert fresh.view.tallies(family) == tally(f for f in incremental if f.family == family)
    assert analytics.rebuild() == len(incremental) and analytics.view.facts() == incremental
    assert sum(1 for f in incremental if f.family == "signal") == sum(n for n, _, _ in plan)
    app.close()


def test_only_analysts_and_admins_release(tracker) -> None:
    cast, _ = engagement_with_signals(tracker, 1)
    service = bootstrap.analyst_service(tracker)
    for actor in (cast.coach, cast.sponsor, Actor(cast.coach.party, Role.AUDITOR)):
        with pytest.raises(NotPermitted):
            service.summary(actor)
        with pytest.raises(NotPermitted):
            service.activity(actor)
    with pytest.raises(NotPermitted, match="holds no admin grant"):
        service.summary(Actor(cast.coach.party, Role.ADMIN))
    service.summary(grant(tracker, cast.coach.party, Role.ADMIN))


def test_a_release_differing_by_one_person_is_refused(tracker) -> None:
    for _ in range(6):
        engagement_with_signals(tracker, 2)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(tracker)
    first = service.summary(analyst, ["theme"], period="year")
    assert [r.value for r in first.released] == [12]
    assert service.summary(analyst, ["theme"], period="year").total == 12  # the same population again
    engagement_with_signals(tracker, 1)  # one more person
    with pytest.raises(DisclosureRisk, match="single out fewer than 5 persons"):
        service.summary(analyst, ["theme"], period="year")


def test_the_sql_view_holds_released_rows_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    for i in range(7):
        engagement_with_signals(app, 1, "turnover" if i < 6 else "misalignment", "Operations/Lyon")
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    rel = bootstrap.analyst_service(app).summary(analyst, ["theme", "unit"], period="year")
    app.close()
    con = sqlite3.connect(tmp_path / "etrack.sqlite")
    columns = [d[0] for d in con.execute("SELECT * FROM etrack_released").description]
    assert not {"persons", "source", "actor", "party"} & set(columns)
    rows = con.execute("SELECT theme, unit, value, status FROM etrack_released ORDER BY theme").fetchall()
    assert rows == [(r.dims["theme"], r.dims["unit"], r.value, r.status) for r in rel.rows]
    assert ("misalignment", "Operations/Lyon", None, "suppressed") in rows
    assert "reason" not in columns
    assert not UUID_RE.search(repr(rows))


def test_activity_counts_the_lifecycle(tracker) -> None:
    for _ in range(5):
        cast, eid = engagement_with_signals(tracker, 0)
        tracker.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], None)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    rel = bootstrap.analyst_service(tracker).activity(analyst, ["metric"])
    values = {r.dims["metric"]: r.value for r in rel.released}
    assert values == {"engagements_started": 5, "sessions_held": 5}
    rows = release_rows(rel)  # the one model: the CLI's rows
    assert rows[-1] == {"scope": "total", "metric": None, "value": 10, "status": "released", "level": "quarter",
                        "unit_depth": None, "k": 5, "privacy": "exact"}
    assert to_csv(rows).splitlines()[0] == "scope,metric,value,status,level,unit_depth,k,privacy"


def test_the_demo_then_a_json_summary_holds_no_cell_below_k_and_no_identifier(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}

    def etrack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env)

    assert etrack("demo").returncode == 0
    made_up = etrack("signals", "summary", "--as", "analyst:00000000-0000-4000-8000-00000000a11a")
    assert made_up.returncode == 3 and "holds no analyst grant" in made_up.stderr
    analyst = str(access_actor("analyst"))  # the demo grants its analyst
    proc = etrack("signals", "summary", "--as", analyst, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)  # an array of rows: cells, then the total marked scope=total
    assert not UUID_RE.search(proc.stdout)
    cells_out = [r for r in rows if r["scope"] == "cell"]
    assert [r["scope"] for r in rows] == ["cell"] * len(cells_out) + ["total"]
    assert any(r["status"] == "released" for r in cells_out) and {r["k"] for r in rows} == {5}
    by = ["theme", "period"]
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}")
    facts = [f for f in bootstrap.analytics(app).view.facts() if f.family == "signal"]
    app.close()
    cells = build_cells(facts, by, Level(rows[0]["level"], rows[0]["unit_depth"]))
    for row in cells_out:
        cell = cells[tuple(row[d] for d in by)]
        if row["status"] == "released":
            assert len(cell.persons) >= 5 and row["value"] == cell.facts
        else:
            assert row["value"] is None and row["status"] == "suppressed" and "reason" not in row
    assert rows[-1]["value"] == len(facts)  # the total counts every fact, suppressed ones included
    # a window of the first quarter (the whole year's activity is closed once the calendar recorded Q3)
    csv_window = etrack("activity", "--as", analyst, "--since", "2026-01", "--until", "2026-03", "--format", "csv")
    assert csv_window.returncode == 0, csv_window.stderr
    assert csv_window.stdout.splitlines()[0].startswith("scope,metric,period,value,status,level")
    cut = etrack("activity", "--as", analyst, "--period", "quarter", "--since", "2026-02", "--format", "json")
    assert cut.returncode != 0 and "start the window at 2026-01" in cut.stderr and not cut.stdout


def test_a_window_of_months_releases_only_its_cells(tracker) -> None:
    for _ in range(6):
        engagement_with_signals(tracker, 3)  # one signal a month, three months running
    months = sorted({(START + timedelta(days=30 * i)).strftime("%Y-%m") for i in range(3)})
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(tracker)
    whole = service.summary(analyst, ["theme", "period"])
    assert sorted(r.dims["period"] for r in whole.released) == months and whole.total == 18
    later = service.summary(analyst, ["theme", "period"], since=months[1])
    assert sorted(r.dims["period"] for r in later.released) == months[1:] and later.total == 12
    one = service.summary(analyst, ["theme", "period"], since=months[1], until=months[1])
    assert [(r.dims["period"], r.value) for r in one.released] == [(months[1], 6)]
    ledger = tracker_ledger(service)
    for since, until in (("2026-13", None), ("26-01", None), (months[2], months[0]), (None, 202601),
                         ("\u0662\u0660\u0662\u0666-01", None)):  # Arabic-Indic digits are not a year
        with pytest.raises(InvalidInput):
            service.summary(analyst, ["theme", "period"], since=since, until=until)  # type: ignore[arg-type]
    assert tracker_ledger(service) == ledger  # a refused query records nothing


def tracker_ledger(service: AnalystService) -> int:
    return len(service.analytics.view.ledger("signal"))


def test_a_window_that_cuts_a_period_is_refused_before_anything_is_recorded(tracker) -> None:
    for _ in range(6):
        engagement_with_signals(tracker, 3)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(tracker)
    quarter_start = f"{START.year}-{(START.month - 1) // 3 * 3 + 1:02d}"
    inside = f"{START.year}-{(START.month - 1) // 3 * 3 + 2:02d}"
    with pytest.raises(InvalidInput, match=f"start the window at {quarter_start}"):
        service.summary(analyst, ["theme", "period"], period="quarter", since=inside)
    assert tracker_ledger(service) == 0
    rel = service.summary(analyst, ["theme", "period"], period="quarter", since=quarter_start)
    assert rel.released and all(r.dims["period"].endswith(("Q1", "Q2", "Q3", "Q4")) for r in rel.released)


def test_a_window_without_periods_in_the_answer_need_not_hold_whole_periods(tracker) -> None:
    for _ in range(6):
        engagement_with_signals(tracker, 3)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    inside = f"{START.year}-{(START.month - 1) // 3 * 3 + 2:02d}"
    rel = bootstrap.analyst_service(tracker).summary(analyst, ["theme"], period="quarter", since=inside)
    assert rel.released and rel.total == 12  # no period label is published, so none is cut
