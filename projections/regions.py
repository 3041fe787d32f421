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
The check reads the covered cells' parts and the regions they belong to, never the earlier
releases: its cost follows the released population, not the length of the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
    """Facts sharing one signature: a part (within one fine cell) or a whole region."""

    sig: str
    facts: int
    persons: Mapping[str, int]  # pseudonymous person -> facts they stand behind
    sources: Mapping[str, int]  # source -> facts it made

    def to_json(self) -> dict[str, Any]:
        return {"sig": self.sig, "facts": self.facts, "persons": dict(sorted(self.persons.items())),
                "sources": dict(sorted(self.sources.items()))}

    @classmethod
    def of_json(cls, data: Mapping[str, Any]) -> Block:
        return cls(str(data["sig"]), int(data["facts"]), dict(data["persons"]), dict(data["sources"]))


def blocks_json(blocks: Sequence[Block]) -> str:
    return json.dumps([b.to_json() for b in blocks], sort_keys=True)


def blocks_of(text: str) -> list[Block]:
    return [Block.of_json(d) for d in json.loads(text)]


@attrs.frozen
class Refinement:
    """What a release changes: the covered cells' new parts, regions written and regions gone."""

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


def cover(rel: Release, tallies: Iterable[Tally]) -> dict[str, tuple[str, Tally]]:
    """The fine cells a release publishes, each with its label: the released cell it falls in,
    or ``*`` when its cell is hidden and the total is published. Cells it does not publish are left out."""
    released = {tuple(r.dims[d] for d in rel.by) for r in rel.released}
    out: dict[str, tuple[str, Tally]] = {}
    for t in tallies:
        key = tuple(_dim(t, d, rel) for d in rel.by)
        if key in released:
            out[fine_key(t)] = (json.dumps([str(v) for v in key]), t)
        elif rel.total is not None:
            out[fine_key(t)] = (TOTAL_ONLY, t)
    return out


def _dim(t: Tally, dim: str, rel: Release) -> Any:
    if dim == "period":
        return period_of(t.month, rel.level.time)
    if dim == "unit":
        return unit_at(t.unit, rel.level.unit_depth)
    return getattr(t, dim)


class _Sum:
    __slots__ = ("facts", "persons", "sources")

    def __init__(self) -> None:
        self.facts = 0
        self.persons: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()

    def add(self, facts: int, persons: Mapping[str, int], sources: Mapping[str, int]) -> None:
        self.facts += facts
        self.persons.update(persons)
        self.sources.update(sources)

    def block(self, sig: str) -> Block:
        return Block(sig, self.facts, {p: n for p, n in self.persons.items() if n > 0},
                     {s: n for s, n in self.sources.items() if n > 0})


def problem(block: Block, k: int, dominance: float) -> str | None:
    """Why a non-empty region may not exist: 'k' (fewer than k persons) or 'dominance' (one source makes most)."""
    if block.facts <= 0:
        return None
    if sum(1 for n in block.persons.values() if n > 0) < k:
        return "k"
    if block.sources and max(block.sources.values()) >= dominance * block.facts:
        return "dominance"
    return None


ADVICE = {
    "k": ("released figures could be combined to single out fewer than {k} persons. Ask for a coarser "
          "shape (fewer dimensions, a coarser period or unit), a wider window, the same query as an earlier "
          "release, or wait until at least {k} more persons have facts in it"),
    "dominance": ("released figures could be combined into a figure made mostly by one engagement or cohort. "
                  "Ask for a coarser shape (fewer dimensions, a coarser period or unit), a wider window, "
                  "or wait for facts from more engagements and cohorts"),
}


def refine(
    family: str, seq: int, covered: Mapping[str, tuple[str, Tally]], parts: Mapping[str, Sequence[Block]],
    regions: Mapping[str, Block], k: int, dominance: float,
) -> Refinement:
    """Apply release number ``seq`` (covering ``covered``, with persons already pseudonymous) to
    the covered cells' ``parts`` and the ``regions`` they belong to; refuse it if a region it
    creates or leaves behind holds fewer than k persons or is dominated by one source.

    Raises :class:`StaleRelease` when the parts hold more facts than the release read (another
    release published newer facts first): the caller builds the release again.
    """
    moved_in: dict[str, _Sum] = {}
    moved_out: dict[str, _Sum] = {}
    new_parts: dict[str, list[Block]] = {}
    for key, (label, t) in covered.items():
        existing = list(parts.get(key, ()))
        fresh = _Sum()
        fresh.add(t.facts, dict(t.persons), dict(t.sources))
        for p in existing:
            fresh.facts -= p.facts
            fresh.persons.subtract(p.persons)
            fresh.sources.subtract(p.sources)
        if fresh.facts < 0:
            raise StaleRelease("another release published newer facts; build this release again")
        pieces = [*existing, fresh.block(ROOT)] if fresh.facts > 0 else existing
        out = []
        for piece in pieces:
            sig = child(piece.sig, family, seq, label)
            out.append(Block(sig, piece.facts, piece.persons, piece.sources))
            moved_in.setdefault(sig, _Sum()).add(piece.facts, piece.persons, piece.sources)
            if piece.sig != ROOT:
                moved_out.setdefault(piece.sig, _Sum()).add(piece.facts, piece.persons, piece.sources)
        new_parts[key] = out
    put = [acc.block(sig) for sig, acc in moved_in.items()]
    drop = []
    for sig, acc in moved_out.items():
        region = regions.get(sig)
        if region is None:  # parts without a region: the bookkeeping was lost (a cleared view)
            continue
        rest = _Sum()
        rest.add(region.facts, region.persons, region.sources)
        rest.facts -= acc.facts
        rest.persons.subtract(acc.persons)
        rest.sources.subtract(acc.sources)
        if rest.facts > 0:
            put.append(rest.block(sig))
        else:
            drop.append(sig)
    problems = {why for b in put if (why := problem(b, k, dominance)) is not None}
    if problems:
        why = "k" if "k" in problems else "dominance"
        raise DisclosureRisk("release", ADVICE[why].format(k=k))
    return Refinement(new_parts, sorted(put, key=lambda b: b.sig), sorted(drop))


# --- the same regions, from scratch (what the tests compare the bookkeeping with) -----------------


def from_scratch(
    family: str, facts: Sequence[tuple[str, int, Mapping[str, int], Mapping[str, int]]],
    releases: Sequence[tuple[int, Mapping[str, str]]],
) -> dict[str, Block]:
    """Regions computed fact by fact: ``facts`` in arrival order as (fine key, 1, persons, sources),
    ``releases`` in order as (how many facts existed then, fine key -> label)."""
    sums: dict[str, _Sum] = {}
    for i, (key, n, persons, sources) in enumerate(facts):
        sig = ROOT
        for seq, (seen, labels) in enumerate(releases, start=1):
            if i < seen and key in labels:
                sig = child(sig, family, seq, labels[key])
        if sig != ROOT:
            sums.setdefault(sig, _Sum()).add(n, persons, sources)
    return {sig: acc.block(sig) for sig, acc in sums.items()}
