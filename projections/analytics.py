"""Analysts' read model: signal and activity facts, kept exactly once; releases, and their ledger.

Facts (with the persons behind them) stay inside the view; analysts (and admins) only get
releases built by ``projections.anonymity`` (``domain.access.require_analyst``). Every release
is written to the view's ledger with its rows; the SQL views show those rows and nothing else.
The view is handed in (``adapters/bootstrap.py`` picks the backend's); nothing here knows how
it is stored.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import sys
import zlib
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
from eventsourcing.persistence import Tracking

from engagement_tracker.domain.access import (
    GrantGuard,
)
from engagement_tracker.domain.application.analysts import MAX_K, AnalystService, PendingDpLeaf, PendingRelease
from engagement_tracker.domain.dimensions import DEFAULT_BY, DEFAULT_PERIOD, DIMENSIONS, FAMILY_DIMENSIONS, PERIODS
from engagement_tracker.domain.errors import DisclosureRisk, StoreError
from engagement_tracker.domain.privacy_budget import DpCost
from engagement_tracker.projections.activity import STAMPED, activity_facts, counts, stamped_fact
from engagement_tracker.projections.anonymity import (
    Fact,
    InternalRelease,
    Level,
    Policy,
    Release,
    Row,
    Tallies,
    Tally,
    TallyRow,
    release,
    tally,
    tally_dims,
    tally_of,
    trends,
)
from engagement_tracker.projections.outputs import rows_of
from engagement_tracker.projections.privacy import (
    MECHANISM,
    DpRelease,
    calibrate,
    dp_preview,
    dp_release,
    epsilon_of,
    largest_epsilon,
)
from engagement_tracker.projections.regions import (
    Block,
    Refiner,
    StaleRelease,
    Touch,
    fine_key,
    released_keys,
    touch,
)
from engagement_tracker.projections.release_ledger import LedgerRow
from engagement_tracker.projections.testimonials import TESTIMONIALS, testimonial_facts
from engagement_tracker.projections.tracking import Record, StoredEvents, TrackedProjection, View
from engagement_tracker.projections.weak_signals import Source, concerns, signal_facts, update_sources

NAME = "analytics"
#: How many fine cells a view reads, refines and writes at a time while it records a release.
RELEASE_PAGE = 400


class TrialOver(Exception):
    """Raised inside a view's transaction to roll a trial back (``record_releases(commit=False)``)."""


