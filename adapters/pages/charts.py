"""Charts for the pages: matplotlib figures rendered to inline SVG, nothing fetched.

Figures are made with ``Figure`` directly, never through pyplot: no global registry of open
figures, no backend to choose, nothing left open when a chart fails.

Each chart is a string of ``<svg>`` markup to place in a page as it is. Text stays text
(``svg.fonttype = none``: the browser draws it with a local sans-serif font, and a reader can
search and copy it); the XML prologue, the DOCTYPE (a URL), the metadata block and the
namespace declarations are removed, because an inline SVG in HTML needs none of them and a page
carries no URL at all. Colours say what a point is, never judge it: a learning dip is amber and
labelled "learning dip", never red; a drift is marked in violet and labelled "drift".

Axes span the data: a time axis runs from a little before the first date to a little after the
last (:func:`span_dates`; left to itself, matplotlib widens a single date to years either side).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure

from engagement_tracker.domain.cohort_metrics import DriftRule, band_of

PROGRESS = "#2b6cb0"
DIP = "#d69e2e"  # amber: expected during learning, never an alarm colour
TARGET = "#2f855a"
BASELINE = "#718096"
BAND = "#bee3f8"
SUPPRESSED = "#a0aec0"
DRIFT = "#6b46c1"  # violet: a reading the drift rule flags, for the metrics keeper to look at, not a verdict
#: The least margin either side of the dates a time axis spans.
MIN_DATE_PAD = timedelta(days=3)

#: Text stays text in the SVG; a '$' in a label is a dollar, never mathtext (which would fail on stray '$').
_STYLE: Any = {"svg.fonttype": "none", "text.parse_math": False, "font.family": "sans-serif", "font.size": 9,
               "axes.spines.top": False, "axes.spines.right": False}


@contextmanager
def _drawing() -> Iterator[None]:
    """The charts' style, and quiet about glyphs the layout font lacks: the SVG keeps the text as
    text, and the browser draws it with a font that has the glyph (only its measured width is
    approximate)."""
    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        yield


def span_dates(ax: Any, dates: Sequence[date]) -> tuple[date, date] | None:
    """Make the time axis span ``dates``: from the first to the last, plus a twentieth of that span in whole
    days, rounded up (at least :data:`MIN_DATE_PAD`), either side. Returns the limits set (None without dates)."""
    if not dates:
        return None
    first, last = min(dates), max(dates)
    pad = max(MIN_DATE_PAD, timedelta(days=-(-(last - first).days // 20)))  # whole days: dates stay dates
    ax.set_xlim(cast(Any, first - pad), cast(Any, last + pad))
    return first - pad, last + pad


def _span_dates(fig: Figure, ax: Any, xs: Sequence[Any]) -> None:
    """The time axis spanning ``xs`` (:func:`span_dates`), its labels slanted."""
    if xs:
        span_dates(ax, xs)
        fig.autofmt_xdate()


def svg_of(fig: Figure, salt: str) -> str:
    """The figure as inline SVG markup (no prologue, DOCTYPE, metadata or namespace URLs)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                    bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", text)
    return text.replace("<svg", '<svg role="img" class="chart"', 1)


def indicator_chart(
    name: str, label: str, unit: str, baseline: float, target: float,
    points: Sequence[tuple[date | int, float, str]],
) -> str:
    """An indicator: baseline and target lines, its measurements, learning dips marked and labelled.

    ``points`` are (date, or the measurement's number when dates are not shared; value; status
    among progress, learning_dip, reached).
    """
    with _drawing():
        fig = Figure(figsize=(6.4, 2.8))
        ax = fig.subplots()
        xs: Any = [p[0] for p in points]
        ax.axhline(baseline, color=BASELINE, linestyle="--", linewidth=1, label=f"baseline {baseline:g}")
        ax.axhline(target, color=TARGET, linestyle="-", linewidth=1.5, label=f"target {target:g}")
        if points:
            ax.plot(xs, [p[1] for p in points], color=PROGRESS, marker="o", linewidth=1.5, label="measurement")
            dips = [p for p in points if p[2] == "learning_dip"]
            if dips:
                ax.scatter(cast(Any, [p[0] for p in dips]), [p[1] for p in dips], s=90, facecolor="none", edgecolor=DIP,
                           linewidth=2, zorder=3, label="learning dip (expected)")
                for x, y, _ in dips:
                    ax.annotate("learning dip", (x, y), xytext=(0, -16), textcoords="offset points", ha="center",
                                color="#975a16")
        else:
            ax.text(0.5, 0.5, "not measured yet", transform=ax.transAxes, ha="center", color=BASELINE)
        if points and isinstance(points[0][0], int):
            ax.set_xlabel("measurement")
            ax.set_xticks(xs)
        elif points:
            _span_dates(fig, ax, xs)
        ax.set_ylabel(unit)
        ax.set_title(label, loc="left")
        ax.legend(loc="best", fontsize=7, frameon=False)
        return svg_of(fig, f"indicator-{name}")


