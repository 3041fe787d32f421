"""The release rule that composes over every release ever made: regions. Pure functions, no I/O.

Every released value (a released cell, or a published total) is the number of facts in some
set. Two facts that belong to exactly the same released values — across every release of a
family, by every analyst — are indistinguishable to anyone who holds the releases: every
released value is a sum of whole **regions** (facts with the same membership), so every sum,
difference or other combination of releases is constant on each region. If every non-empty
region holds facts of at least k persons and no single source makes ``dominance`` of it, no
combination of releases depends on fewer than k persons, or mostly on one engagement or
cohort. A release that would create a region breaking this is refused
(:class:`~engagement_tracker.domain.errors.DisclosureRisk`), and nothing is recorded.

A second condition protects suppressed cells. A release lists its suppressed cells, so anyone
knows each holds at least one fact; with few facts in a region and many suppressed cells
meeting it, those lower bounds could pin a suppressed cell's value. So every region that meets
suppressed cells (of any release) holds at least two facts more than the number of suppressed
cells meeting it. Then one fact can always be moved between a suppressed cell and the rest of
its region without changing any released value or emptying any suppressed cell: no suppressed
cell is pinned to less than one fact. (A cell hidden for its own sake never fills whole regions:
it has fewer than k persons, or is dominated, and so would each region inside it.)

The rule is *sufficient, not necessary*: it also refuses some releases that would in fact
reveal nothing (a second shape over the same population whose cross cells are small).

Bookkeeping. A fact's membership is named by a *signature*: a chained digest of the labels it
received, one per release that published it (``child``). Facts are never stored one by one:
the view keeps, per fine cell (one unit, one month, one value of every dimension; the key of a
:class:`~engagement_tracker.projections.anonymity.Tally`), its **parts** — the facts of that
cell that share one signature, with their counts per pseudonymous person and per source — and,
per signature, the **region**: the sum of its parts over every fine cell. Facts that no release
has published yet are the cell's tally minus its parts. A release covers some fine cells, each
with one label (the released cell it falls in, or ``*`` for the total alone): every part of a
covered cell moves to the child signature, and the cell's unpublished facts become a new part.
Parts and regions also count, per suppressed cell they meet, the facts inside it.
The check reads the covered cells' parts and the regions they belong to, never the earlier
releases: its cost follows the released population, not the length of the ledger.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from engagement_tracker.domain.errors import ConcurrencyConflict, DisclosureRisk
from engagement_tracker.projections.anonymity import Release, Tally, period_of, unit_at

#: The signature of facts that no release has published.
ROOT = ""
#: The label of a fine cell published only through the release's total (its cell is hidden).
TOTAL_ONLY = "*"


@attrs.frozen
class Block:
    """Facts sharing one signature (and, for a part, the same suppressed cells): a part within one
    fine cell, or a whole region."""

    sig: str
    facts: int
    persons: Mapping[str, int]  # pseudonymous person -> facts they stand behind
    sources: Mapping[str, int]  # source -> facts it made
    hidden: Mapping[str, int] = attrs.field(factory=dict)  # suppressed cell -> facts inside it

    def to_json(self) -> dict[str, Any]:
        return {"sig": self.sig, "facts": self.facts, "persons": dict(sorted(self.persons.items())),
                "sources": dict(sorted(self.sources.items())), "hidden": dict(sorted(self.hidden.items()))}

    @classmethod
    def of_json(cls, data: Mapping[str, Any]) -> Block:
        return cls(str(data["sig"]), int(data["facts"]), dict(data["persons"]), dict(data["sources"]),
                   dict(data.get("hidden", {})))


def blocks_json(blocks: Sequence[Block]) -> str:
    return json.dumps([b.to_json() for b in blocks], sort_keys=True)


def blocks_of(text: str) -> list[Block]:
    return [Block.of_json(d) for d in json.loads(text)]


def counts_json(counts: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(counts.items())))


@attrs.frozen
class Refinement:
    """What a release changes: the touched cells' new parts, regions written and regions gone."""

    parts: dict[str, list[Block]]
    put: list[Block]
    drop: list[str]


class StaleRelease(ConcurrencyConflict):
    """Another release published facts this one did not read: build the release again."""


def fine_key(t: Tally) -> str:
    """How a fine cell is named in the view: its tally key as JSON."""
    return json.dumps(list(t.key))


def child(sig: str, family: str, seq: int, label: str) -> str:
    """The signature of facts of ``sig`` that release number ``seq`` of ``family`` published under ``label``."""
    return hashlib.sha256(f"{sig}|{family}|{seq}|{label}".encode()).hexdigest()[:32]


def hidden_ids(touched: Mapping[str, tuple[str | None, str | None, int]]) -> dict[str, str]:
    """How the regions name each suppressed cell of a release (fine key -> name): by the facts it
    holds (its fine cells, and how many facts each held then), so the same cell suppressed again,
    by a repeated query, is one cell, not two."""
    members: dict[str, list[tuple[str, int]]] = {}
    for key, (_, cell, facts) in touched.items():
        if cell is not None:
            members.setdefault(cell, []).append((key, facts))
    names = {cell: hashlib.sha256(json.dumps(sorted(keys)).encode()).hexdigest()[:32] for cell, keys in members.items()}
    return {key: names[cell] for key, (_, cell, _) in touched.items() if cell is not None}


