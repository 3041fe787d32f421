"""``etrack demo --programme``: a programme of realistic size for analysts (issue #24, item 4).

About 150 coachees in 8 units over 8 quarters, a peer cohort per unit recording its metrics week
by week, recorded through the domain's commands on top of the sample; a rerun adds nothing. On it,
every section of every closed quarter's note is released (2025-Q1 to 2026-Q3), with trends.
(How long it takes to build is a benchmark figure, ``python -m bench --only demo``, not a test.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.demo import access_actor, demo_id
from engagement_tracker.adapters.demo_programme import PROGRAMME_COACHEES, PROGRAMME_UNITS
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import EngagementTracker
from engagement_tracker.domain.errors import EtrackError
from tests.integration.test_cli_and_demo import etrack

QUARTERS = [f"{year}-Q{q}" for year in (2025, 2026) for q in (1, 2, 3, 4)]


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, EngagementTracker]]:
    directory = tmp_path_factory.mktemp("programme")
    first = etrack("--db", f"sqlite:///{directory / 'etrack.sqlite'}", "demo", "--programme", cwd=directory).stdout
    app = open_tracker(f"sqlite:///{directory / 'etrack.sqlite'}")
    ProjectionRunner(app).catch_up()
    try:
        yield directory, first, app
    finally:
        app.close()


def test_the_programme_has_150_coachees_in_8_units(programme: tuple[Path, str, EngagementTracker]) -> None:
    _, first, app = programme
    engagements = [app.engagements.get(e) for e in app.engagements.ids()]
    assert len(engagements) == PROGRAMME_COACHEES == 150
    assert len({e.coachee for e in engagements}) == 150
    assert {e.org_unit for e in engagements} == set(PROGRAMME_UNITS)
    assert {e.state for e in engagements} >= {"closed", "accompaniment.in_progress", "declined", "abandoned"}
    assert "160 engagements and cohorts recorded now" in first  # 135 + 8 cohorts, then the sample: 15 + 2


def test_each_unit_has_a_cohort_recording_its_metrics_week_by_week(
        programme: tuple[Path, str, EngagementTracker]) -> None:
    _, _, app = programme
    for n in range(1, len(PROGRAMME_UNITS) + 1):
        cohort = app.cohorts.get(demo_id(f"programme-cohort-{n}"))
        assert cohort.org_unit == PROGRAMME_UNITS[n - 1]
        assert cohort.readings_recorded == 36  # 3 metrics x 12 weeks


def test_every_closed_quarter_s_note_shows_every_section_with_trends(
        programme: tuple[Path, str, EngagementTracker]) -> None:
    """After exploratory releases over the whole history, each closed quarter's synthesis note (the
    release calendar's sections, recorded by the build as a tick at each quarter's close would have):
    activity, signals by
    theme, signals by context and testimonial ratings released, none refused, and a trend over two
    periods or more for every theme: by month when the calendar's shapes compose by month, else by
    quarter (saying so) with the trend over the quarters the calendar released. The first quarter has
    no testimonial yet (the programme's first engagements close in 2025-Q2); the running quarter
    (2026-Q4, the demo's "now" is 2026-10-15) is asked directly, by month."""
    pytest.importorskip("matplotlib")
    from engagement_tracker.adapters.pages.synthesis import synthesis_data

    _, _, app = programme
    analyst = access_actor("analyst")
    explored = 0
    asked = [(by, period, *window) for by in (["theme", "unit"], ["context", "period"], ["unit"], ["theme", "context"])
             for period in ("month", "quarter") for window in ((None, None), ("2025-01", "2025-06"))]
    for by, period, since, until in asked:
        try:  # exploration first, over quarters no note has read yet
            app.analysts.summary(analyst, by, None, period, None, since, until)
            explored += 1
        except EtrackError:
            pass
    assert explored >= 1
    by_quarter = []
    for quarter in QUARTERS[:-1]:
        note = synthesis_data(app.analysts, analyst, quarter)
        assert note["calendar"], quarter
        for name in ("activity", "signals", "contexts", "testimonials"):
            section = note[name]
            assert section.refused is None, (quarter, name, section.refused)
            assert section.release is not None and (section.release.released or name == "testimonials"), (quarter, name)
        assert note["testimonials"].release.released or quarter == "2025-Q1", quarter
        assert note["trends"] and all(len(t["periods"]) >= 2 for t in note["trends"]), (quarter, note["trends"])
        if len({r["period"] for r in note["signals"].rows}) == 1:
            by_quarter.append(quarter)
            assert note["signals"].title == "Signals by theme and quarter", quarter
            assert note["signals"].release.level.time == "quarter", quarter
            assert {p for t in note["trends"] for p in t["periods"]} >= {quarter}
        assert synthesis_data(app.analysts, analyst, quarter)["signals"].rows == note["signals"].rows  # the same note
    assert len(by_quarter) < len(QUARTERS) - 1  # most quarters come out by month
    running = synthesis_data(app.analysts, analyst, QUARTERS[-1])
    assert not running["calendar"] and running["signals"].release is not None and running["signals"].release.released


def test_the_analyst_command_it_suggests_works(programme: tuple[Path, str, EngagementTracker]) -> None:
    directory, first, _ = programme
    line = next(line.strip() for line in first.splitlines() if "report synthesis" in line)
    args = line.split()[1:]
    assert args[:2] == ["--db", f"sqlite:///{directory / 'etrack.sqlite'}"] or args[0] == "report"
    done = etrack(*args, cwd=directory)
    assert "wrote synthesis-2026-Q2.html" in done.stdout
    assert "Refused by the release rules" not in (directory / "synthesis-2026-Q2.html").read_text()


def test_a_rerun_adds_nothing(programme: tuple[Path, str, EngagementTracker]) -> None:
    directory, _, app = programme
    before = app.recorder.max_notification_id()
    again = etrack("--db", f"sqlite:///{directory / 'etrack.sqlite'}", "demo", "--programme", cwd=directory).stdout
    assert "0 engagements and cohorts recorded now" in again
    assert app.recorder.max_notification_id() == before
