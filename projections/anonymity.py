"""Release rules for analysts: pure functions, no I/O, proven with hypothesis.

A *fact* is one signal (or one activity event) with its dimensions, a coarse unit, a month, the
source it came through (an engagement or a cohort) and the pseudonymous persons behind it.
Facts never leave the projection; only a :class:`Release` does (released values and the policy,
nothing else), built as follows (as an :class:`InternalRelease`, which keeps the persons behind
it and each suppression's reason inside the service):

1. **Cells.** Facts are grouped by the requested dimensions (theme, context, polarity,
   intensity, unit, period, metric), with time coarsened to month, quarter or year and units
   cut to a depth of their ``/`` hierarchy.
2. **Coarsening before suppressing.** If the cells at the requested level would hide more than
   ``max_hidden_share`` of the facts, time is coarsened (month -> quarter -> year), then the
   unit (up the hierarchy to ``*``), and the first level that keeps enough is released (if
   none does, the level that hides least). The level used is part of the release.
3. **Primary suppression.** A cell is hidden when fewer than ``k`` distinct persons stand
   behind it (default 5, never below 3), or when one source makes more than ``dominance`` of
   its facts (no single engagement or cohort makes most of a cell).
4. **Complementary suppression.** The release publishes its released cells and the grand total
   (no per-dimension subtotal is published). A hidden cell holds at least one fact, so from the
   released data a hidden cell lies in ``[1, hidden_sum - (hidden_cells - 1)]``. More cells are
   hidden (smallest first) until that interval is wider than one: never a single hidden cell,
   never a recoverable value. When that cannot be reached (a lone hidden cell and nothing else
   to hide), the total is withheld as well.
   The total is also withheld when the hidden cells together (what the total minus the released
   cells gives) stand for fewer than ``k`` persons or are made mostly by one source.
5. **Population.** If the whole population is smaller than ``k`` persons, nothing is released,
   not even the total. Across releases, ``projections.regions`` refuses a release that could be
   combined with earlier ones (of every analyst) to single out fewer than ``k`` persons.

Every suppression is marked in the output (its reason stays inside); a suppressed cell is never a zero.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, overload

import attrs

from engagement_tracker.domain.checks import MIN_K
from engagement_tracker.domain.dimensions import DIMENSIONS, PERIODS
from engagement_tracker.domain.errors import InvalidInput

#: One table of dimensions and periods (``domain/dimensions.py``).
TIME_LEVELS = PERIODS


@attrs.frozen
class Fact:
    family: str  # "signal" | "activity"
    metric: str  # "signal", or the activity measured ("sessions_held", ...)
    unit: str
    month: str  # "2026-03"
    source: str  # the engagement or cohort it came through
    persons: frozenset[str]
    theme: str | None = None
    context: str | None = None
    polarity: str | None = None
    intensity: int | None = None


@attrs.frozen
class Tally:
    """Facts pre-aggregated per fine cell (one unit, one month, one value of every dimension).

    The projection keeps these up to date so a release costs per cell, not per event. It
    carries what the rules need: how many facts, how many each person and each source stands
    behind.
    """

    family: str
    metric: str
    unit: str
    month: str
    theme: str | None
    context: str | None
    polarity: str | None
    intensity: int | None
    facts: int
    persons: tuple[tuple[str, int], ...]  # (person, facts they stand behind), sorted
    sources: tuple[tuple[str, int], ...]  # (source, facts it made), sorted

    @property
    def key(self) -> tuple[Any, ...]:
        return tally_key(self)


def tally_key(f: Fact | Tally) -> tuple[Any, ...]:
    return (f.family, f.metric, f.unit, f.month, f.theme, f.context, f.polarity, f.intensity)


def tally(items: Iterable[Fact | Tally]) -> list[Tally]:
    """Merge facts (and tallies) into one tally per fine cell."""
    cells: dict[tuple[Any, ...], list[Any]] = {}  # key -> [facts, persons Counter, sources Counter]
    for item in items:
        key = tally_key(item)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, Counter(), Counter()]
        if isinstance(item, Tally):
            cell[0] += item.facts
            cell[1].update(dict(item.persons))
            cell[2].update(dict(item.sources))
        else:
            cell[0] += 1
            persons = cell[1]
            for p in item.persons:
                persons[p] += 1
            cell[2][item.source] += 1
    return [Tally(family, metric, unit, month, theme, context, polarity, intensity, facts,
                  tuple(sorted(persons.items())), tuple(sorted(sources.items())))
            for (family, metric, unit, month, theme, context, polarity, intensity), (facts, persons, sources)
            in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0])))]


#: A tally as the SQL views store it (and as a whole-history query holds it): its key as JSON, its
#: eight dimensions, its facts, and its persons and sources as JSON objects (name -> facts).
TallyRow = tuple[Any, ...]


def tally_row(t: Tally) -> TallyRow:
    return (json.dumps(list(t.key)), *t.key, t.facts, json.dumps(dict(t.persons)), json.dumps(dict(t.sources)))


def tally_of(row: Sequence[Any], names: Callable[[str], str] | None = None) -> Tally:
    """The tally of a stored row (``names`` maps each person and source name as it is decoded)."""
    family, metric, unit, month, theme, context, polarity, intensity = row[1:9]
    persons, sources = json.loads(row[10]), json.loads(row[11])
    if names is None:
        return Tally(family, metric, unit, month, theme, context, polarity, intensity, int(row[9]),
                     tuple(sorted(persons.items())), tuple(sorted(sources.items())))
    return Tally(family, metric, unit, month, theme, context, polarity, intensity, int(row[9]),
                 tuple(sorted((names(p), n) for p, n in persons.items())),
                 tuple(sorted((names(s), n) for s, n in sources.items())))


def compact_row(row: Sequence[Any]) -> TallyRow:
    """A stored row with its dimensions' names interned: a whole history's rows share one string per
    unit, month, theme ... instead of one per row."""
    return (row[0], *(sys.intern(v) if isinstance(v, str) else v for v in row[1:9]), *row[9:12])


def tally_dims(row: Sequence[Any]) -> Tally:
    """A stored row's fine cell without its persons and sources (not decoded): its key and its facts."""
    family, metric, unit, month, theme, context, polarity, intensity = row[1:9]
    return Tally(family, metric, unit, month, theme, context, polarity, intensity, int(row[9]), (), ())


