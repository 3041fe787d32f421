"""The periodic synthesis note: activity and signal trends for a period, every number a released value.

Built only through the analyst API (``app.analysts``): each section is a
release (recorded in the ledger like any other, under the region rule and k). A suppressed cell
is shown as "suppressed", never as zero; a release the rules refuse (``DisclosureRisk``) is
shown as refused, with the reason, and the note goes on. Learning dips are a section apart:
expected while practices are learnt, never mixed with problems.

Testimonials: the ratings are a release of the analyst service (``testimonials``), under the
same rules as signals; quotes come from ``app.engagements.testimonial_quotes`` (consented texts, the quarter
only, no name; a quarter with fewer than k authors stays suppressed), kept to the note's quarters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs

from engagement_tracker.adapters.pages.charts import bar_chart, series_chart
from engagement_tracker.adapters.pages.render import chart, render
from engagement_tracker.domain.application.calendar_releases import CalendarSection, ask_widening
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.projections.analytics import AnalystService
from engagement_tracker.projections.anonymity import Release, trends

_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


@attrs.frozen
class Period:
    label: str
    since: str  # 'YYYY-MM', inclusive
    until: str
    kind: str = "quarter"  # month, quarter or year

    @property
    def grain(self) -> str:
        """The time grain of the note's series: months for a month or a quarter, quarters for a year."""
        return "quarter" if self.kind == "year" else "month"


def parse_period(text: object) -> Period:
    """'2026-Q1' (a quarter), '2026-03' (a month) or '2026' (a year), as a window of months."""
    m = _PERIOD.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput("period", f"{text!r}: a quarter (2026-Q1), a month (2026-03) or a year (2026)")
    year, quarter, month = m.groups()
    if quarter:
        first = (int(quarter) - 1) * 3 + 1
        return Period(str(text), f"{year}-{first:02d}", f"{year}-{first + 2:02d}", "quarter")
    if month:
        return Period(str(text), f"{year}-{month}", f"{year}-{month}", "month")
    return Period(str(text), f"{year}-01", f"{year}-12", "year")


@attrs.frozen
class Section:
    """One release as the note shows it: its rows, or why it was refused; and, when the rules needed
    whole coarser periods than the note's, the window it was released over (``coarsened``)."""

    title: str
    release: Release | None
    refused: str | None = None
    coarsened: str | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [] if self.release is None else [r.to_dict() for r in self.release.rows]


def _section(title: str, ask: Callable[[str, str], Release], since: str, until: str,
             calendar: dict[str, CalendarSection] | None = None, shape: str = "") -> Section:
    """The calendar's release of ``shape`` when the release calendar covers the note's period (recorded
    once, read back unchanged ever after); else ask ``ask(since, until)``: when the release comes out
    at a coarser grain than the window holds whole (the rules coarsened it to protect small cells), ask
    again over the whole coarser periods, and say so."""
    if calendar is not None and shape in calendar:
        kept = calendar[shape]
        return Section(title, kept.release, kept.refused, kept.coarsened)
    release, refused, coarsened = ask_widening(ask, since, until)
    return Section(title, release, refused, coarsened)


