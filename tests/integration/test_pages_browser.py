"""Every page, written by the ``etrack`` command, opened in a real headless browser (Debian's
chromium driven by Playwright): its charts are drawn, every state and number expected is on it,
nothing outside the viewer's view is, and it makes no request at all. A screenshot of each page is
kept under build/pages/ (a CI artefact).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.demo import (
    COACHEES,
    COACHES,
    PEERS,
    SAMPLE_NOTES,
    SPONSORS,
    ScriptedClock,
    access_actor,
    demo_id,
    seed,
)
from engagement_tracker.adapters.pages.cohort import metric_panel, render_cohort
from engagement_tracker.adapters.pages.render import write_page
from engagement_tracker.adapters.pages.synthesis import _section, parse_period
from engagement_tracker.domain import EngagementTracker
from engagement_tracker.domain.errors import DisclosureRisk
from engagement_tracker.projections.anonymity import Release
from tests.integration.test_cli_and_demo import etrack
from tests.pages_support import (
    COACH_NOTE,
    COACHEE_ONLY,
    SHARED_OBJECTIVES,
    SHOTS,
    Opened,
    browser_fixture,  # noqa: F401  (the browser fixture)
    dip_story,
    open_page,
    readings,
)
from tests.support import new_tracker

NAMES = [*COACHES.values(), *SPONSORS.values(), *(name for _, name in COACHEES.values()), *PEERS.values()]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's store (15 engagements, 2 cohorts, an analyst), seeded once for this module."""
    path = tmp_path_factory.mktemp("pages-demo") / "etrack.sqlite"
    url = f"sqlite:///{path}"
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker(url, clock=clock)
    try:
        seed(app, clock)
    finally:
        app.close()
    yield url


def page(browser: Any, tmp: Path, name: str, *cli: str) -> Opened:
    """Write a page with the etrack command, then open it in the browser."""
    out = tmp / f"{name}.html"
    done = etrack(*cli, "--out", str(out), cwd=tmp)
    assert "self-contained" in done.stdout
    opened = open_page(browser, out, name)
    assert opened.requests == []  # the page asked for nothing: no font, no script, no image, no CDN
    return opened


