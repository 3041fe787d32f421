"""The analysts' outputs as one model: long-format rows with the same columns in every format.

A release (exact or differentially private) becomes rows of one shape: ``scope`` (``cell``, or
``total`` for the one grand-total row of an exact release), the release's dimensions, ``value``,
for DP the 95% interval (``low_95``, ``high_95``), ``status`` (``released`` | ``suppressed``),
the ``level`` the release was made at (``month``, ``quarter``, ``year``: coarsened when small
cells asked for it) with ``unit_depth``, ``k`` and ``privacy``. A total is a row marked
``total`` in every format: sum ``value`` over ``scope == "cell"`` rows, never over all.

Trends are rows too: one per theme and period (``theme``, ``kind``, ``period``, ``value``,
``direction``, ``becoming_strong``, ``released_as``), never joined strings.

Each output's JSON Schema ships in ``schemas/`` (package data): :func:`schema`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from engagement_tracker.domain.dimensions import COLUMN_ORDER
from engagement_tracker.projections.anonymity import Release
from engagement_tracker.projections.privacy import DpRelease

#: Every dimension a release may group by, in the order its columns are shown.
DIMENSIONS = COLUMN_ORDER  # the order outputs print dimension columns (domain/dimensions.py)

#: The outputs whose schema ships with the package.
OUTPUTS = ("signals-summary", "signals-summary-dp", "signals-trends", "activity")


def columns(by: tuple[str, ...] | list[str], dp: bool = False) -> list[str]:
    """The columns of a release's rows, in order (the same for CSV, JSON, JSONL, Parquet and the table)."""
    dims = [d for d in DIMENSIONS if d in by]
    interval = ["low_95", "high_95"] if dp else []
    tail = ["privacy", "mechanism", "epsilon"] if dp else ["k", "privacy"]
    return ["scope", *dims, "value", *interval, "status", "level", "unit_depth", *tail]


def release_rows(rel: Release) -> list[dict[str, Any]]:
    """The cells of an exact release, then its grand total as a row with ``scope: total``."""
    dims = [d for d in DIMENSIONS if d in rel.by]
    common = {"level": rel.level.time, "unit_depth": rel.level.unit_depth, "k": rel.policy.k, "privacy": "exact"}
    rows = [{"scope": "cell", **{d: r.dims.get(d) for d in dims}, "value": r.value, "status": r.status, **common}
            for r in rel.rows]
    total_status = "released" if rel.total is not None else "suppressed"
    rows.append({"scope": "total", **dict.fromkeys(dims), "value": rel.total, "status": total_status, **common})
    return [{c: row[c] for c in columns(rel.by)} for row in rows]


def dp_rows(rel: DpRelease) -> list[dict[str, Any]]:
    """The noisy cells of a differentially private release (no total is published)."""
    dims = [d for d in DIMENSIONS if d in rel.by]
    rows = []
    for r in rel.rows:
        row = {"scope": "cell", **{d: r.dims.get(d) for d in dims}, "value": r.value,
               "low_95": round(r.low, 1), "high_95": round(r.high, 1), "status": "released",
               "level": rel.level.time, "unit_depth": rel.level.unit_depth, "privacy": "dp",
               "mechanism": rel.mechanism, "epsilon": rel.epsilon}
        rows.append({c: row[c] for c in columns(rel.by, dp=True)})
    return rows


TREND_COLUMNS = ["theme", "kind", "period", "value", "direction", "becoming_strong", "released_as"]


def trend_rows(trends: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per theme and period, from ``AnalystService.trends``."""
    return [
        {"theme": t["theme"], "kind": t["kind"], "period": period, "value": value, "direction": t["direction"],
         "becoming_strong": t["becoming_strong"], "released_as": t["released_as"]}
        for t in trends
        for period, value in zip(t["periods"], t["values"], strict=True)
    ]


def schema(output: str) -> dict[str, Any]:
    """The JSON Schema of one row of ``output`` (one of :data:`OUTPUTS`), as shipped in the package."""
    if output not in OUTPUTS:
        raise KeyError(output)
    text = resources.files("engagement_tracker.adapters.cli").joinpath(f"schemas/{output}.schema.json").read_text(
        encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