class AnalyticsView(View):
    """Facts, tallies, sources and the release ledger: what every backend's view keeps."""

    #: Fine cells read, refined and written at a time while a release is recorded (a test sets it small).
    release_page: int = RELEASE_PAGE
    #: Writes each recorded release's event (its leaf of the audit log) in the ledger's transaction
    #: (``adapters/release_leaves.ReleaseLeaves``, handed in by bootstrap); None: releases are not logged.
    release_leaves: Any = None

    @abstractmethod
    def ledger_rows(self) -> dict[int, LedgerRow]:
        """Every release of the ledger by id, with its released cells (what the audit check compares)."""

    @abstractmethod
    def append(
        self, facts: Sequence[tuple[int, Fact]], sources: dict[str, Source], tracking: Tracking,
        tallies: Sequence[Tally] = (),
    ) -> None:
        """Add a page's facts (with their position), the sources it changed and its tallies (merged
        into the stored ones), and record ``tracking``, in one transaction."""

    @abstractmethod
    def tallies(self, family: str, since: str | None = None, until: str | None = None) -> list[Tally]:
        """Facts pre-aggregated per fine cell: what releases are built from (cost per cell, not per event).

        ``since`` and ``until`` ('YYYY-MM', inclusive) keep the months of a window: a query over
        a window reads that window's cells only, however long the history is.
        """

    @abstractmethod
    def tally_rows(self, family: str, since: str | None = None, until: str | None = None) -> list[TallyRow]:
        """The same tallies, in the same order, as stored rows (``anonymity.tally_row``), not decoded:
        what a release holds while it is built (``anonymity.Tallies`` decodes them as they are read)."""

    @abstractmethod
    def facts(self) -> list[Fact]:
        """Every fact, in the order projected."""

    @abstractmethod
    def sources(self, ids: Iterable[str] | None = None) -> dict[str, Source]:
        """The registered sources (only ``ids``, when given: a page reads what it touches)."""

    @abstractmethod
    def ledger(self, family: str) -> list[dict[str, Any]]:
        """Earlier releases of a family, oldest first: their k."""

    def record_release(
        self, rel: InternalRelease, family: str, query: dict[str, Any], analyst: str, at: str, keys: Sequence[str],
        refine: Callable[[int, int], Refiner], guard: GrantGuard | None = None,
    ) -> int:
        """One release alone: :meth:`record_releases` of one item."""
        return self.record_releases([PendingRelease(rel, family, query, analyst, at, tuple(keys), refine)], guard)[0]

    @abstractmethod
    def record_releases(
        self, items: Sequence[PendingRelease], guard: GrantGuard | None = None, *, commit: bool = True,
    ) -> list[int]:
        """Record the releases of one command in ONE transaction, in order (each checked against every
        release before it, the earlier items included), or none of them: the first refused raises and
        nothing is written. ``commit=False`` is a trial: everything is checked as if recorded, then
        rolled back (the numbers it returns are those the releases would get).

        Each item is recorded as follows (its published rows; of what decided it, only the population's size), in
        one serialised transaction (two analysts at the same instant are checked one after the
        other). First, holding what orders it against a change to the access register, check the
        ``guard`` against the register's version read in that transaction (``GrantGuard.require``
        raises GrantsMoved: nothing is written). Then number it (its family's releases so far + 1), get
        ``refiner = refine(number, highest k recorded)``, then, a page of the fine cells ``keys``
        at a time (:attr:`release_page`), read their parts, pass them to ``refiner.page`` and write
        the new parts it returns; then read the regions ``refiner.regions_to_read`` and call
        ``refiner.finish(regions)`` — it raises to refuse, and then nothing is written — and write
        the regions it returns, the ledger row and its rows."""

    @abstractmethod
    def trial_verdicts(
        self, items: Sequence[PendingRelease], groups: Sequence[Sequence[PendingRelease]], guard: GrantGuard | None = None,
    ) -> list[bool | None]:
        """A trial of ``items`` (as ``record_releases(items, guard, commit=False)``: it raises as that would),
        then, on top of what they would write and in the same transaction, a trial of each group in turn, each
        rolled back before the next; nothing is written. Per group: True (accepted), False (DisclosureRisk),
        or None when it cannot say, because the group read other facts than ``items`` did (a cell of theirs
        holds facts they did not read, or fewer: :func:`group_verdict`).

        What the release calendar's reservation asks (``calendar_releases.CalendarReleases.check``): the
        regions after ``items`` and then a group are those after the group and then ``items`` (a region is
        the facts with the same labels, whatever order the labels came in), so each period's calendar is
        tried against the state ``items`` leave, computed once, instead of trying ``items`` again after it."""

    @abstractmethod
    def regions(self, family: str) -> dict[str, Block]:
        """Every region of a family (signature -> its facts, persons and sources)."""

    @abstractmethod
    def parts(self, family: str) -> dict[str, list[Block]]:
        """Every fine cell's parts (fine key -> blocks, one per signature)."""

    @abstractmethod
    def dp_answer(self, key: str) -> str | None:
        """The recorded answer (JSON) to a differentially private query on given data, if any."""

    @abstractmethod
    def record_dp_answer(self, key: str, document: str, leaf: PendingDpLeaf | None = None) -> str:
        """Record an answer unless one is recorded under ``key`` already; returns the one recorded. A new
        answer's release is logged in the same transaction (``leaf``, when :attr:`release_leaves` is set)."""


class Analytics(TrackedProjection[AnalyticsView]):
    """Keeps the facts current, exactly once (facts, sources and position in one transaction)."""

    name = NAME

    def __init__(self, view: AnalyticsView, events: StoredEvents) -> None:
        super().__init__(view, events)

    def apply(self, page: Sequence[Record]) -> int:
        """Project a page that follows the facts' position; only the event types counted are decoded."""
        wanted = [d for d in page if concerns(d.topic) or counts(d.topic) or d.topic in TESTIMONIALS]
        sources = self.view.sources({str(d.originator_id) for d in wanted})  # only what the page touches
        changed: dict[str, Source] = {}
        facts: list[tuple[int, Fact]] = []
        for d in wanted:
            topic = d.topic
            when = iso_time(d.stamp[2]) if topic in STAMPED else None
            if when is not None:  # its time is all it takes
                facts.extend((d.id, f) for f in stamped_fact(topic, str(d.originator_id), when, sources))
                continue
            event = d.event
            if event is None:
                raise StoreError(f"cannot decode position {d.id} (tampered, unknown topic, or ETRACK_CIPHER_KEY "
                                 "missing or wrong): run etrack audit verify")
            sid = update_sources(event, sources)
            if sid is not None:
                changed[sid] = sources[sid]
            facts.extend((d.id, f) for f in signal_facts(event, sources) + activity_facts(event, sources)
                         + testimonial_facts(event, sources))
        self.view.append(facts, changed, Tracking(NAME, page[-1].id), tally(f for _, f in facts))
        return len(facts)