class Tallies(Sequence[Tally]):
    """Tallies kept as their stored rows and decoded one at a time, each time they are read.

    A release reads its tallies a few times (its population, the cells of each level it tries,
    the total); over the whole history, holding them decoded would cost several times their
    stored size. Names are interned as they are decoded, so a person counted in many cells is
    one string.
    """

    def __init__(self, rows: Sequence[TallyRow]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> Tally: ...

    @overload
    def __getitem__(self, i: slice) -> list[Tally]: ...

    def __getitem__(self, i: int | slice) -> Tally | list[Tally]:
        if isinstance(i, slice):
            return [tally_of(r, sys.intern) for r in self.rows[i]]
        return tally_of(self.rows[i], sys.intern)

    def __iter__(self) -> Iterator[Tally]:
        for row in self.rows:
            yield tally_of(row, sys.intern)


@attrs.frozen
class Policy:
    k: int = 5
    dominance: float = 0.5
    max_hidden_share: float = 0.25

    def __attrs_post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < MIN_K:
            raise InvalidInput("k", f"{self.k!r}: at least {MIN_K} distinct persons stand behind a released cell")
        if not 0.5 <= self.dominance < 1:
            raise InvalidInput("dominance", f"{self.dominance}: the share a single source may make is 0.5 to <1")
        if not 0 <= self.max_hidden_share <= 1:
            raise InvalidInput("max_hidden_share", f"{self.max_hidden_share}: a share between 0 and 1")


@attrs.frozen
class Level:
    time: str = "month"
    unit_depth: int | None = None  # None: units as recorded; 0: all units together ("*")


@attrs.define
class Cell:
    key: tuple[Any, ...]
    facts: int = 0
    persons: set[str] = attrs.Factory(set)
    sources: Counter[str] = attrs.Factory(Counter)


@attrs.frozen
class Row:
    """A cell as an analyst receives it: its dimensions, its value (None when suppressed) and its
    status. Never why it was suppressed (a reason would bound the hidden value)."""

    dims: dict[str, Any]
    value: int | None
    status: str  # "released" | "suppressed"

    def to_dict(self) -> dict[str, Any]:
        return {**self.dims, "value": self.value, "status": self.status}


@attrs.frozen
class Release:
    """What an analyst receives: the released values and the policy they were released under.

    The shape asked (``by``), the level it was released at, the policy (k, dominance, the share
    that may be hidden), every cell (released with its value, or marked suppressed) and the
    grand total (None when withheld). No person, no source and no suppression reason: those
    stay in :class:`InternalRelease`, inside the analyst service.
    """

    by: tuple[str, ...]
    level: Level
    policy: Policy
    rows: tuple[Row, ...]
    total: int | None  # every fact of the population, or None when withheld

    @property
    def released(self) -> list[Row]:
        return [r for r in self.rows if r.status == "released"]

    @property
    def hidden(self) -> list[Row]:
        return [r for r in self.rows if r.status == "suppressed"]

    @property
    def released_as(self) -> str:
        return "exact"

    def points(self) -> list[tuple[dict[str, Any], int]]:
        """The released cells' dimensions and exact values (suppressed cells are not values)."""
        return [(r.dims, r.value or 0) for r in self.released]


@attrs.frozen
class InternalRow:
    """A cell as the rules decided it, with why it was suppressed: stays inside the service."""

    dims: dict[str, Any]
    value: int | None
    status: str  # "released" | "suppressed"
    reason: str | None  # "k" | "dominance" | "complementary"

    def published(self) -> Row:
        return Row(self.dims, self.value, self.status)

    def to_dict(self) -> dict[str, Any]:
        """What an analyst sees of it: the reason stays inside."""
        return self.published().to_dict()


@attrs.frozen
class InternalRelease:
    """A release as the rules built it, with what decided it: the persons behind it (its
    population) and each suppressed cell's reason. The analyst service records and checks it,
    and hands out only :meth:`published`."""

    by: tuple[str, ...]
    level: Level
    policy: Policy
    rows: tuple[InternalRow, ...]
    total: int | None  # every fact of the population, or None when withheld
    population: frozenset[str]

    @property
    def released(self) -> list[InternalRow]:
        return [r for r in self.rows if r.status == "released"]

    @property
    def hidden(self) -> list[InternalRow]:
        return [r for r in self.rows if r.status == "suppressed"]

    def published(self) -> Release:
        """What an analyst receives of it: released values and the policy."""
        return Release(self.by, self.level, self.policy, tuple(r.published() for r in self.rows), self.total)


def period_of(month: str, level: str) -> str:
    """'2026-03' as a month, '2026-Q1' as a quarter, '2026' as a year."""
    year, mm = month.split("-")
    if level == "month":
        return month
    if level == "quarter":
        return f"{year}-Q{(int(mm) - 1) // 3 + 1}"
    return year


def unit_at(unit: str, depth: int | None) -> str:
    """'Operations/Lyon' cut to ``depth`` levels: 1 -> 'Operations', 0 -> '*'."""
    if depth is None:
        return unit
    if depth == 0:
        return "*"
    return "/".join(unit.split("/")[:depth])


def _value(fact: Fact | Tally, dim: str, level: Level) -> Any:
    if dim == "period":
        return period_of(fact.month, level.time)
    if dim == "unit":
        return unit_at(fact.unit, level.unit_depth)
    return getattr(fact, dim)


def build_cells(facts: Iterable[Fact | Tally], by: Sequence[str], level: Level) -> dict[tuple[Any, ...], Cell]:
    cells: dict[tuple[Any, ...], Cell] = {}
    for f in facts:
        _add(cells, f, by, level)
    return cells


def _add(cells: dict[tuple[Any, ...], Cell], f: Fact | Tally, by: Sequence[str], level: Level) -> None:
    key = tuple(_value(f, d, level) for d in by)
    cell = cells.setdefault(key, Cell(key))
    if isinstance(f, Tally):
        cell.facts += f.facts
        cell.persons.update(p for p, _ in f.persons)
        cell.sources.update(dict(f.sources))
    else:
        cell.facts += 1
        cell.persons |= f.persons
        cell.sources[f.source] += 1


def _weight(f: Fact | Tally) -> int:
    return f.facts if isinstance(f, Tally) else 1


def _persons(f: Fact | Tally) -> Iterable[str]:
    return (p for p, _ in f.persons) if isinstance(f, Tally) else f.persons


def primary_suppression(cells: dict[tuple[Any, ...], Cell], policy: Policy) -> dict[tuple[Any, ...], str]:
    hidden = {}
    for key, cell in cells.items():
        if len(cell.persons) < policy.k:
            hidden[key] = "k"
        elif cell.sources and max(cell.sources.values()) >= policy.dominance * cell.facts:
            hidden[key] = "dominance"  # one source makes half or more: at least three sources per released cell
    return hidden


def complementary_suppression(cells: dict[tuple[Any, ...], Cell], hidden: dict[tuple[Any, ...], str]) -> None:
    """Hide more cells until no hidden cell's value follows from the released cells and the total."""

    def slack() -> int:
        hidden_sum = sum(cells[k].facts for k in hidden)
        return hidden_sum - len(hidden)  # width of [1, hidden_sum - (n - 1)]

    candidates = sorted((c for k, c in cells.items() if k not in hidden), key=lambda c: (c.facts, str(c.key)))
    while hidden and (len(hidden) < 2 or slack() < 2) and candidates:
        hidden[candidates.pop(0).key] = "complementary"


def _hidden_share(cells: dict[tuple[Any, ...], Cell], hidden: dict[tuple[Any, ...], str]) -> float:
    total = sum(c.facts for c in cells.values())
    return 0.0 if total == 0 else sum(cells[k].facts for k in hidden) / total


def levels_to_try(by: Sequence[str], requested: Level) -> list[Level]:
    """The requested level, then coarser time, then coarser units (only for dimensions asked)."""
    levels = [requested]
    if "period" in by:
        for t in TIME_LEVELS[TIME_LEVELS.index(requested.time) + 1:]:
            levels.append(Level(t, requested.unit_depth))
    if "unit" in by:
        start = requested.unit_depth if requested.unit_depth is not None else 3
        for depth in range(min(start, 3) - (1 if requested.unit_depth is not None else 0), -1, -1):
            levels.append(Level(levels[-1].time, depth))
    return levels


def release(
    facts: Sequence[Fact | Tally],
    by: Sequence[str],
    policy: Policy | None = None,
    level: Level | None = None,
    auto_coarsen: bool = True,
) -> InternalRelease:
    """Build the release of ``facts`` grouped ``by`` the given dimensions (see the module docstring),
    as the service keeps it (:meth:`InternalRelease.published` is what an analyst receives)."""
    policy = policy or Policy()
    level = level or Level()
    by = tuple(by)
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown or not by or len(set(by)) != len(by):
        raise InvalidInput("by", f"{list(by)}: group by distinct dimensions among {', '.join(DIMENSIONS)}")
    if level.time not in TIME_LEVELS:
        raise InvalidInput("period", f"{level.time!r} is not one of {', '.join(TIME_LEVELS)}")
    # one pass for the population, the total and the requested level's cells (``facts`` may decode
    # as it is read, anonymity.Tallies); a coarser level tried reads them again
    persons: set[str] = set()
    total = 0
    first: dict[tuple[Any, ...], Cell] = {}
    for f in facts:
        persons.update(_persons(f))
        total += _weight(f)
        _add(first, f, by, level)
    population = frozenset(persons)
    del persons
    if len(population) < policy.k:  # nothing at all: not even which cells exist
        return InternalRelease(by, level, policy, (), None, population)

    chosen = None
    best = None
    for candidate in levels_to_try(by, level) if auto_coarsen else [level]:
        cells = first if candidate == level else build_cells(facts, by, candidate)  # the first level tried: level
        hidden = primary_suppression(cells, policy)
        complementary_suppression(cells, hidden)
        share = _hidden_share(cells, hidden)
        if best is None or share < best[0]:
            best = (share, (candidate, cells, hidden))
        if share <= policy.max_hidden_share:
            chosen = (candidate, cells, hidden)
            break
    if chosen is None:  # no level hides little enough: the one that hides least (the finest on ties)
        if best is None:  # unreachable: at least one level is always tried
            raise ValueError("no coarsening level was tried")
        chosen = best[1]
    used, cells, hidden = chosen
    hidden_sum = sum(cells[k].facts for k in hidden)
    protected = not hidden or (len(hidden) >= 2 and hidden_sum - len(hidden) >= 2 and _safe_together(
        [cells[k] for k in hidden], policy))
    rows = tuple(
        InternalRow(dict(zip(by, key, strict=True)), None if key in hidden else cells[key].facts,
            "suppressed" if key in hidden else "released", hidden.get(key))
        for key in sorted(cells, key=lambda k: tuple(str(v) for v in k))
    )
    # when too little is hidden to protect it (a lone hidden cell), the total is withheld too
    return InternalRelease(by, used, policy, rows, total if protected else None, population)


def _safe_together(hidden: Sequence[Cell], policy: Policy) -> bool:
    """Whether the hidden cells, taken together (the total minus the released cells), stand for k
    persons and are not made mostly by one source: otherwise the total is withheld."""
    persons = set().union(*(c.persons for c in hidden))
    sources: Counter[str] = Counter()
    for c in hidden:
        sources.update(c.sources)
    facts = sum(c.facts for c in hidden)
    return len(persons) >= policy.k and not (sources and max(sources.values()) >= policy.dominance * facts)


def hidden_interval(rel: Release | InternalRelease) -> tuple[int, int] | None:
    """What the released data says of any one hidden cell: [low, high]. None if nothing is hidden.

    An analyst knows the total, the released values and which cells are hidden (each holds at
    least one fact); nothing else.
    """
    if not rel.hidden or rel.total is None:
        return None
    hidden_sum = rel.total - sum(r.value or 0 for r in rel.released)
    return (1, hidden_sum - (len(rel.hidden) - 1))


# --- trends -------------------------------------------------------------------------------------


class Published(Protocol):
    """What trends read: a release's dimensions and its released values (exact, or with noise)."""

    @property
    def by(self) -> tuple[str, ...]: ...

    @property
    def released_as(self) -> str: ...

    def points(self) -> list[tuple[dict[str, Any], int]]: ...


def trends(rel: Published, recent: int = 4, strong_after: int = 3) -> list[dict[str, Any]]:
    """Per theme, the direction over the last ``recent`` released periods, from released values only
    (a release's exact cells, or a differentially private release's noisy ones: ``released_as``).

    A theme is flagged *becoming strong* when it rose over ``strong_after`` consecutive periods.
    Learning dips are reported apart (``kind: learning_dip``), never mixed with problems.
    """
    if "theme" not in rel.by or "period" not in rel.by:
        raise InvalidInput("by", "trends need a release by theme and period")
    series: dict[str, list[tuple[str, int]]] = {}
    for dims, value in rel.points():
        series.setdefault(dims["theme"], []).append((dims["period"], value))
    out = []
    for theme, points in sorted(series.items()):
        values = [v for _, v in sorted(points)][-recent:]
        rises = 0
        for a, b in itertools.pairwise(values):
            rises = rises + 1 if b > a else 0
        if len(values) < 2:
            direction = "unknown"
        elif values[-1] > values[0]:
            direction = "rising"
        elif values[-1] < values[0]:
            direction = "falling"
        else:
            direction = "stable"
        out.append({
            "theme": theme,
            "kind": "learning_dip" if theme == "learning_dip" else "signal",
            "direction": direction,
            "periods": [p for p, _ in sorted(points)][-recent:],
            "values": values,
            "becoming_strong": rises >= strong_after - 1 and len(values) >= strong_after,
            "released_as": rel.released_as,  # "exact" counts of released cells, or "dp" noisy ones
        })
    return out
