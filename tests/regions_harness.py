"""An analyst service over synthetic facts (written straight into a view), and an attacker that
solves the released linear system: what the region-rule tests share."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import attrs
from eventsourcing.persistence import Tracking

from engagement_tracker.domain import Actor, EngagementTracker, Role
from engagement_tracker.projections.analytics import NAME, RELEASE_RULES, AnalystService, Analytics, AnalyticsView, pseudonym
from engagement_tracker.projections.anonymity import Fact, Level, Release, period_of, tally, unit_at
from engagement_tracker.projections.regions import Block, cover, fine_key, from_scratch

ANALYST = Actor(UUID("00000000-0000-4000-8000-0000000a11a1"), Role.ANALYST)
OTHER_ANALYST = Actor(UUID("00000000-0000-4000-8000-0000000a11a2"), Role.ANALYST)
#: Sources: six engagements (one person each) and two cohorts (three persons each).
SOURCES = {**{f"e{i}": frozenset({f"p{i}"}) for i in range(6)},
           "c0": frozenset({"p6", "p7", "p8"}), "c1": frozenset({"p9", "p10", "p11"})}
PERSONS = sorted({p for ps in SOURCES.values() for p in ps})
UNITS = ("A/x", "A/y", "B/x", "B")
MONTHS = tuple(f"2026-{m:02d}" for m in range(1, 7))
THEMES = ("turnover", "energy_gain")
CONTEXTS = ("tech", "management")


def fact(source: str, unit: str, month: str, theme: str, context: str) -> Fact:
    return Fact("signal", "signal", unit, month, source, SOURCES[source], theme, context, "drains", 3)


@attrs.define
class Harness:
    """A service whose view is fed directly, and what was released so far (for the attacker)."""

    app: EngagementTracker
    view: AnalyticsView
    service: AnalystService
    facts: list[Fact] = attrs.Factory(list)
    #: Per accepted release: (facts existing then, the release, its fine cells' labels, its query).
    releases: list[tuple[int, Release, dict[str, tuple[str | None, str | None]], dict[str, Any]]] = attrs.Factory(
        list)
    position: int = 10_000_000

    @classmethod
    def open(cls, app: EngagementTracker, view: AnalyticsView, k_min: int = 3, *,
             clock: Callable[[], datetime] | None = None, calendar: bool = False, budgets: bool = False) -> Harness:
        """``calendar``: the service reserves and records the app's release calendar (``app.release_calendar``);
        ``budgets``: differentially private releases are paid from the app's privacy budgets (``app.budgets``:
        the analysts must hold the analyst grant and a budget in the app)."""
        from engagement_tracker.adapters.bootstrap import read_model_backend

        analytics = Analytics(view, read_model_backend(app).records)
        view.append([], {}, Tracking(NAME, 10_000_000))  # past every stored event: catch_up reads nothing
        grants = {str(a.party): frozenset({"analyst"}) for a in (ANALYST, OTHER_ANALYST)}
        service = AnalystService(analytics, clock or (lambda: datetime(2026, 7, 1, tzinfo=UTC)), k_min,
                                 grants=lambda: grants, rules=RELEASE_RULES,
                                 calendar=app.release_calendar if calendar else None,
                                 spend=(lambda analyst, cost, query: app.budgets.spend(analyst, cost, query).value)
                                 if budgets else None,
                                 afford=app.budgets.require_affordable if budgets else None)
        return cls(app, view, service)

    def add(self, new: Sequence[Fact]) -> None:
        if not new:
            return
        self.position += 1
        self.view.append([(self.position, f) for f in new], {}, Tracking(NAME, self.position), tally(new))
        self.facts.extend(new)

    def recorded(self) -> tuple[int, dict[str, Block], dict[str, list[Block]]]:
        return len(self.view.ledger("signal")), self.view.regions("signal"), self.view.parts("signal")

    def summary(self, analyst: Actor = ANALYST, **query: Any) -> Release:
        """Ask; on acceptance remember what was published (the attacker's knowledge)."""
        before = len(self.view.ledger("signal"))
        rel = self.service.summary(analyst, **query)
        if len(self.view.ledger("signal")) > before:
            scope = in_scope(self.facts, query.get("unit"), query.get("since"), query.get("until"))
            labels = {key: (label, cell) for key, (label, cell, _) in cover(rel, tally(scope)).items()}
            self.releases.append((len(self.facts), rel, labels, query))
        return rel

    def batch(self, analyst: Actor, queries: Sequence[dict[str, Any]]) -> int:
        """Ask several releases as one command (``AnalystService.atomically``), a refused one skipped as
        a note's section is; on commit remember the ones recorded. Returns how many were recorded."""
        from engagement_tracker.domain import DisclosureRisk, InvalidInput

        before = len(self.view.ledger("signal"))
        asked: list[tuple[Release, dict[str, Any]]] = []

        def ask() -> None:
            asked.clear()
            for query in queries:
                try:
                    asked.append((self.service.summary(analyst, **query), query))
                except (DisclosureRisk, InvalidInput):
                    continue
                assert len(self.view.ledger("signal")) == before  # nothing recorded before the command ends

        self.service.atomically(ask)
        recorded = len(self.view.ledger("signal")) - before
        published = [(rel, query) for rel, query in asked if rel.rows]  # an empty release is not recorded
        assert recorded == len(published)
        for rel, query in published:
            scope = in_scope(self.facts, query.get("unit"), query.get("since"), query.get("until"))
            labels = {key: (label, cell) for key, (label, cell, _) in cover(rel, tally(scope)).items()}
            self.releases.append((len(self.facts), rel, labels, query))
        return recorded

    def regions_from_scratch(self) -> dict[str, Block]:
        rows = [(fine_key(tally([f])[0]), {pseudonym(p): 1 for p in f.persons}, {f.source: 1}) for f in self.facts]
        return from_scratch("signal", rows, [(n, labels) for n, _, labels, _ in self.releases])


def matches(f: Fact, unit: str | None, since: str | None, until: str | None) -> bool:
    return ((since is None or f.month >= since) and (until is None or f.month <= until)
            and (unit is None or f.unit == unit or f.unit.startswith(unit.rstrip("/") + "/")))


def in_scope(facts: Sequence[Fact], unit: str | None, since: str | None, until: str | None) -> list[Fact]:
    return [f for f in facts if matches(f, unit, since, until)]


def cell_of(f: Fact, by: Sequence[str], level: Level) -> tuple[Any, ...]:
    values = {"period": period_of(f.month, level.time), "unit": unit_at(f.unit, level.unit_depth)}
    return tuple(values.get(d, getattr(f, d, None)) for d in by)


def released_system(h: Harness) -> tuple[list[list[int]], list[int], list[tuple[list[int], str]]]:
    """A (released values x facts), b (the values), and every suppressed cell as (its facts' columns, reason).

    An analyst is not told why a cell is suppressed; the reason is worked out here from the facts
    (:func:`primary_reason`), as the rules decide it."""
    matrix: list[list[int]] = []
    values: list[int] = []
    hidden: list[tuple[list[int], str]] = []
    for seen, rel, _, query in h.releases:
        members: dict[tuple[Any, ...], list[int]] = {}
        for i, f in enumerate(h.facts[:seen]):
            if matches(f, query.get("unit"), query.get("since"), query.get("until")):  # in this release's population
                members.setdefault(cell_of(f, rel.by, rel.level), []).append(i)
        scope = [i for cols in members.values() for i in cols]
        for row in rel.rows:
            cols = members.get(tuple(row.dims[d] for d in rel.by), [])
            if row.status == "released":
                matrix.append([1 if i in cols else 0 for i in range(len(h.facts))])
                values.append(int(row.value or 0))
            else:
                hidden.append((cols, primary_reason(h, cols, rel.policy.k, rel.policy.dominance)))
        if rel.total is not None:
            matrix.append([1 if i in scope else 0 for i in range(len(h.facts))])
            values.append(rel.total)
    return matrix, values, hidden


def primary_reason(h: Harness, cols: list[int], k: int, dominance: float) -> str:
    """Why the rules hide a cell of these facts: 'k', 'dominance', or else 'complementary'."""
    persons = set().union(*(h.facts[i].persons for i in cols)) if cols else set()
    sources = Counter(h.facts[i].source for i in cols)
    if len(persons) < k:
        return "k"
    if sources and max(sources.values()) >= dominance * len(cols):
        return "dominance"
    return "complementary"


def rank(rows: list[list[int]]) -> int:
    import numpy as np

    return int(np.linalg.matrix_rank(np.array(rows, dtype=float))) if rows and rows[0] else 0


def isolating_sets(h: Harness, k: int) -> list[tuple[str, ...]]:
    """Sets of fewer than k persons whose facts' columns some combination of releases depends on alone."""
    matrix, _, _ = released_system(h)
    if not matrix:
        return []
    full = rank(matrix)
    found = []
    for group in itertools.combinations(PERSONS, k - 1):  # the largest sets suffice: fewer columns never raise it
        keep = [i for i, f in enumerate(h.facts) if not f.persons <= set(group)]
        if rank([[row[i] for i in keep] for row in matrix]) != full:
            found.append(group)
    return found


def narrow_hidden_cells(h: Harness) -> list[tuple[float, float]]:
    """Cells suppressed for their own sake (fewer than k persons, or one dominant source) whose value
    the releases pin to an interval narrower than one fact. (A cell hidden only to protect others
    passed both rules: learning it, from another release, tells nothing about fewer than k persons.)"""
    from scipy.optimize import linprog

    matrix, values, hidden = released_system(h)
    n = len(h.facts)
    if not hidden or n == 0:
        return []
    upper = [[-1 if i in cols else 0 for i in range(n)] for cols, _ in hidden]  # each hidden cell holds >= 1 fact
    bounds = [(0, None)] * n
    narrow = []
    for cols, reason in hidden:
        if reason not in ("k", "dominance"):
            continue
        objective = [1 if i in cols else 0 for i in range(n)]
        low = linprog(objective, A_ub=upper, b_ub=[-1] * len(hidden), A_eq=matrix or None, b_eq=values or None,
                      bounds=bounds, method="highs")
        high = linprog([-c for c in objective], A_ub=upper, b_ub=[-1] * len(hidden), A_eq=matrix or None,
                       b_eq=values or None, bounds=bounds, method="highs")
        if low.status == 0 and high.status == 0 and -high.fun - low.fun < 1 - 1e-7:
            narrow.append((low.fun, -high.fun))
    return narrow