def synthesis_data(service: AnalystService, viewer: Actor, period: object, unit: str | None = None,
                   k: int | None = None,
                   quotes_of: Callable[[], list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """The note's content: the releases it shows (``released values`` only), for tests and other formats.

    Its releases are recorded together or not at all (``AnalystService.atomically``): a note that
    fails records none."""
    return service.atomically(lambda: _synthesis_data(service, viewer, period, unit, k, quotes_of))


def _synthesis_data(service: AnalystService, viewer: Actor, period: object, unit: str | None, k: int | None,
                    quotes_of: Callable[[], list[dict[str, Any]]] | None) -> dict[str, Any]:
    p = parse_period(period)
    grain = p.grain
    series = "month" if grain == "month" else "quarter"
    # the programme's note (no unit, the floor's k) of a closed period reads the release calendar's releases
    reads = getattr(service, "calendar_sections", None)
    cal = reads(viewer, p.label) if callable(reads) and unit is None and k is None else None
    activity = _section("Activity indicators",
                        lambda a, b: service.activity(viewer, ("metric",), unit, grain, k, a, b), p.since, p.until,
                        cal, "activity:metric")
    signals = _section(f"Signals by theme and {series}",
                       lambda a, b: service.summary(viewer, ("theme", "period"), unit, grain, k, a, b),
                       p.since, p.until, cal, "signal:theme,period")
    contexts = _section("Signals by context (tech, business, management)",
                        lambda a, b: service.summary(viewer, ("context",), unit, grain, k, a, b), p.since, p.until,
                        cal, "signal:context")
    if signals.release is not None and signals.release.level.time != series:  # coarsened: the title says so
        signals = attrs.evolve(signals, title=f"Signals by theme and {signals.release.level.time}")
    trend_rows = trends(signals.release) if signals.release is not None and signals.release.rows else []
    if cal is not None and callable(reads) and p.kind == "quarter" and len({r["period"] for r in signals.rows}) < 2:
        # the calendar released this quarter's signals by quarter: the trend runs over the quarters it released
        trend_rows = trends(quarter_series(reads, viewer, p.label)) or trend_rows
    testimonials = None
    offered = getattr(service, "testimonials", None)
    if callable(offered):
        testimonials = _section("Testimonials (ratings)",
                                lambda a, b: offered(viewer, period=grain, since=a, until=b), p.since, p.until,
                                cal, "testimonial:metric,period")
    quotes = None
    if quotes_of is not None:  # consented texts of the note's quarters only (suppressed quarters quote nothing)
        quotes = [q["quote"] for q in quotes_of()
                  if q.get("quote") and _quarter_in(q["period"], p.since, p.until)]
    return {"period": p, "activity": activity, "signals": signals, "contexts": contexts, "trends": trend_rows,
            "testimonials": testimonials, "quotes": quotes, "calendar": cal is not None}


@attrs.frozen
class QuarterSeries:
    """Released signal values per theme, quarter by quarter, read from the release calendar's sections
    of a quarter and of those of the three before it already recorded (a note records no other quarter's
    releases; what ``trends`` reads: ``anonymity.Published``). A quarter
    released by month counts for a theme only when none of its months was suppressed for it: the sum
    of released values is then that quarter's exact value, and nothing new is released."""

    found: tuple[tuple[str, str, int], ...]  # (quarter, theme, value)
    by: tuple[str, ...] = ("theme", "period")
    released_as: str = "exact"

    def points(self) -> list[tuple[dict[str, Any], int]]:
        return [({"theme": theme, "period": quarter}, value) for quarter, theme, value in self.found]


def quarter_series(reads: Callable[..., dict[str, CalendarSection] | None], viewer: Actor,
                   quarter: str) -> QuarterSeries:
    year, q = int(quarter[:4]), int(quarter[-1])
    labels = [f"{year + (q - 1 - back) // 4}-Q{(q - 1 - back) % 4 + 1}" for back in range(3, -1, -1)]
    found: list[tuple[str, str, int]] = []
    for label in labels:
        kept = reads(viewer, label) if label == quarter else reads(viewer, label, record=False)  # earlier: as recorded
        section = None if kept is None else kept.get("signal:theme,period")
        if section is None or section.release is None:
            continue
        rows = [r.to_dict() for r in section.release.rows]
        for theme in sorted({r["theme"] for r in rows}):
            mine = [r for r in rows if r["theme"] == theme]
            if mine and all(r["status"] == "released" for r in mine):
                found.append((label, theme, sum(int(r["value"]) for r in mine)))
    return QuarterSeries(tuple(found))


def _signal_series(section: Section) -> tuple[list[str], dict[str, list[int | None]]]:
    rows = section.rows
    periods = sorted({r["period"] for r in rows})
    series: dict[str, list[int | None]] = {}
    for theme in sorted({r["theme"] for r in rows}):
        by_period = {r["period"]: r for r in rows if r["theme"] == theme}
        series[theme] = [by_period[q]["value"] if q in by_period else None for q in periods]
    return periods, series


def _trend_series(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[int | None]]]:
    """The trends' own periods and values, per theme (gaps where a theme has no value that period)."""
    periods = sorted({p for t in rows for p in t["periods"]})
    series: dict[str, list[int | None]] = {}
    for t in rows:
        by_period = dict(zip(t["periods"], t["values"], strict=True))
        series[t["theme"]] = [by_period.get(p) for p in periods]
    return periods, series


def _quarter_in(quarter: str, since: str, until: str) -> bool:
    """Whether quarter 'YYYY-Qn' lies within months since..until ('YYYY-MM', inclusive)."""
    year, q = quarter.split("-Q")
    first, last = f"{year}-{3 * int(q) - 2:02d}", f"{year}-{3 * int(q):02d}"
    return since <= first and last <= until


def synthesis_note(service: AnalystService, viewer: Actor, period: object, unit: str | None = None,
                   k: int | None = None, quotes_of: Callable[[], list[dict[str, Any]]] | None = None) -> str:
    """The note as one self-contained HTML page (analysts and admins: the API checks the grant); its
    releases are recorded only once the page is made (``AnalystService.atomically``), all or none."""
    return service.atomically(lambda: _synthesis_note(service, viewer, period, unit, k, quotes_of))


def _synthesis_note(service: AnalystService, viewer: Actor, period: object, unit: str | None, k: int | None,
                    quotes_of: Callable[[], list[dict[str, Any]]] | None) -> str:
    d = synthesis_data(service, viewer, period, unit, k, quotes_of)
    charts = {}
    if d["activity"].release is not None and d["activity"].release.released:
        charts["activity"] = chart(bar_chart("activity", "Activity in the period (released values)",
                                             [(r["metric"].replace("_", " "), r["value"]) for r in d["activity"].rows]))
    if d["signals"].release is not None and d["signals"].release.released:  # a chart of nothing but gaps says nothing
        periods, series = _signal_series(d["signals"])
        if len(periods) < 2:  # one period: the trend, if any, runs over the quarters the calendar released
            periods, series = _trend_series(d["trends"])
        problems = {t: v for t, v in series.items() if t != "learning_dip"}
        if len(periods) < 2:  # a trend needs two periods: one period's values are the table's numbers
            pass
        elif any(v is not None for values in problems.values() for v in values):
            charts["signals"] = chart(series_chart("signals", "Signals per theme (released values)", periods, problems))
        if len(periods) >= 2 and any(v is not None for v in series.get("learning_dip", [])):
            charts["dips"] = chart(series_chart("dips", "Learning dips (expected, not failures)", periods,
                                                {"learning dip": series["learning_dip"]}))
    if d["contexts"].release is not None and d["contexts"].release.released:
        charts["contexts"] = chart(bar_chart("contexts", "Signals per context (released values)",
                                             [(r["context"], r["value"]) for r in d["contexts"].rows]))
    p: Period = d["period"]
    return render(
        "synthesis.html.j2",
        title=f"Synthesis note {p.label}",
        subtitle=f"{p.since} to {p.until}" + (f" · unit {unit}" if unit else "") + " · released values only",
        source="the analyst API's released values",
        viewer=f"an {viewer.role.value} (no identifier in this note)",
        d=d,
        charts=charts,
        # a direction needs two periods or more: one period is a value, shown in the table, not a trend
        problem_trends=[t for t in d["trends"] if t["kind"] != "learning_dip" and len(t["periods"]) >= 2],
        dip_trends=[t for t in d["trends"] if t["kind"] == "learning_dip" and len(t["periods"]) >= 2],
        dips_released=any(r.get("theme") == "learning_dip" and r.get("status") == "released"
                          for r in d["signals"].rows),
        one_period=not any(len(t["periods"]) >= 2 for t in d["trends"]),
    )