def test_sponsor_report_in_the_browser(browser: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dip.sqlite'}"
    app = new_tracker(url)
    try:
        story = dip_story(app, disclose=("objectives", "indicators"))
    finally:
        app.close()
    sponsor = f"sponsor:{story.cast.sponsor.party}"
    p = page(browser, tmp_path, "engagement-sponsor", "--db", url, "report", "engagement", str(story.eid),
             "--as", sponsor)
    assert p.charts("#indicators") == 2
    dip_chart = p.page.locator("#indicators svg.chart").first
    assert dip_chart.is_visible() and "learning dip" in (dip_chart.text_content() or "")
    assert dip_chart.bounding_box()["height"] > 100
    rows = p.page.locator(f"#indicator-{story.indicators[0]} table tr").all_inner_texts()
    assert [r.split("\t")[1:3] for r in rows[1:]] == [["40.0", "progress"], ["44.0", "learning dip"],
                                                        ["30.0", "progress"]]
    for shown in (*SHARED_OBJECTIVES, "Baseline 48", "target 24", "not a failure"):
        assert shown in p.text
    for hidden in (COACH_NOTE, *COACHEE_ONLY, "Sessions held", "Measured on", "Evaluations"):
        assert hidden not in p.text
    coach = page(browser, tmp_path, "engagement-coach", "--db", url, "report", "engagement", str(story.eid),
                 "--as", f"coach:{story.cast.coach.party}")
    assert COACH_NOTE in coach.text and COACHEE_ONLY[0] in coach.text and coach.charts() == 2
    coachee = page(browser, tmp_path, "engagement-coachee", "--db", url, "report", "engagement", str(story.eid),
                   "--as", f"coachee:{story.cast.coachee.party}")
    assert COACH_NOTE not in coachee.text and COACHEE_ONLY[0] in coachee.text and coachee.charts() == 2


def test_demo_sponsor_report_in_the_browser(browser: Any, demo_db: str, tmp_path: Path) -> None:
    p = page(browser, tmp_path, "engagement-demo-sponsor", "--db", demo_db, "report", "engagement",
             str(demo_id("eng-01")), "--as", f"sponsor:{demo_id('sponsor-1')}")
    assert p.charts() == 2
    assert "Median resolution time" in p.text and "closed" in p.text
    assert "Marc Petit" in p.text  # the engagement's own parties are named to its sponsor, as the view does
    for note in SAMPLE_NOTES:
        assert note not in p.text
    for other in ("Julie Moreau", "Thomas Girard"):  # other engagements' people
        assert other not in p.text


def _release_cells(p: Opened, section: str) -> list[str]:
    return [c.get_attribute("data-value") or "" for c in p.page.locator(f"#{section} table.release td[data-value]").all()]


def ask(release: Callable[[], Release]) -> Release | None:
    """A release from the API, or None when its rules refuse it."""
    try:
        return release()
    except DisclosureRisk:
        return None


def _api_cells(rel: Any) -> list[str]:
    return [*("suppressed" if r.status == "suppressed" else str(r.value) for r in rel.rows),
            "suppressed" if rel.total is None else str(rel.total)]


def _note_matches_the_api(browser: Any, demo_db: str, tmp_path: Path, period: str) -> dict[str, Release | None]:
    """Write the note for ``period``, open it, ask the API the same queries: the same released values,
    the same suppressed cells, the same refusals."""
    analyst = access_actor("analyst")
    p = page(browser, tmp_path, f"synthesis-note-{period}", "--db", demo_db, "report", "synthesis", "--period", period,
             "--as", f"analyst:{analyst.party}")
    app: EngagementTracker = open_tracker(demo_db, create=False)
    try:  # the same queries again: the API answers the same released values (or refuses them again)
        service = analyst_service(app)
        w = parse_period(period)
        g = w.grain  # the note's series: by month, by quarter for a year; widened where the rules coarsen (_section)
        asks = {
            "activity": lambda a, b: service.activity(analyst, ("metric",), None, g, None, a, b),
            "signals": lambda a, b: service.summary(analyst, ("theme", "period"), None, g, None, a, b),
            "contexts": lambda a, b: service.summary(analyst, ("context",), None, g, None, a, b),
        }
        rels = {name: _section(name, how, w.since, w.until).release for name, how in asks.items()}
    finally:
        app.close()
    for section, rel in rels.items():
        if rel is None:  # the API refuses it (the region rule): so does the note, showing nothing of it
            assert "Refused by the release rules" in p.page.locator(f"#{section}").inner_text()
            assert p.charts(f"#{section}") == 0 and _release_cells(p, section) == []
            continue
        assert _release_cells(p, section) == (_api_cells(rel) if rel.rows else []), section
        shown = p.page.locator(f"#{section} table.release td.suppressed").all_inner_texts()
        assert all(t in ("suppressed", "withheld") for t in shown)
        periods = {r.dims.get("period") for r in rel.rows}  # a trend needs two periods: one is a number
        drawn = rel.released and (section != "signals" or len(periods) >= 2)
        assert p.charts(f"#{section}") == (1 if drawn else 0), section
    assert p.page.locator("#testimonials-unavailable").count() == 0  # ratings are a release now
    assert p.page.locator("#testimonials").count() == 1
    for secret in (*NAMES, *SAMPLE_NOTES, str(analyst.party), *(str(demo_id(n)) for n in (*COACHES, *SPONSORS))):
        assert secret not in p.page.content()
    return rels


def test_synthesis_notes_in_the_browser_show_the_released_values(browser: Any, demo_db: str, tmp_path: Path) -> None:
    year = _note_matches_the_api(browser, demo_db, tmp_path, "2026")
    activity, signals = year["activity"], year["signals"]
    # the year's activity is refused: the release calendar recorded Q3 (the demo's tick) and Q4 holds one fact
    assert activity is None
    assert signals is not None and signals.released and signals.hidden  # both kinds of cell are seen
    # after the year, the region rule refuses finer releases that would pin down its suppressed cells:
    # the quarter's note says so section by section, exactly where the API refuses
    quarter = _note_matches_the_api(browser, demo_db, tmp_path, "2026-Q2")
    assert None in quarter.values()


def test_cohort_dashboard_in_the_browser(browser: Any, demo_db: str, tmp_path: Path) -> None:
    member = demo_id("peer-1")
    p = page(browser, tmp_path, "cohort-dashboard", "--db", demo_db, "cohort", "dashboard", str(demo_id("cohort-1")),
             "--as", f"member:{member}")
    decision = p.page.locator("#decisions tr.decision").first.inner_text()
    for part in ("Extend the pick-list review to the Lille site", "Order lead time (h) = 61.5", "2026-03-22",
                 "Chloe Perrin"):
        assert part in decision
    roles = p.page.locator("#roles").inner_text()
    assert "Lucie Martin\tKaril Haddou".replace("Karil", "Karim") in roles and "metrics review" in roles
    cycle = p.page.locator("#cycle").inner_text()
    assert cycle.count("done late") == 2 and cycle.count("\tlate") == 2
    incidents = p.page.locator("#incidents tr.incident").all_inner_texts()
    assert any("missed deadline" in i and "feedback E2" in i for i in incidents)
    assert "none recorded yet" in p.text  # the demo's metrics have no readings (yet)
    for secret in (*SAMPLE_NOTES, "Victor Chevalier", "Bruno Lemaire and"):  # peer-8 is not in this cohort
        assert secret not in p.text


def test_cohort_metric_readings_in_the_browser(browser: Any, demo_db: str, tmp_path: Path) -> None:
    member = demo_id("peer-1")
    app = open_tracker(demo_db, create=False)
    try:
        from engagement_tracker.domain import Actor, Role

        view = app.cohorts.view(demo_id("cohort-1"), Actor(member, Role.MEMBER))
    finally:
        app.close()
    panel = metric_panel("M1", "Order lead time (h)", readings(), 72.0)
    out = write_page(render_cohort(view, "member", [panel]), tmp_path / "readings.html")
    p = open_page(browser, out, "cohort-readings")
    assert p.requests == []
    chart = p.page.locator("#metric-M1 svg.chart")
    assert chart.count() == 1 and chart.is_visible()
    svg_text = chart.text_content() or ""
    assert "key result target 72" in svg_text and "band of previous readings" in svg_text
    assert "7 reading(s)" in p.text and "120.0" in p.text


def test_refusals_write_no_page(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    cases = [  # refused by a permission (exit 3) or a malformed argument (exit 2), see "Exit codes"
        (3, ("report", "engagement", str(demo_id("eng-01")), "--as", f"sponsor:{demo_id('sponsor-2')}")),
        (3, ("report", "engagement", str(demo_id("eng-01")), "--as", f"analyst:{demo_id('analyst')}")),
        (3, ("cohort", "dashboard", str(demo_id("cohort-1")), "--as", f"member:{demo_id('peer-8')}")),
        (3, ("cohort", "dashboard", str(demo_id("cohort-1")), "--as", f"auditor:{demo_id('auditor')}")),
        (3, ("report", "synthesis", "--period", "2026-Q1", "--as", f"coach:{demo_id('coach-1')}")),
        (2, ("report", "synthesis", "--period", "Q1", "--as", f"analyst:{demo_id('analyst')}")),
    ]
    for code, args in cases:
        done = etrack("--db", demo_db, *args, "--out", str(out), cwd=tmp_path, check=False)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
        assert not out.exists()
    missing = etrack("--db", demo_db, "cohort", "dashboard", str(demo_id("cohort-1")), "--as",
                     f"member:{demo_id('peer-1')}", "--out", str(tmp_path / "no" / "x.html"), cwd=tmp_path, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_page_printed_as_pdf(browser: Any, demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "progress.pdf"
    args = ("--db", demo_db, "report", "engagement", str(demo_id("eng-01")), "--as", f"sponsor:{demo_id('sponsor-1')}",
            "--format", "pdf", "--out", str(out))
    etrack(*args, cwd=tmp_path)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page>>") + data.count(b"/Type /Page ") >= 1
    shutil.copy(out, SHOTS / "engagement-demo-sponsor.pdf")
    missing = etrack(*args[:-1], str(tmp_path / "no.pdf"), "--chromium", str(tmp_path / "nochromium"), cwd=tmp_path,
                     check=False)
    assert missing.returncode == 2 and "is missing" in missing.stderr and not (tmp_path / "no.pdf").exists()


def test_every_demo_engagement_and_cohort_renders_for_each_of_its_parties(demo_db: str) -> None:
    from engagement_tracker.adapters.demo import COHORTS, SCENARIOS
    from engagement_tracker.adapters.pages.cohort import cohort_dashboard
    from engagement_tracker.adapters.pages.engagement import engagement_report
    from engagement_tracker.adapters.pages.render import external_references
    from engagement_tracker.domain import Actor, Role

    app = open_tracker(demo_db, create=False)
    try:
        for s in SCENARIOS:  # every phase: framing, declined, abandoned, suspended, amended, closed, ...
            for role, label in (("coach", s.coach), ("coachee", s.coachee), ("sponsor", s.sponsor)):
                html = engagement_report(app, demo_id(s.label), Actor(demo_id(label), Role(role)))
                assert external_references(html) == []
                if role != "coach":
                    assert not any(note in html for note in SAMPLE_NOTES)
        for label, *_ in COHORTS:
            html = cohort_dashboard(app, demo_id(label), Actor(demo_id("coach-2"), Role.COACH))
            assert "Rotation of roles" in html and external_references(html) == []
    finally:
        app.close()


def test_recorded_metric_readings_and_a_drift_reach_the_dashboard(browser: Any, tmp_path: Path) -> None:
    """Readings recorded through the domain (not handed to the renderer) chart on the member's dashboard,
    with the key result's target, and a drift listed as an incident."""
    from datetime import timedelta

    from engagement_tracker.adapters.pages.cohort import cohort_dashboard
    from tests.support import CohortCast, FakeClock, frame_cohort

    app = new_tracker(f"sqlite:///{tmp_path / 'c.sqlite'}", FakeClock(), ETRACK_DRIFT_WINDOW="3")
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    members = cc.members
    app.cohorts.set_key_result_target(cid, members[1], 1, "M1", 72)
    day = datetime(2026, 2, 2, tzinfo=UTC).date()
    for n, value in enumerate([100, 102, 98, 101, 130]):
        app.cohorts.record_reading(cid, members[n % 5], "M1", value, day + timedelta(days=7 * n))
    out = write_page(cohort_dashboard(app, cid, members[2]), tmp_path / "dashboard.html")
    app.close()
    p = open_page(browser, out, "cohort-recorded-readings")
    assert p.requests == []
    chart = p.page.locator("#metric-M1 svg.chart")
    assert chart.count() == 1 and chart.is_visible()
    assert "key result target 72" in (chart.text_content() or "")
    incidents = p.page.locator("#incidents tr.incident").all_inner_texts()
    assert any("drift" in i and "130" in i for i in incidents), incidents