@functools.lru_cache(maxsize=8192)  # (a whole-history release meets every person: the cache stays small)
def pseudonym(person: str) -> str:
    """How the regions name a person: a digest, never the party id."""
    return hashlib.sha256(f"etrack-ledger|{person}".encode()).hexdigest()


def pseudonymous(t: Tally) -> Tally:
    """A tally whose persons are named by :func:`pseudonym`."""
    return attrs.evolve(t, persons=tuple(sorted((pseudonym(p), n) for p, n in t.persons)))


def iso_time(text: str | None) -> datetime | None:
    """A stamp's time, parsed, when it is the extended ISO 8601 form ``isoformat()`` writes
    (a tampered record's may be anything, including other forms ``fromisoformat`` accepts)."""
    if not text or not _ISO_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?"
                       r"([+-][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{6})?)?)?")


class _ReleaseRules:
    """The disclosure rules, as the application's ``ReleaseRules`` port names them
    (``domain/application/analysts.py``): handed to ``app.analysts`` by bootstrap."""

    stale = StaleRelease

    def release(self, rows: list[TallyRow], by: tuple[str, ...], k: int, period: str) -> InternalRelease:
        return release(Tallies(rows), by, Policy(k=k), Level(time=period))

    def cells(self, internal: InternalRelease, rows: list[TallyRow], family: str, keep: bool = False,
              ) -> tuple[list[str], Callable[[int, int], Refiner]]:
        rel = internal.published()
        policy = internal.policy
        population: dict[str, tuple[str | None, str | None, int]] = {}
        stored: dict[str, bytes] = {}
        released = released_keys(rel)
        for row in rows:  # every fine cell's label, from its dimensions (persons stay undecoded)
            cell = tally_dims(row)
            key = fine_key(cell)
            population[key] = (*touch(rel, cell, released), cell.facts)
            stored[key] = packed(row)
        rows.clear()  # the rows live in `stored` now, each dropped once its page is refined

        def touched(keys: Sequence[str]) -> dict[str, Touch]:  # a page of cells, decoded and pseudonymous
            take = stored.__getitem__ if keep else stored.pop  # kept: the refiner may run again (a trial first)
            return {key: (population[key][0], population[key][1], pseudonymous(unpacked(key, population[key][2],
                                                                                        take(key))))
                    for key in keys}

        def check(seq: int, highest_k: int) -> Refiner:
            return Refiner(family, seq, population, max(policy.k, highest_k), policy.dominance, touched)

        return sorted(population), check

    def data_digest(self, rows: list[TallyRow]) -> str:
        return _data_digest(Tallies(rows))

    def dp_release(self, rows: list[TallyRow], by: tuple[str, ...], period: str, epsilon: float,
                   delta: float) -> DpRelease:
        return dp_release(Tallies(rows), by, Level(time=period), epsilon, delta)

    def dp_preview(self, epsilon: float, delta: float) -> dict[str, Any]:
        return dp_preview(epsilon, delta)

    def dp_cost(self, epsilon: float, delta: float) -> DpCost:
        cal = calibrate(epsilon, delta)
        return DpCost(cal.rho, epsilon, delta, MECHANISM, cal.threshold)

    def epsilon_of(self, rho: float, delta: float) -> float:
        return epsilon_of(rho, delta)

    def largest_epsilon(self, rho: float, delta: float) -> float:
        return largest_epsilon(rho, delta)

    def dp_document(self, release: DpRelease) -> dict[str, Any]:
        return release.to_document()

    def dp_of_document(self, document: dict[str, Any], repeated: bool) -> DpRelease:
        return DpRelease.of_document(document, repeated=repeated)

    def trends(self, release: Release | DpRelease) -> list[dict[str, Any]]:
        return trends(release)

    def document(self, release: Release) -> dict[str, Any]:
        return exact_document(release)

    def of_document(self, document: dict[str, Any]) -> Release:
        return exact_of_document(document)


def packed(row: TallyRow) -> bytes:
    """A stored tally row as a release holds it until its cell is refined: its persons and sources only (its
    dimensions are its fine key's, its facts its population's), deflated (a whole history's rows are most of
    what a whole-history release holds; issue #28)."""
    return zlib.compress(f"{row[10]}\n{row[11]}".encode(), 1)


def unpacked(key: str, facts: int, data: bytes) -> Tally:
    """The tally :func:`packed` kept of fine cell ``key`` (``regions.fine_key``), holding ``facts``, names interned."""
    persons, _, sources = zlib.decompress(data).decode().partition("\n")
    return tally_of((key, *json.loads(key), facts, persons, sources), sys.intern)