#: What a release does to one fine cell of its population: the label it publishes it under (None
#: when its cell is hidden and the total withheld), the suppressed cell it falls in (or None), and
#: the facts the release read.
Touch = tuple[str | None, str | None, Tally]


def cover(rel: Release, tallies: Iterable[Tally]) -> dict[str, Touch]:
    """Every fine cell of a release's population: published under its released cell's label, or
    ``*`` when its cell is hidden and the total published; and the hidden cell it falls in."""
    released = released_keys(rel)
    return {fine_key(t): (*touch(rel, t, released), t) for t in tallies}


def touch(rel: Release, t: Tally, released: frozenset[tuple[Any, ...]] | None = None) -> tuple[str | None, str | None]:
    """What a release does to fine cell ``t``: the label it publishes it under, and the hidden cell
    it falls in (its dimensions are all it reads)."""
    key = tuple(_dim(t, d, rel) for d in rel.by)
    name = sys.intern(json.dumps([str(v) for v in key]))  # one string per released cell, not one per fine cell
    if key in (released_keys(rel) if released is None else released):
        return name, None
    return TOTAL_ONLY if rel.total is not None else None, name


def released_keys(rel: Release) -> frozenset[tuple[Any, ...]]:
    """The released cells of a release, as tuples of their dimensions' values (in ``rel.by`` order)."""
    return frozenset(tuple(r.dims[d] for d in rel.by) for r in rel.released)


def _dim(t: Tally, dim: str, rel: Release) -> Any:
    if dim == "period":
        return period_of(t.month, rel.level.time)
    if dim == "unit":
        return unit_at(t.unit, rel.level.unit_depth)
    return getattr(t, dim)


class _Sum:
    __slots__ = ("facts", "hidden", "persons", "sources")

    def __init__(self) -> None:
        self.facts = 0
        self.persons: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.hidden: Counter[str] = Counter()

    def add(self, b: Block, sign: int = 1) -> None:
        self.facts += sign * b.facts
        for counter, counts in ((self.persons, b.persons), (self.sources, b.sources), (self.hidden, b.hidden)):
            for name, n in counts.items():
                counter[name] += sign * n

    def block(self, sig: str) -> Block:
        return Block(sig, self.facts, *({n: c for n, c in counter.items() if c > 0}
                                        for counter in (self.persons, self.sources, self.hidden)))


def problem(block: Block, k: int, dominance: float) -> str | None:
    """Why a non-empty region may not exist: 'k' (fewer than k persons), 'dominance' (one source
    makes most of it) or 'slack' (too few facts for the suppressed cells meeting it)."""
    if block.facts <= 0:
        return None
    if sum(1 for n in block.persons.values() if n > 0) < k:
        return "k"
    if block.sources and max(block.sources.values()) >= dominance * block.facts:
        return "dominance"
    if block.hidden and block.facts < len(block.hidden) + 2:
        return "slack"
    return None


ADVICE = {
    "k": ("released figures could be combined to single out fewer than {k} persons. Ask for a coarser "
          "shape (fewer dimensions, a coarser period or unit), a wider window, the same query as an earlier "
          "release, or wait until at least {k} more persons have facts in it"),
    "dominance": ("released figures could be combined into a figure made mostly by one engagement or cohort. "
                  "Ask for a coarser shape (fewer dimensions, a coarser period or unit), a wider window, "
                  "or wait for facts from more engagements and cohorts"),
    "slack": ("released figures could be combined to pin down a suppressed cell. Ask for a coarser shape "
              "(fewer dimensions, a coarser period or unit), a wider window, or wait for more facts"),
}


def refine(
    family: str, seq: int, touched: Mapping[str, Touch], parts: Mapping[str, Sequence[Block]],
    regions: Mapping[str, Block], k: int, dominance: float,
) -> Refinement:
    """Apply release number ``seq`` (its population ``touched``, persons already pseudonymous) to
    those cells' ``parts`` and the ``regions`` they belong to; refuse it (DisclosureRisk) if a
    region it creates or changes breaks the rule (:func:`problem`).

    Raises :class:`StaleRelease` when the parts hold more facts than the release read (another
    release published newer facts first): the caller builds the release again. (The same as a
    :class:`Refiner` given every cell in one page.)
    """
    refiner = Refiner(family, seq, {key: (label, cell, t.facts) for key, (label, cell, t) in touched.items()},
                      k, dominance, lambda keys: {key: touched[key] for key in keys})
    new_parts = refiner.page(list(touched), parts)
    put, drop = refiner.finish(regions)
    return Refinement(new_parts, put, drop)


