"""The region rule's cost: a window query after many earlier releases against the same query on a
fresh ledger, over the same data (two copies of one SQLite store), timed in turn (A/B alternated)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import cost_row, rounds_of
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
    """A copy of the store with its key vault and record key: a store is one set of files, opened together."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    for suffix in ("-vault", "-record-key"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


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


def bench_releases(store: Path, directory: Path, counts: list[int], rounds: int,
                   granted: Callable[[EngagementTracker, str, Role], Actor]) -> list[dict[str, Any]]:
    """The window query, and the whole-history query, on copies of one store holding 0 and each of
    ``counts`` earlier releases, every copy in turn in every round (the order reversed every other
    round); the fresh copy forgets its release before each round (untimed)."""
    paths = {n: directory / f"ledger-{n}.sqlite" for n in [0, *counts]}
    apps: dict[int, EngagementTracker] = {}
    try:
        for n, path in paths.items():
            _copy(store, path)
            apps[n] = open_tracker(f"sqlite:///{path}")
            forget_releases(apps[n])  # every copy starts with no release at all
        analysts = {n: granted(app, "Analyst", Role.ANALYST) for n, app in apps.items()}
        months, units = _scope(apps[0])
        shapes = {"window": {"by": ["theme", "period"], "period": "month", "since": months[0], "until": months[0]},
                  "all-history": {"by": ["theme", "period"], "period": "quarter"}}
        made = {0: 0, **{n: _release_many(apps[n], analysts[n], n, months, units) for n in counts}}
        services = {n: bootstrap.analyst_service(app) for n, app in apps.items()}
        for service in services.values():
            service.analytics.catch_up()
        times: dict[tuple[str, int], list[float]] = {(s, n): [] for s in shapes for n in apps}
        refused = dict.fromkeys(times, 0)
        order = list(apps)
        for r in range(rounds):
            forget_releases(apps[0])  # untimed: the fresh store forgets its releases again
            for n in order if r % 2 == 0 else reversed(order):
                for shape, query in shapes.items():
                    t0 = time.perf_counter()
                    try:
                        services[n].summary(analysts[n], **query)  # type: ignore[arg-type]
                    except DisclosureRisk:  # the rule's whole check ran; the answer is withheld
                        refused[(shape, n)] += 1
                    times[(shape, n)].append(time.perf_counter() - t0)
    finally:
        for app in apps.values():
            app.close()
    rows = []
    for shape in shapes:
        for n in counts:
            target = "<= 1.5" if shape == "window" and n == max(counts) else None
            rows.append(cost_row(f"query/{shape}/after-{made[n]}-releases",
                                 f"{shape} query ({months[0] if shape == 'window' else 'by quarter'}) after "
                                 f"{made[n]} earlier releases", made[n], times[(shape, n)], times[(shape, 0)],
                                 "the same query on a fresh ledger", target,
                                 refused=refused[(shape, n)], refused_fresh=refused[(shape, 0)]))
    return rows


def bench_release_leaves(store: Path, directory: Path, rounds: int,
                         granted: Callable[[EngagementTracker, str, Role], Actor]) -> list[dict[str, Any]]:
    """The cost of logging a release (its event, a leaf of the audit log, written in the ledger's transaction):
    the same window release on two copies of one store, one whose view logs it and one whose view does not
    (``release_leaves`` None, as before the log), in turn; each copy forgets its releases before it is timed."""
    paths = {arm: directory / f"leaves-{arm}.sqlite" for arm in ("logged", "unlogged")}
    apps: dict[str, EngagementTracker] = {}
    try:
        for arm, path in paths.items():
            _copy(store, path)
            apps[arm] = open_tracker(f"sqlite:///{path}")
        analysts = {arm: granted(app, "Analyst", Role.ANALYST) for arm, app in apps.items()}
        services = {arm: bootstrap.analyst_service(app) for arm, app in apps.items()}
        services["unlogged"].analytics.view.release_leaves = None
        months, _ = _scope(apps["logged"])
        query = {"by": ["theme", "period"], "period": "month", "since": months[0], "until": months[0]}
        for service in services.values():
            service.analytics.catch_up()

        def arm(name: str) -> Callable[[], None]:
            def run() -> None:
                services[name].summary(analysts[name], **query)  # type: ignore[arg-type]
            return run

        def fresh() -> None:
            for app in apps.values():
                forget_releases(app)

        t = rounds_of({"logged": arm("logged"), "unlogged": arm("unlogged")}, rounds, before=fresh)
    finally:
        for app in apps.values():
            app.close()
    return [cost_row("release/logged", f"a window release ({months[0]}) recorded with its leaf of the audit log",
                     1, t["logged"], t["unlogged"], "the same release recorded without its leaf", "<= 1.5")]
