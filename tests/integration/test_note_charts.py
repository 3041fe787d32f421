"""The pages' charts as people read them (issue #24, item 7): a trend needs two periods or more (one
period's values are numbers in the table); a time axis spans the data, not years around it; a drift
is marked where it is; the learning-dip note appears only where there is a dip (in the note and in
the engagement report); a heading stays with its chart when printed (both in one unbreakable block)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters.pages.charts import DRIFT, indicator_chart, readings_chart, span_dates
from engagement_tracker.adapters.pages.cohort import metric_panel, render_cohort
from engagement_tracker.adapters.pages.engagement import engagement_report
from engagement_tracker.adapters.pages.synthesis import synthesis_note
from engagement_tracker.domain import Role
from engagement_tracker.projections.anonymity import Fact
from tests.integration.test_differential_privacy import many_facts, service_with
from tests.pages_support import dip_story, readings
from tests.support import START, Cast, CohortCast, drive, frame_cohort, granted, new_tracker, open_engagement

pytest.importorskip("matplotlib")


def dips(persons: int = 60) -> list[Fact]:
    return [Fact("signal", "signal", "Ops", f"2026-0{1 + i % 3}", f"d{i}", frozenset({f"q{i}"}), "learning_dip",
                 "tech", "drains", 2) for i in range(persons)]


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([a-z-]+)">(.*?)</section>', html, flags=re.S))


@pytest.mark.parametrize("with_dips", [False, True])
def test_a_quarter_by_month_draws_trends_and_a_dip_note_only_with_a_dip(with_dips: bool) -> None:
    app = new_tracker("memory:")
    try:
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        service = service_with(app, many_facts(300) + (dips() if with_dips else []))
        page = sections(synthesis_note(service, analyst, "2026-Q1"))
        assert 'id="trends"' in page["signals"] and "<svg" in page["signals"]  # three months: trends and a chart
        assert 'id="one-period"' not in page["signals"]
        assert ('id="dip-note"' in page["learning-dips"]) is with_dips
        assert ("No learning dip released" in page["learning-dips"]) is not with_dips
        if with_dips:
            assert "<svg" in page["learning-dips"]
    finally:
        app.close()


def test_one_period_is_a_number_not_a_trend() -> None:
    app = new_tracker("memory:")
    try:
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        service = service_with(app, many_facts(300))
        html = synthesis_note(service, analyst, "2026-02")
        page = sections(html)
        assert 'id="one-period"' in page["signals"]
        assert 'id="trends"' not in page["signals"] and "<svg" not in page["signals"]  # no one-dot chart
        assert re.search(r'class="num released" data-value="\d+"', page["signals"])  # the values, as numbers
        assert "break-inside: avoid" in html and "break-after: avoid" in html  # headings stay with charts in print
    finally:
        app.close()


def texts(svg: str) -> list[str]:
    """The text of a chart (text stays text in the SVG): titles, legends, tick labels."""
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def years_shown(svg: str) -> set[str]:
    return {y for t in texts(svg) for y in re.findall(r"\b(20\d\d)\b", t)}


@pytest.mark.parametrize("days", [0, 1, 20, 400])
def test_a_time_axis_spans_the_data_not_years_around_it(days: int) -> None:
    """One reading (matplotlib alone would widen it to years either side), a few, or more than a year."""
    first = date(2026, 3, 10)
    dated = [(first, 90.0), (first + timedelta(days=days), 95.0)] if days else [(first, 90.0)]
    last_year = str((first + timedelta(days=days)).year)
    for svg in (readings_chart("m", "lead time", dated),
                indicator_chart("i", "lead time", "h", 100.0, 50.0, [(d, v, "progress") for d, v in dated])):
        assert years_shown(svg) <= {"2026", last_year}, texts(svg)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)), min_size=1, max_size=12))
def test_the_span_holds_every_date_with_a_small_margin(dates: list[date]) -> None:
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    low, high = span_dates(ax, dates) or (date.max, date.min)
    first, last = min(dates), max(dates)
    assert low < first and last < high  # every point inside, none on the frame
    margin = max(timedelta(days=3), timedelta(days=-(-(last - first).days // 20)))
    assert first - low == margin == high - last  # a twentieth of the span, whole days up (3 days at least)
    assert margin <= max(timedelta(days=3), (last - first) / 20 + timedelta(days=1))


def test_a_drift_is_marked_where_it_is() -> None:
    history = readings()  # steady, then 120 far outside the band
    drift_on, drift_value = history[-1]
    marked = readings_chart("m", "lead time", history, drifts=[(drift_on, drift_value)])
    assert "drift" in texts(marked) and "drift (outside the band)" in texts(marked)
    assert DRIFT in marked
    plain = readings_chart("m", "lead time", history)
    assert "drift" not in texts(plain) and DRIFT not in plain  # no drift reported, none marked


def test_the_cohort_dashboard_marks_the_drifts_its_view_reports() -> None:
    app = new_tracker("memory:")
    try:
        cc = CohortCast.register(app)
        cid = frame_cohort(app, cc)
        view = app.cohorts.view(cid, cc.members[0])
        fed = {**view, "metric_readings": {"M1": [{"on": d.isoformat(), "value": v} for d, v in readings()]},
               "drifts": [{"metric": "M1", "on": readings()[-1][0].isoformat(), "value": readings()[-1][1]}]}
        assert "drift (outside the band)" in texts(render_cohort(fed, "member"))
        quiet = render_cohort(view, "member", [metric_panel("M1", "lead time", readings(), None)])
        assert "drift (outside the band)" not in texts(quiet)
    finally:
        app.close()


def test_the_engagement_reports_dip_note_appears_only_with_a_dip() -> None:
    app = new_tracker("memory:")
    try:
        story = dip_story(app)  # progress, a learning dip, progress
        with_dip = engagement_report(app, story.eid, story.cast.coach)
        assert 'id="dip-note"' in with_dip
        cast = Cast.register(app)
        eid = open_engagement(app, cast)
        i1 = drive(app, cast, eid, "accompaniment.in_progress")["indicators"][0]
        app.engagements.measure_indicator(eid, cast.sponsor, i1, 40.0, START + timedelta(days=20))  # progress only
        without = engagement_report(app, eid, cast.coach)
        assert 'id="dip-note"' not in without and "<svg" in without
    finally:
        app.close()


def test_every_chart_is_printed_with_its_heading() -> None:
    """Each chart sits with its heading in one block that print layout does not break (``.keep``)."""
    app = new_tracker("memory:")
    try:
        story = dip_story(app)
        analyst = granted(app, Role.ANALYST, "Ana Lyst")
        service = service_with(app, many_facts(300) + dips())
        pages = [engagement_report(app, story.eid, story.cast.coach), synthesis_note(service, analyst, "2026-Q1")]
        cc = CohortCast.register(app)
        pages.append(render_cohort(app.cohorts.view(frame_cohort(app, cc), cc.members[0]), "member",
                                   [metric_panel("M1", "lead time", readings(), 72.0)]))
        for html in pages:
            blocks = re.findall(r'<div class="keep">(.*?)</div>', html, flags=re.S)
            charts = html.count('<svg role="img" class="chart"')
            assert charts and sum(b.count('<svg role="img" class="chart"') for b in blocks) == charts
            assert all(re.match(r"\s*<h[23][ >]", b) for b in blocks if "<svg" in b)  # the heading first
            assert ".keep { break-inside: avoid" in html.replace(", .keep", "").replace("svg.chart", ".keep")
    finally:
        app.close()