def readings_chart(
    name: str, label: str, readings: Sequence[tuple[date, float]], target: float | None = None,
    rule: DriftRule | None = None, drifts: Sequence[tuple[date, float]] = (),
) -> str:
    """A cohort metric over time, its key result's target, the band of the readings before each one,
    and the drifts marked.

    The band at a reading is the domain's (``cohort_metrics.band_of``): the mean of the ``rule.window``
    readings before it, plus and minus ``rule.z`` standard deviations, once that many exist. ``drifts``
    are the readings the view reports as drifts (``metric_series``: the domain decides, the chart marks
    them, each labelled "drift"), so the band drawn and the points marked follow the same rule.
    """
    rule = rule or DriftRule()
    readings = sorted(readings)
    with _drawing():
        fig = Figure(figsize=(6.4, 2.8))
        ax = fig.subplots()
        xs: Any = [r[0] for r in readings]
        ys = [r[1] for r in readings]
        band = variance_band(ys, rule)
        shown = [(x, lo, hi) for x, b in zip(xs, band, strict=True) if b is not None for lo, hi in [b]]
        if shown:
            ax.fill_between(cast(Any, [s[0] for s in shown]), [s[1] for s in shown], [s[2] for s in shown], color=BAND,
                            alpha=0.7, label=f"band of previous readings (last {rule.window}, ±{rule.z:g}σ)")
        if readings:
            ax.plot(xs, ys, color=PROGRESS, marker="o", linewidth=1.5, label="reading")
        else:
            ax.text(0.5, 0.5, "no reading yet", transform=ax.transAxes, ha="center", color=BASELINE)
        if drifts:
            ax.scatter(cast(Any, [d[0] for d in drifts]), [d[1] for d in drifts], s=110, marker="D", facecolor="none",
                       edgecolor=DRIFT, linewidth=2, zorder=3, label="drift (outside the band)")
            for x, y in drifts:
                ax.annotate("drift", (cast(Any, x), y), xytext=(0, 10), textcoords="offset points", ha="center",
                            color=DRIFT)
        if target is not None:
            ax.axhline(target, color=TARGET, linewidth=1.5, label=f"key result target {target:g}")
        _span_dates(fig, ax, [*xs, *(d[0] for d in drifts)])
        ax.set_title(label, loc="left")
        ax.legend(loc="best", fontsize=7, frameon=False)
        return svg_of(fig, f"readings-{name}")


def variance_band(values: Sequence[float], rule: DriftRule | None = None) -> list[tuple[float, float] | None]:
    """For each value, (low, high) of the drift rule's band from the values before it, or None when
    fewer than ``rule.window`` come before it (``cohort_metrics.band_of``, the domain's rule)."""
    rule = rule or DriftRule()
    return [None if (b := band_of(values[:i], rule)) is None else (b.low, b.high) for i in range(len(values))]


def series_chart(name: str, title: str, periods: Sequence[str], series: Mapping[str, Sequence[int | None]]) -> str:
    """Released counts per period, one line per series. A suppressed cell is a gap in its line, and
    each period's label says how many of its cells are suppressed: never drawn as zero."""
    with _drawing():
        fig = Figure(figsize=(6.4, 3.0))
        ax = fig.subplots()
        xs = list(range(len(periods)))
        for label, values in series.items():
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(xs, ys, marker="o", linewidth=1.5, label=label)
        hidden = [sum(1 for values in series.values() if values[i] is None) for i in xs]
        ax.set_xticks(xs, [p + (f"\n{n} suppressed" if n else "") for p, n in zip(periods, hidden, strict=True)])
        ax.set_ylim(bottom=0, top=max([v for values in series.values() for v in values if v is not None] or [1]) * 1.15)
        ax.set_ylabel("released count")
        ax.set_title(title, loc="left")
        if series:
            ax.legend(loc="best", fontsize=7, frameon=False)
        return svg_of(fig, f"series-{name}")


def bar_chart(name: str, title: str, bars: Sequence[tuple[str, int | None]]) -> str:
    """Released counts as bars; a suppressed one is an empty slot labelled "suppressed", not a zero bar."""
    with _drawing():
        fig = Figure(figsize=(6.4, max(1.6, 0.35 * len(bars) + 0.8)))
        ax = fig.subplots()
        labels = [b[0] for b in bars]
        ys = list(range(len(bars)))
        ax.barh(ys, [b[1] or 0 for b in bars], color=[PROGRESS if b[1] is not None else "none" for b in bars])
        for y, (_, v) in zip(ys, bars, strict=True):
            ax.annotate("suppressed" if v is None else str(v), (v or 0, y), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=7, color=SUPPRESSED if v is None else "#1a202c")
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.set_title(title, loc="left")
        return svg_of(fig, f"bars-{name}")
