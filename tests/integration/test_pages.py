"""The pages as files: what each viewer's page holds and never holds, the release values, the CLI.

The same pages are opened in a real browser in test_pages_browser.py.
"""

from __future__ import annotations

import copy
import functools
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters.pages.charts import readings_chart, variance_band
from engagement_tracker.adapters.pages.cohort import cohort_dashboard, metric_panel, render_cohort
from engagement_tracker.adapters.pages.engagement import engagement_report, render_engagement
from engagement_tracker.adapters.pages.render import external_references, write_page
from engagement_tracker.adapters.pages.synthesis import parse_period
from engagement_tracker.domain import EngagementTracker, Role
from engagement_tracker.domain.cohort_metrics import DriftRule, drifts
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, StoreError
from engagement_tracker.domain.values import MetricReading
from tests.pages_support import COACH_NOTE, COACHEE_ONLY, SHARED_OBJECTIVES, actor, dip_story, readings
from tests.support import CohortCast, event_count, frame_cohort, granted, new_tracker


def text_of(html: str) -> str:
    """The page's text as a reader sees it (tags and the style block removed, entities kept escaped)."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- self-contained -------------------------------------------------------------------------------


@pytest.mark.parametrize("markup", [
    '<img src="a.png">', '<link rel="stylesheet" href="https://cdn.example/x.css">', '<script>1</script>',
    '<a href="https://example.org">x</a>', "<style>@import 'x.css';</style>",
    '<div style="background: url(https://e.org/a.png)"></div>', '<svg><image href="a.png"/></svg>',
    '<meta http-equiv="refresh" content="0; url=https://e.org">', '<p onclick="x()">x</p>',
])
def test_anything_that_reaches_out_is_found_and_refused(markup: str, tmp_path: Path) -> None:
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{markup}</body></html>"
    assert external_references(page)
    with pytest.raises(StoreError, match="outside itself"):
        write_page(page, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_fragment_links_and_escaped_addresses_in_text_are_not_references() -> None:
    page = '<svg><use xlink:href="#m1"/><rect clip-path="url(#c1)"/></svg><p>see https://intranet/doc &lt;img src=x&gt;</p>'
    assert external_references(page) == []


def test_every_page_is_self_contained(tracker: EngagementTracker) -> None:
    story = dip_story(tracker)
    pages = [engagement_report(tracker, story.eid, story.cast.of(role)) for role in (Role.SPONSOR, Role.COACHEE,
                                                                                      Role.COACH)]
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    view = tracker.cohorts.view(cid, cc.members[0])
    pages.append(render_cohort(view, "member", [metric_panel("M1", "lead time", readings(), 72.0)]))
    for html in pages:
        assert external_references(html) == []
        assert "://" not in html  # not even a namespace URL: the charts' SVG carries none
        assert "<script" not in html and "<link" not in html and "@font-face" not in html
        assert html.count("<svg") == html.count("</svg>") and html.count("<svg") >= 1


# --- the engagement report ------------------------------------------------------------------------


def test_the_sponsor_report_shows_only_what_was_agreed(tracker: EngagementTracker) -> None:
    story = dip_story(tracker, disclose=("objectives", "indicators"))
    page = text_of(engagement_report(tracker, story.eid, story.cast.sponsor))
    for shown in (*SHARED_OBJECTIVES, "Median resolution", "Decisions delegated", "48", "24", "40", "44", "30"):
        assert shown in page
    assert "learning dip" in page and "not a failure" in page
    assert "fail" not in page.replace("not a failure", "")  # a dip is never called a failure
    for hidden in (COACH_NOTE, *COACHEE_ONLY, "Sessions held", "Dates", "Evaluations at closing"):
        assert hidden not in page
    assert "Not shared: evaluations, dates" in page
    # without the dates, the measurements are numbered, never dated
    assert "2026-01-25" not in page and "Measured on" not in page


def test_the_sponsor_sees_dates_once_agreed(tracker: EngagementTracker) -> None:
    story = dip_story(tracker, disclose=("objectives", "indicators", "dates"))
    page = text_of(engagement_report(tracker, story.eid, story.cast.sponsor))
    assert "Measured on" in page and "2026-01-25" in page and "Tripartite meeting" in page
    assert COACH_NOTE not in page and COACHEE_ONLY[0] not in page


def test_before_any_agreement_the_sponsor_sees_no_objective(tracker: EngagementTracker) -> None:
    story = dip_story(tracker, disclose=())
    page = text_of(engagement_report(tracker, story.eid, story.cast.sponsor))
    assert "nothing yet" in page
    for hidden in (*SHARED_OBJECTIVES, "Median resolution", COACH_NOTE, *COACHEE_ONLY):
        assert hidden not in page


def test_coachee_and_coach_versions_show_more_as_their_views_do(tracker: EngagementTracker) -> None:
    story = dip_story(tracker)
    coachee = text_of(engagement_report(tracker, story.eid, story.cast.coachee))
    coach = text_of(engagement_report(tracker, story.eid, story.cast.coach))
    for both in (*COACHEE_ONLY, *SHARED_OBJECTIVES, "Sessions held", "learning dip"):
        assert both in coachee and both in coach
    assert COACH_NOTE not in coachee
    assert COACH_NOTE in coach and "Do not forward it" in coach


def test_only_the_three_parties_have_a_report(tracker: EngagementTracker) -> None:
    story = dip_story(tracker)
    outsiders = [story.cast.other_coach, actor(story.cast.sponsor.party, "coachee"),
                 granted(tracker, Role.AUDITOR), granted(tracker, Role.ANALYST)]
    for viewer in outsiders:
        with pytest.raises(NotPermitted):
            engagement_report(tracker, story.eid, viewer)


def test_text_is_escaped_never_markup(tracker: EngagementTracker) -> None:
    story = dip_story(tracker)
    hostile = '<img src=x onerror="alert(1)"> & <b>bold</b>'
    tracker.engagements.commit_action(story.eid, story.cast.coachee, hostile, date(2026, 6, 1))
    html = engagement_report(tracker, story.eid, story.cast.coachee)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert external_references(html) == []


# --- the cohort dashboard -------------------------------------------------------------------------


def test_the_dashboard_is_for_members_and_the_coach(tracker: EngagementTracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    assert "Cohort dashboard" in cohort_dashboard(tracker, cid, cc.coach)
    assert "Cohort dashboard" in cohort_dashboard(tracker, cid, cc.members[0])
    for viewer in (cc.members[8], granted(tracker, Role.AUDITOR), granted(tracker, Role.ANALYST),
                   granted(tracker, Role.ADMIN)):
        with pytest.raises(NotPermitted):
            cohort_dashboard(tracker, cid, viewer)


def test_metric_readings_light_up_with_target_and_band(tracker: EngagementTracker) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    view = tracker.cohorts.view(cid, cc.members[0])
    html = render_cohort(view, "member", [metric_panel("M1", "lead time", readings(), 72.0)])
    page = text_of(html)
    assert "key result target 72" in page and "band of previous readings" in page
    assert "7 reading(s)" in page and "120.0" in page and "2026-04-13" in page
    # the same, from the shape the cohort view will carry (readings, a key result's metric and target, drifts)
    fed = {**view, "metric_readings": {"M1": [{"on": d.isoformat(), "value": v} for d, v in readings()]},
           "key_results": [{**view["key_results"][0], "metric": "M1", "target": 72.0}],
           "drifts": [{"metric": "M1", "on": "2026-04-13", "value": 120.0}]}
    page = text_of(render_cohort(fed, "member"))
    assert "key result target 72" in page and "lead time: 120 outside the band" in page


def test_the_band_is_drawn_from_previous_readings_only() -> None:
    band = variance_band([10.0, 12.0, 11.0, 30.0], DriftRule(window=3, z=2.0))
    assert band[:3] == [None, None, None]
    low, high = band[3] or (0, 0)
    assert low < 10 and 12 < high < 30  # 30 falls outside the band of the three before it


def test_the_band_drawn_is_the_drift_rules_and_every_drift_the_view_reports_is_marked() -> None:
    """The chart's band at each reading is the domain's (the last ``window`` readings, ``z``), so the points it
    marks as drifts are exactly those ``cohort_metrics.drifts`` finds (issue #24, item 7)."""
    rule = DriftRule(window=4, z=2.0)
    values = [10.0, 12.0, 11.0, 13.0, 12.0, 30.0, 11.0, 12.0, 11.0, 12.0, 2.0, 12.0]
    days = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(len(values))]
    read = [MetricReading("M1", v, d, 1) for d, v in zip(days, values, strict=True)]
    found = drifts(read, rule)
    assert [d["value"] for d in found] == [30.0, 2.0]
    band = variance_band(values, rule)
    outside = [v for v, b in zip(values, band, strict=True) if b is not None and not b[0] <= v <= b[1]]
    assert outside == [d["value"] for d in found]  # the band drawn flags what the rule flags, no more
    svg = readings_chart("M1", "lead time", list(zip(days, values, strict=True)), 72.0, rule,
                         [(date.fromisoformat(d["read_on"]), d["value"]) for d in found])
    labels = re.findall(r">([^<>]{1,60})</text>", svg)
    assert labels.count("drift") == 2 and "drift (outside the band)" in labels
    assert "band of previous readings (last 4, ±2σ)" in labels
    quiet = readings_chart("M1", "lead time", list(zip(days, values, strict=True)), None, rule, [])
    assert "drift" not in re.findall(r">([^<>]{1,60})</text>", quiet)