class Refiner:
    """:func:`refine`, a page of fine cells at a time: what a view runs inside the transaction that
    records a release, so that a release over the whole history never holds every cell's parts.

    ``population`` names every fine cell of the release (fine key -> label, suppressed cell, facts
    read); ``touched`` gives a page of them with their tallies (decoded only then). The view calls
    :meth:`page` with each page's stored parts and writes the new parts it returns, then reads
    the regions named by :attr:`regions_to_read` and calls :meth:`finish`, which raises to refuse
    (the view's transaction then writes nothing) or says which regions to write and drop.
    """

    def __init__(
        self, family: str, seq: int, population: Mapping[str, tuple[str | None, str | None, int]], k: int,
        dominance: float, touched: Callable[[Sequence[str]], Mapping[str, Touch]],
    ) -> None:
        self.family, self.seq, self.k, self.dominance = family, seq, k, dominance
        self.names = hidden_ids(population)
        self.touched = touched
        self.delta: dict[str, _Sum] = {}
        self._read: dict[str, None] = {}  # the signatures of the parts read (their regions), in order
        #: Every fine cell of the release: its label, its suppressed cell and the facts the release read.
        self.population = population

    @property
    def regions_to_read(self) -> list[str]:
        """The regions the parts read so far belong to."""
        return sorted(self._read)

    def page(self, keys: Sequence[str], parts: Mapping[str, Sequence[Block]]) -> dict[str, list[Block]]:
        """The new parts of fine cells ``keys`` (their stored ``parts`` given); the regions' changes are kept."""
        family, seq, delta = self.family, self.seq, self.delta
        touched = self.touched(keys)
        new_parts: dict[str, list[Block]] = {}
        for key in keys:
            label, cell, t = touched[key]
            existing = list(parts.get(key, ()))
            self._read.update((p.sig, None) for p in existing)
            fresh = _Sum()
            fresh.add(Block(ROOT, t.facts, dict(t.persons), dict(t.sources)))
            for p in existing:
                fresh.add(p, -1)
            if fresh.facts < 0:
                raise StaleRelease("another release published newer facts; build this release again")
            pieces = [*existing, fresh.block(ROOT)] if fresh.facts > 0 else existing
            merged: dict[tuple[str, tuple[str, ...]], _Sum] = {}
            for piece in pieces:
                sig = piece.sig if label is None else child(piece.sig, family, seq, label)
                hidden = dict(piece.hidden)
                if cell is not None:
                    hidden[self.names[key]] = piece.facts
                moved = Block(sig, piece.facts, piece.persons, piece.sources, hidden)
                merged.setdefault((sig, tuple(sorted(hidden))), _Sum()).add(moved)
                if piece.sig != ROOT:
                    delta.setdefault(piece.sig, _Sum()).add(piece, -1)
                if sig != ROOT:
                    delta.setdefault(sig, _Sum()).add(moved)
            new_parts[key] = sorted((acc.block(sig) for (sig, _), acc in merged.items()),
                                    key=lambda b: (b.sig, sorted(b.hidden)))
        return new_parts

    def finish(self, regions: Mapping[str, Block]) -> tuple[list[Block], list[str]]:
        """The regions to write and the signatures to drop, once every page is done; DisclosureRisk
        when a region created or changed breaks the rule."""
        put, drop = [], []
        while self.delta:  # each region's running sums dropped as its block is made
            sig, change = self.delta.popitem()
            region = regions.get(sig)
            if region is not None:
                change.add(region)
            if change.facts > 0:
                put.append(change.block(sig))
            elif region is not None:
                drop.append(sig)
        problems = {why for b in put if (why := problem(b, self.k, self.dominance)) is not None}
        if problems:
            why = next(w for w in ("k", "dominance", "slack") if w in problems)
            raise DisclosureRisk("release", ADVICE[why].format(k=self.k))
        return sorted(put, key=lambda b: b.sig), sorted(drop)


# --- the same regions, from scratch (what the tests compare the bookkeeping with) -----------------


def from_scratch(
    family: str, facts: Sequence[tuple[str, Mapping[str, int], Mapping[str, int]]],
    releases: Sequence[tuple[int, Mapping[str, tuple[str | None, str | None]]]],
) -> dict[str, Block]:
    """Regions computed fact by fact: ``facts`` in arrival order as (fine key, persons, sources),
    ``releases`` in order as (how many facts existed then, fine key -> (label, hidden cell))."""
    sums: dict[str, _Sum] = {}
    names = []
    for seen, touched in releases:
        held = Counter(key for key, _, _ in facts[:seen])
        names.append(hidden_ids({key: (label, cell, held[key]) for key, (label, cell) in touched.items()}))
    for i, (key, persons, sources) in enumerate(facts):
        sig, hidden = ROOT, {}
        for seq, (seen, touched) in enumerate(releases, start=1):
            if i < seen and key in touched:
                label, cell = touched[key]
                sig = sig if label is None else child(sig, family, seq, label)
                if cell is not None:
                    hidden[names[seq - 1][key]] = 1
        if sig != ROOT:
            sums.setdefault(sig, _Sum()).add(Block(sig, 1, persons, sources, hidden))
    return {sig: acc.block(sig) for sig, acc in sums.items()}
