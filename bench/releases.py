"""The region rule's cost: a window query after many earlier releases against the same query on a
fresh ledger, over the same data (two copies of one SQLite store), timed in turn (A/B alternated)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engagement_tracker.adapters import bootstrap, open_tracker
from engagement_tracker.domain import Actor, DisclosureRisk, EngagementTracker, InvalidInput, Role

#: The shapes an analyst team asks for, month by month, for the whole organisation and per unit.
SHAPES: tuple[list[str], ...] = (["theme", "period"], ["context", "period"], ["polarity", "period"],
                                 ["intensity", "period"])
LEDGER_TABLES = ("release_ledger", "released_rows", "analytic_parts", "analytic_regions")


def forget_releases(app: EngagementTracker) -> None:
    """Empty an SQLite store's ledger and regions (between benchmarks that each want a fresh one)."""
    view: Any = bootstrap.analytics(app).view
    with view.datastore.transaction(commit=True) as c:
        for table in LEDGER_TABLES:
            c.execute(f"DELETE FROM {table}")


def _copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _scope(app: EngagementTracker) -> tuple[list[str], list[str]]:
    """The months and the units (and their top levels) of the store's signals."""
    analytics = bootstrap.analytics(app)
    analytics.catch_up()
    tallies = analytics.view.tallies("signal")
    units = sorted({t.unit for t in tallies})
    return sorted({t.month for t in tallies}), sorted({u.split("/")[0] for u in units} | set(units))


def _release_many(app: EngagementTracker, analyst: Actor, count: int, months: list[str], units: list[str]) -> int:
    """Record ``count`` releases: every shape, month and unit once (those the region rule accepts),
    then the accepted ones again in turn (an analyst team refreshing its dashboards)."""
    service = bootstrap.analyst_service(app)
    queries = [{"by": by, "period": "month", "since": m, "until": m, "unit": unit}
               for m in months for unit in [None, *units] for by in SHAPES]
    accepted = []
    recorded = len(service.analytics.view.ledger("signal"))
    for query in queries:
        if recorded >= count:
            break
        try:
            service.summary(analyst, **query)
        except (DisclosureRisk, InvalidInput):
            continue
        now = len(service.analytics.view.ledger("signal"))
        if now > recorded:  # recorded (a population under k records nothing)
            accepted.append(query)
        recorded = now
    for i in range(count - recorded):
        service.summary(analyst, **accepted[i % len(accepted)])
    return len(service.analytics.view.ledger("signal"))


def bench_releases(store: Path, directory: Path, earlier: int, rounds: int,
                   granted: Callable[[EngagementTracker, str, Role], Actor],
                   peak_rss_mb: Callable[[], float]) -> dict[str, Any]:
    fresh_path, busy_path = directory / "fresh-ledger.sqlite", directory / "busy-ledger.sqlite"
    _copy(store, fresh_path)
    _copy(store, busy_path)
    fresh, busy = open_tracker(f"sqlite:///{fresh_path}"), open_tracker(f"sqlite:///{busy_path}")
    try:
        for app in (fresh, busy):  # both start with no release at all
            forget_releases(app)
        analysts = {id(app): granted(app, "Analyst", Role.ANALYST) for app in (fresh, busy)}
        months, units = _scope(busy)
        window = {"by": ["theme", "period"], "period": "month", "since": months[0], "until": months[0]}
        made = _release_many(busy, analysts[id(busy)], earlier, months, units)
        services = {id(app): bootstrap.analyst_service(app) for app in (fresh, busy)}
        for app in (fresh, busy):
            services[id(app)].analytics.catch_up()
        best = {id(fresh): float("inf"), id(busy): float("inf")}
        cells = 0
        for _ in range(rounds):
            forget_releases(fresh)  # untimed: the fresh store forgets its release again
            for app in (fresh, busy):  # A, then B, each round
                t0 = time.perf_counter()
                rel = services[id(app)].summary(analysts[id(app)], **window)
                best[id(app)] = min(best[id(app)], time.perf_counter() - t0)
                cells = len(rel.rows)
        view: Any = bootstrap.analytics(busy).view
        with view.datastore.transaction(commit=False) as c:
            c.execute("SELECT count(DISTINCT query) FROM release_ledger")
            distinct = int(c.fetchone()[0])
    finally:
        fresh.close()
        busy.close()
    return {
        "name": "query/after-releases",
        "what": f"window query ({months[0]}) after {made} earlier releases ({distinct} distinct queries)",
        "events": made, "seconds": round(best[id(busy)], 4), "baseline": "the same query on a fresh ledger",
        "baseline_seconds": round(best[id(fresh)], 4), "ratio": round(best[id(busy)] / best[id(fresh)], 2),
        "cells": cells, "target": "<= 1.5", "peak_rss_mb": round(peak_rss_mb(), 1),
    }