def exact_document(rel: Release) -> dict[str, Any]:
    """An exact release as analysts receive it, as JSON data that :func:`exact_of_document` reads back
    equal (by, level, the whole policy, rows, total): what the release calendar keeps per period."""
    return {"by": list(rel.by), "level": {"time": rel.level.time, "unit_depth": rel.level.unit_depth},
            "policy": {"k": rel.policy.k, "dominance": rel.policy.dominance,
                       "max_hidden_share": rel.policy.max_hidden_share},
            "rows": [{"dims": r.dims, "value": r.value, "status": r.status} for r in rel.rows], "total": rel.total}


def exact_of_document(doc: dict[str, Any]) -> Release:
    return Release(tuple(doc["by"]), Level(doc["level"]["time"], doc["level"]["unit_depth"]), Policy(**doc["policy"]),
                   tuple(Row(dict(r["dims"]), r["value"], r["status"]) for r in doc["rows"]), doc["total"])


def watched(item: PendingRelease, made: list[Refiner]) -> PendingRelease:
    """``item``, whose refiner is appended to ``made`` when recording it makes one."""
    def refine(seq: int, highest_k: int) -> Refiner:
        made.append(item.refine(seq, highest_k))
        return made[-1]
    return attrs.evolve(item, refine=refine)


def group_verdict(group: Sequence[PendingRelease], read: Sequence[Refiner],
                  record_one: Callable[[PendingRelease], object]) -> bool | None:
    """Record ``group`` one release at a time with ``record_one`` (in a view's transaction, after the releases
    whose refiners are ``read``): True, or False when the region rule refuses one (DisclosureRisk). None when
    a release of the group read other facts than those releases in a fine cell they share (a cell's facts
    counted differently: projected in between), or went stale: then its verdict in the other order (the
    group first) need not be this one."""
    for item in group:
        for key, (_, _, facts) in item.refine(0, 0).population.items():
            earlier = next((r.population[key][2] for r in reversed(read) if key in r.population), facts)
            if earlier != facts:
                return None
    try:
        for item in group:
            record_one(item)
    except DisclosureRisk:
        return False
    except StaleRelease:
        return None
    return True


#: What ``app.analysts`` is handed (bootstrap): the disclosure rules.
RELEASE_RULES = _ReleaseRules()


# --- output -------------------------------------------------------------------------------------


def _data_digest(facts: Iterable[Tally]) -> str:
    """SHA-256 of the JSON list of every tally's fine key, facts and pseudonymous persons, written
    an item at a time (the same bytes as ``json.dumps`` of the whole list)."""
    digest = hashlib.sha256(b"[")
    for i, t in enumerate(facts):
        item = json.dumps([fine_key(t), t.facts, [[pseudonym(p), n] for p, n in t.persons]])
        digest.update(f"{', ' if i else ''}{item}".encode())
    digest.update(b"]")
    return digest.hexdigest()


def release_rows(rel: Release | DpRelease) -> list[dict[str, Any]]:
    """The rows of a release, exact or differentially private: the one model of every output
    (``projections/outputs.py``: the CLI writes the same rows in every format)."""
    return rows_of(rel)


def release_document(rel: Release | DpRelease) -> dict[str, Any]:
    """The release as JSON data: what was asked, at which level, under which rules (for DP: mechanism,
    epsilon, delta, threshold, ...), and the rows."""
    if isinstance(rel, DpRelease):
        return rel.to_document()
    return {
        "privacy": "exact",
        "by": list(rel.by),
        "level": {"time": rel.level.time, "unit_depth": rel.level.unit_depth},
        "k": rel.policy.k,
        "dominance": rel.policy.dominance,
        "total": rel.total,
        "released_cells": len(rel.released),
        "suppressed_cells": len(rel.hidden),
        "note": "the total counts every fact, suppressed ones included; no subtotal is published",
        "rows": [r.to_dict() for r in rel.rows],
    }


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


#: AnalystService and its argument tables live in the application layer now
#: (``domain/application/analysts.py``); their import path from here keeps working.
__all__ = ["DEFAULT_BY", "DEFAULT_PERIOD", "DIMENSIONS", "FAMILY_DIMENSIONS", "MAX_K", "NAME", "PERIODS",
           "RELEASE_RULES", "AnalystService", "Analytics", "AnalyticsView", "group_verdict", "iso_time", "pseudonym",
           "pseudonymous", "release_document", "release_rows", "to_csv", "watched"]
