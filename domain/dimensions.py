"""The analysts' dimensions: one table, which the service checks arguments against, the release
rules group by, the views store and the outputs print (each derives its order from here)."""

from __future__ import annotations

#: Every dimension a released cell may carry, in the order the release tables store them.
DIMENSIONS = ("theme", "context", "polarity", "intensity", "unit", "period", "metric")
#: The dimensions each family's facts have (a release groups by distinct ones among them).
FAMILY_DIMENSIONS = {
    "signal": ("theme", "context", "polarity", "intensity", "unit", "period"),
    "activity": ("metric", "unit", "period"),
    "testimonial": ("metric", "unit", "period"),  # metric: item=score (projections/testimonials.py)
}
#: The order outputs (table, CSV, JSON, JSONL, Parquet) print dimension columns: the measure first.
COLUMN_ORDER = ("metric", *(d for d in DIMENSIONS if d != "metric"))
#: The periods a release is cut by, finest first.
PERIODS = ("month", "quarter", "year")
#: What each family's release groups by, and its finest period, when the caller passes None.
DEFAULT_BY = {"signal": ("theme", "period"), "activity": ("metric", "period"), "testimonial": ("metric", "period")}
DEFAULT_PERIOD = {"signal": "month", "activity": "quarter", "testimonial": "quarter"}

#: The shapes the release planner (``AnalystService.plan``) lists per family: those analysts ask most,
#: and the synthesis note's (activity by metric, signals by theme and period and by context).
PLANNED_SHAPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "signal": (("theme", "period"), ("context",), ("theme",), ("polarity",), ("intensity",), ("unit",),
               ("context", "period")),
    "activity": (("metric",), ("metric", "period"), ("unit",)),
    "testimonial": (("metric",), ("metric", "period")),
}

__all__ = ["COLUMN_ORDER", "DEFAULT_BY", "DEFAULT_PERIOD", "DIMENSIONS", "FAMILY_DIMENSIONS", "PERIODS",
           "PLANNED_SHAPES"]