def test_one_reading_is_shown_on_an_axis_of_days_not_of_empty_years() -> None:
    svg = readings_chart("M1", "lead time", [(date(2026, 3, 9), 12.0)], 72.0)
    ticks = [t for t in re.findall(r">([^<>]{1,40})</text>", svg) if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", t)]
    assert ticks and all(t.startswith("2026-03") for t in ticks), ticks


# --- the synthesis note's period -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "window"), [("2026-Q1", ("2026-01", "2026-03")), ("2026-Q4", ("2026-10", "2026-12")),
                                               ("2026-03", ("2026-03", "2026-03")), ("2026", ("2026-01", "2026-12"))])
def test_periods(text: str, window: tuple[str, str]) -> None:
    p = parse_period(text)
    assert (p.since, p.until) == window


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-13", "Q1-2026", "", None, 2026, "2026-Q1 "])
def test_a_bad_period_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="period"):
        parse_period(bad)


def test_a_refused_note_records_nothing(tracker: EngagementTracker) -> None:
    from engagement_tracker.adapters.bootstrap import analyst_service
    from engagement_tracker.adapters.pages.synthesis import synthesis_note

    coach = granted(tracker, Role.COACH)
    before = event_count(tracker)
    with pytest.raises(NotPermitted):
        synthesis_note(analyst_service(tracker), coach, "2026-Q1")
    with pytest.raises(InvalidInput):
        synthesis_note(analyst_service(tracker), granted(tracker, Role.ANALYST), "2026-Q9")
    assert event_count(tracker) == before + 2  # the two grants above, nothing else


