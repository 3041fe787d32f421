"""The analysts' outputs as one model: long-format rows with the same columns in every format.

Every family (signals, activity, testimonial ratings; exact or differentially private) and
trends become rows of one shape, in Python (``app.analysts`` answers through :func:`rows_of`)
and on the command line (table, CSV, JSON, JSONL, Parquet) alike: ``scope`` (``cell``, or
``total`` for the one grand-total row of an exact release), the release's dimensions,
``value``, for DP the 95% interval (``low_95``, ``high_95``), ``status`` (``released`` |
``suppressed``), the ``level`` the release was made at (``month``, ``quarter``, ``year``:
coarsened when small cells asked for it) with ``unit_depth``, then the policy: ``k`` and
``privacy`` (``exact``), or ``privacy`` (``dp``), ``mechanism``, ``rho`` (the zCDP loss it cost), ``epsilon``,
``delta`` and ``threshold``. A total is a row marked ``total``: sum ``value`` over
``scope == "cell"`` rows, never over all. A release with no row still states its policy: :func:`policy_line` (the CLI
prints it on stderr).

Trends are rows too: one per theme and period (``theme``, ``kind``, ``period``, ``value``,
``direction``, ``becoming_strong``, ``released_as``), never joined strings.
"""

from __future__ import annotations

from typing import Any

from engagement_tracker.domain.dimensions import COLUMN_ORDER
from engagement_tracker.projections.anonymity import Release
from engagement_tracker.projections.privacy import DpRelease

#: Every dimension a release may group by, in the order its columns are shown.
DIMENSIONS = COLUMN_ORDER  # the order outputs print dimension columns (domain/dimensions.py)

#: The columns of a trend's rows.
TREND_COLUMNS = ["theme", "kind", "period", "value", "direction", "becoming_strong", "released_as"]

#: The columns of a release plan's rows (``app.analysts.plan``: ``etrack releases plan``, ``GET /releases/plan``).
PLAN_COLUMNS = ["family", "by", "period", "since", "until", "level", "k", "status", "why", "calendar"]


def columns(by: tuple[str, ...] | list[str], dp: bool = False) -> list[str]:
    """The columns of a release's rows, in order (the same for CSV, JSON, JSONL, Parquet and the table)."""
    dims = [d for d in DIMENSIONS if d in by]
    interval = ["low_95", "high_95"] if dp else []
    tail = ["privacy", "mechanism", "rho", "epsilon", "delta", "threshold"] if dp else ["k", "privacy"]
    return ["scope", *dims, "value", *interval, "status", "level", "unit_depth", *tail]


def columns_of(rel: Release | DpRelease) -> list[str]:
    """The columns of ``rel``'s rows."""
    return columns(rel.by, dp=isinstance(rel, DpRelease))


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
    """The noisy cells of a differentially private release (no total is published), each naming the policy."""
    dims = [d for d in DIMENSIONS if d in rel.by]
    rows = []
    for r in rel.rows:
        row = {"scope": "cell", **{d: r.dims.get(d) for d in dims}, "value": r.value,
               "low_95": round(r.low, 1), "high_95": round(r.high, 1), "status": "released",
               "level": rel.level.time, "unit_depth": rel.level.unit_depth, "privacy": "dp",
               "mechanism": rel.mechanism, "rho": rel.rho, "epsilon": rel.epsilon, "delta": rel.delta, "threshold": rel.threshold}
        rows.append({c: row[c] for c in columns(rel.by, dp=True)})
    return rows


def rows_of(rel: Release | DpRelease) -> list[dict[str, Any]]:
    """The rows of any release, exact or differentially private."""
    return dp_rows(rel) if isinstance(rel, DpRelease) else release_rows(rel)


def policy_line(rel: Release | DpRelease) -> str:
    """What a release was made under, in one line: what every format states, even with no row."""
    if isinstance(rel, DpRelease):
        return (f"differential privacy: {rel.mechanism} (OpenDP), epsilon {rel.epsilon:g}, delta {rel.delta:g} "
                f"(zCDP rho {rel.rho:.6g}); noise scale {rel.scale:.4g}; cells shown only from {rel.threshold}; "
                "each person counts at most "
                f"{rel.bound} person-signals; low_95..high_95 holds the true count 95% of the time"
                + ("; the recorded answer to this same query on the same data: nothing spent" if rel.repeated else ""))
    return (f"exact release: level {rel.level.time}"
            + (f", units to depth {rel.level.unit_depth}" if rel.level.unit_depth is not None else "")
            + f"; k={rel.policy.k}; {len(rel.hidden)} cell(s) suppressed (no reason is given: it would bound the "
            "hidden value); the total row counts every fact, suppressed ones included")


def trend_rows(trends: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per theme and period, from ``AnalystService.trends``."""
    return [
        {"theme": t["theme"], "kind": t["kind"], "period": period, "value": value, "direction": t["direction"],
         "becoming_strong": t["becoming_strong"], "released_as": t["released_as"]}
        for t in trends
        for period, value in zip(t["periods"], t["values"], strict=True)
    ]


__all__ = ["DIMENSIONS", "PLAN_COLUMNS", "TREND_COLUMNS",
           "columns", "columns_of", "dp_rows", "policy_line", "release_rows", "rows_of",
           "trend_rows"]