# --- no text can make a page reach out (hypothesis) -----------------------------------------------


@functools.cache
def _coach_view() -> dict[str, Any]:
    app = new_tracker("memory:")
    try:
        story = dip_story(app)
        return app.engagements.view(story.eid, story.cast.coach)
    finally:
        app.close()


_HOSTILE = st.one_of(st.text(), st.sampled_from([
    '<img src="https://x.test/a.png">', "</td></table><script src=//x.test></script>", '" onload="x()',
    "<style>@import url(https://x.test/a.css)</style>", "javascript:alert(1)", "<a href='https://x.test'>x</a>",
    "$5 budget", "a $\\frac{1}{0 $ b", "100 % <-> 50 %",
]))


@settings(max_examples=30)  # each example draws two charts (~0.1 s each)
@given(text=_HOSTILE, name=_HOSTILE)
def test_no_stored_text_makes_a_page_reach_out(text: str, name: str) -> None:
    view = copy.deepcopy(_coach_view())
    view["objectives"][0]["statement"] = text
    view["parties"]["coachee"]["name"] = name
    view["sessions"][0]["notes"] = text
    view["indicators"][0]["label"] = text
    html = render_engagement(view, "coach")
    assert external_references(html) == []
    assert html.count("<svg") == len(view["indicators"])
    if text.strip():
        assert markupsafe.escape(text) in html


def test_late_feedback_and_missed_deadlines_are_incidents(tracker: EngagementTracker, clock: Any) -> None:
    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    m = cc.members[0]
    tracker.cohorts.start_experiment(cid, m, "E1")
    tracker.cohorts.end_experiment(cid, m, "E1")
    clock.now += timedelta(hours=80)  # feedback is due within 72 hours
    tracker.cohorts.give_feedback(cid, m, "E1", "picking errors down by a third")
    tracker.tick(clock.now + timedelta(days=30))  # the cycle's weeks fall due, unrecorded
    page = text_of(cohort_dashboard(tracker, cid, m))
    incidents = page[page.index("Notable incidents"):page.index("Decisions")]
    assert "late feedback experiment E1: feedback after the deadline" in incidents
    assert "missed deadline cycle week 1" in incidents and "late" in page[page.index("-week cycle"):]


def test_the_note_quotes_only_consented_texts_of_its_own_quarters(tracker: EngagementTracker) -> None:
    from engagement_tracker.adapters.bootstrap import analyst_service
    from engagement_tracker.adapters.pages.synthesis import synthesis_data, synthesis_note

    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    rows = [{"period": "2026-Q1", "quote": "It changed how I delegate.", "status": "released"},
            {"period": "2026-Q2", "quote": "Outside the note's period.", "status": "released"},
            {"period": "2026-Q1", "quote": None, "status": "suppressed"}]
    data = synthesis_data(analyst_service(tracker), analyst, "2026-Q1", quotes_of=lambda: rows)
    assert data["quotes"] == ["It changed how I delegate."]
    page = synthesis_note(analyst_service(tracker), analyst, "2026-Q1", quotes_of=lambda: rows)
    assert "It changed how I delegate." in page and "Outside the note" not in page
