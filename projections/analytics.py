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
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, overload

import attrs
from eventsourcing.persistence import PersistenceError, Tracking

from engagement_tracker.domain.access import (
    GrantGuard,
    GrantsMoved,
    GrantsSource,
    grant_checked,
    grant_guard,
    recheck_moved,
    require_analyst,
)
from engagement_tracker.domain.checks import (
    MIN_K,
    require_dimensions,
    require_int,
    require_label,
    require_optional_choice,
    require_optional_int,
)
from engagement_tracker.domain.errors import ConcurrencyConflict, InvalidInput, StoreError
from engagement_tracker.domain.privacy_budget import require_epsilon
from engagement_tracker.domain.values import Actor
from engagement_tracker.projections.activity import STAMPED, activity_facts, counts, stamped_fact
from engagement_tracker.projections.anonymity import (
    DIMENSIONS,
    Fact,
    InternalRelease,
    Level,
    Policy,
    Release,
    Tallies,
    Tally,
    TallyRow,
    release,
    tally,
    tally_dims,
    tally_of,
    trends,
)
from engagement_tracker.projections.privacy import DpRelease, dp_release
from engagement_tracker.projections.regions import (
    Block,
    Refiner,
    StaleRelease,
    Touch,
    fine_key,
    released_keys,
    touch,
)
from engagement_tracker.projections.testimonials import TESTIMONIALS, testimonial_facts
from engagement_tracker.projections.tracking import Record, StoredEvents, TrackedProjection, View
from engagement_tracker.projections.weak_signals import Source, concerns, signal_facts, update_sources
from engagement_tracker.projections.windows import require_whole_periods, require_window

NAME = "analytics"
#: How many fine cells a view reads, refines and writes at a time while it records a release.
RELEASE_PAGE = 400


class AnalyticsView(View):
    """Facts, tallies, sources and the release ledger: what every backend's view keeps."""

    #: Fine cells read, refined and written at a time while a release is recorded (a test sets it small).
    release_page: int = RELEASE_PAGE

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

    @abstractmethod
    def record_release(
        self, rel: InternalRelease, family: str, query: dict[str, Any], analyst: str, at: str, keys: Sequence[str],
        refine: Callable[[int, int], Refiner], guard: GrantGuard | None = None,
    ) -> int:
        """Record a release (its published rows; of what decided it, only the population's size) in
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
    def regions(self, family: str) -> dict[str, Block]:
        """Every region of a family (signature -> its facts, persons and sources)."""

    @abstractmethod
    def parts(self, family: str) -> dict[str, list[Block]]:
        """Every fine cell's parts (fine key -> blocks, one per signature)."""

    @abstractmethod
    def dp_answer(self, key: str) -> str | None:
        """The recorded answer (JSON) to a differentially private query on given data, if any."""

    @abstractmethod
    def record_dp_answer(self, key: str, document: str) -> str:
        """Record an answer unless one is recorded under ``key`` already; returns the one recorded."""


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


#: What each release groups by, and its finest period, when the caller passes None.
DEFAULT_BY = {"signal": ("theme", "period"), "activity": ("metric", "period"), "testimonial": ("metric", "period")}
DEFAULT_PERIOD = {"signal": "month", "activity": "quarter", "testimonial": "quarter"}
#: The dimensions each family's facts have.
FAMILY_DIMENSIONS = {"signal": ("theme", "context", "polarity", "intensity", "unit", "period"),
                     "activity": ("metric", "unit", "period"),
                     "testimonial": ("metric", "unit", "period")}  # metric: item=score (projections/testimonials.py)
PERIODS = ("month", "quarter", "year")
MAX_K = 10_000


class AnalystService:
    """Released aggregates only: signal summaries, trends and activity indicators.

    Arguments are checked before anything is read or recorded: ``by`` is a list of distinct
    dimension names of the family (signals: theme, context, polarity, intensity, unit, period;
    activity: metric, unit, period), or one string of names joined by ',' (``"theme"`` is one
    dimension); ``k`` a whole number, at least the floor; ``unit`` an org unit label;
    ``period`` month, quarter or year; ``since`` and ``until`` 'YYYY-MM'. None for ``by`` or
    ``period`` means its default, None for ``k`` the floor. Anything else is InvalidInput naming
    the argument and the accepted form, and nothing is recorded.

    The floor for k is the deployment's (``k_min``: ``ETRACK_K_MIN``, default 5) or the highest
    k of an earlier release of the family, whichever is higher: a k below it is refused, never
    silently raised. Every release must pass the region rule (``projections.regions``) against
    every earlier release of its family, by every analyst; one that fails is a DisclosureRisk.
    """

    def __init__(
        self, analytics: Analytics, clock: Callable[[], datetime], k_min: int | None = 5, *, grants: GrantsSource,
        spend: Callable[[Actor, float, str], bool] | None = None,
    ) -> None:
        self.analytics = analytics
        #: Pays a differentially private release from the analyst's budget, once per query digest: True
        #: when it spent, False when the budget had paid for that digest (the application's, from bootstrap).
        self.spend = spend
        self.clock = clock
        #: Who holds which grants now (the access register, handed in by bootstrap).
        self.grants = grants
        self.k_min = require_optional_int(k_min, "k_min", 5, MIN_K, MAX_K)

    def _checked(
        self, viewer: Actor, family: str, by: Sequence[str] | str | None, unit: str | None, period: str | None,
        since: str | None, until: str | None, action: str,
    ) -> tuple[Actor, tuple[str, ...], str | None, str, str | None, str | None]:
        actor = require_analyst(viewer, action, self.grants)
        by = require_dimensions(by, "by", DEFAULT_BY[family])
        allowed = FAMILY_DIMENSIONS[family]
        if any(d not in allowed for d in by) or len(set(by)) != len(by):
            raise InvalidInput("by", f"{list(by)}: group by distinct dimensions among {', '.join(allowed)}")
        if unit is not None:
            unit = require_label(unit, "org_unit", "unit")
        period = require_optional_choice(period, "period", DEFAULT_PERIOD[family], PERIODS)
        since, until = require_window(since, until)
        return actor, by, unit, period, since, until

    def _scope(self, family: str, unit: str | None, since: str | None, until: str | None) -> list[TallyRow]:
        """The tallies a query reads, as stored rows (decoded as they are read: ``anonymity.Tallies``)."""
        self.analytics.catch_up()
        rows = self.analytics.view.tally_rows(family, since, until)
        if unit:
            below = unit.rstrip("/") + "/"
            rows = [r for r in rows if r[3] == unit or r[3].startswith(below)]  # r[3]: the tally's unit
        return rows

    def _release(
        self,
        viewer: Actor,
        family: str,
        by: Sequence[str] | str | None,
        unit: str | None,
        period: str | None,
        k: int | None,
        action: str,
        since: str | None = None,
        until: str | None = None,
        privacy: object = "exact",
        epsilon: object = None,
    ) -> Release | DpRelease:
        actor, by, unit, period, since, until = self._checked(viewer, family, by, unit, period, since, until, action)
        if privacy == "dp":
            if k is not None:
                raise InvalidInput("k", "k applies to exact releases; a release with privacy='dp' takes epsilon")
            return self._private(actor, family, by, unit, period, since, until, epsilon)
        if privacy != "exact":
            raise InvalidInput("privacy", f"{privacy!r} is not one of: exact, dp")
        if epsilon is not None:
            raise InvalidInput("epsilon", "epsilon applies to privacy='dp' only")
        return self._exact(actor, family, by, unit, period, k, since, until)

    def _exact(
        self, actor: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int | None,
        since: str | None, until: str | None,
    ) -> Release:
        # k is never lowered: not below the deployment's floor nor the k of any earlier release
        floor = max([self.k_min, *(e["k"] for e in self.analytics.view.ledger(family))])
        if k is not None:
            require_int(k, "k", MIN_K, MAX_K)
            if k < floor:
                raise InvalidInput("k", f"{k} is below {floor}, the lowest k accepted here (the deployment's "
                                        "floor, or an earlier release's k): ask with k >= that, or leave k out")
        policy = Policy(k=floor if k is None else k)
        for _ in range(3):  # a release that read facts older than another one's is built again
            try:
                return self._build_and_record(actor, family, by, unit, period, policy, since, until)
            except StaleRelease:
                continue
        raise ConcurrencyConflict("releases kept being published under this one; ask again")

    def _private(
        self, actor: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, since: str | None,
        until: str | None, epsilon: object,
    ) -> DpRelease:
        """A differentially private release: the recorded answer to the same query on the same data
        (spending nothing), or a new one, paid from the analyst's budget before it is shown.

        The query's key (a digest of the query and of the data it read) decides, atomically, who
        pays: the budget pays for a key once (``PrivacyBudget.spend``: identical queries racing
        clash on the budget's version, and all but one re-read it, find the key paid and spend
        nothing), and the answer is stored under the key first-writer-wins, so every caller
        returns the one stored answer. A refused spend stores nothing; an answer that could not
        be stored after its spend leaves the key paid: asking again spends nothing.
        """
        if self.spend is None:
            raise InvalidInput("privacy", "this service has no privacy budgets (bootstrap.analyst_service wires them)")
        eps = require_epsilon(epsilon)
        if "period" in by:
            require_whole_periods(since, until, period)
        facts = Tallies(self._scope(family, unit, since, until))
        query = {"family": family, "by": list(by), "unit": unit, "period": period, "since": since, "until": until,
                 "epsilon": eps}
        data = _data_digest(facts)
        key = hashlib.sha256(json.dumps([query, data], sort_keys=True).encode()).hexdigest()
        recorded = self.analytics.view.dp_answer(key)
        if recorded is not None:
            return DpRelease.of_document(json.loads(recorded), repeated=True)
        rel = dp_release(facts, by, Level(time=period), eps)
        spent = self.spend(actor, eps, key)  # refused (BudgetExceeded): the answer is dropped unseen, nothing stored
        try:
            stored = self.analytics.view.record_dp_answer(key, json.dumps(rel.to_document(), sort_keys=True))
        except PersistenceError as exc:
            raise StoreError(f"the store could not record the answer to this query ({exc}); it is paid for: "
                             "ask it again (nothing more is spent)") from exc
        return DpRelease.of_document(json.loads(stored), repeated=not spent)

    def _build_and_record(
        self, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, policy: Policy,
        since: str | None, until: str | None,
    ) -> Release:
        rows = self._scope(family, unit, since, until)  # stored rows, decoded a tally at a time when read
        internal = release(Tallies(rows), by, policy, Level(time=period))
        rel = internal.published()  # what the analyst receives, and all the region rule reads
        if "period" in by:  # a cut period would be published as a whole one
            require_whole_periods(since, until, rel.level.time)
        if not rel.rows:
            return rel  # a population under k: nothing listed, nothing recorded
        # even a release of suppressed cells only is recorded: it tells that each holds a fact
        population: dict[str, tuple[str | None, str | None, int]] = {}
        stored: dict[str, TallyRow] = {}
        released = released_keys(rel)
        for row in rows:  # every fine cell's label, from its dimensions (persons stay undecoded)
            cell = tally_dims(row)
            key = fine_key(cell)
            population[key] = (*touch(rel, cell, released), cell.facts)
            stored[key] = row
        rows.clear()  # the rows live in `stored` now, each dropped once its page is refined

        def touched(keys: Sequence[str]) -> dict[str, Touch]:  # a page of cells, decoded and pseudonymous
            return {key: (population[key][0], population[key][1], pseudonymous(tally_of(stored.pop(key), sys.intern)))
                    for key in keys}

        def check(seq: int, highest_k: int) -> Refiner:
            return Refiner(family, seq, population, max(policy.k, highest_k), policy.dominance, touched)

        query = {"by": list(by), "unit": unit, "period": period, "k": policy.k, "since": since, "until": until}
        at = self.clock().astimezone(UTC).isoformat()
        for _attempt in range(10):  # the access register moved (another party's grant changed): again
            try:
                self.analytics.view.record_release(internal, family, query, str(viewer.party), at, sorted(population),
                                                   check, grant_guard())
                break
            except GrantsMoved:  # rolled back: the analyst's grant is read again (refused if it was revoked)
                recheck_moved(self.grants)
        else:
            raise ConcurrencyConflict("the access register kept changing while this release was recorded; ask again")
        return rel

    @overload
    def summary(
        self, viewer: Actor, by: Sequence[str] | str | None = ..., unit: str | None = ..., period: str | None = ...,
        k: int | None = ..., since: str | None = ..., until: str | None = ..., privacy: Literal["exact"] = ...,
        epsilon: None = ...,
    ) -> Release: ...

    @overload
    def summary(
        self, viewer: Actor, by: Sequence[str] | str | None = ..., unit: str | None = ..., period: str | None = ...,
        k: None = ..., since: str | None = ..., until: str | None = ..., *, privacy: Literal["dp"], epsilon: float,
    ) -> DpRelease: ...

    @grant_checked
    def summary(
        self,
        viewer: Actor,
        by: Sequence[str] | str | None = ("theme", "period"),
        unit: str | None = None,
        period: str | None = "month",
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
        privacy: str = "exact",
        epsilon: float | None = None,
    ) -> Release | DpRelease:
        """Signal counts per cell (theme x context x unit x period ...), released under the rules.

        ``since`` / ``until`` ('YYYY-MM', inclusive) restrict it to a window of months.
        ``privacy="dp"`` with ``epsilon`` releases noisy counts instead (``projections.privacy``),
        paid from the analyst's privacy budget.
        """
        return self._release(viewer, "signal", by, unit, period, k, "release a signal summary", since, until,
                             privacy, epsilon)

    @grant_checked
    def activity(
        self,
        viewer: Actor,
        by: Sequence[str] | str | None = ("metric", "period"),
        unit: str | None = None,
        period: str | None = "quarter",
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Release:
        """Activity indicators per metric (and period, unit), released under the same rules."""
        actor, by, unit, period, since, until = self._checked(viewer, "activity", by, unit, period, since, until,
                                                              "release activity indicators")
        return self._exact(actor, "activity", by, unit, period, k, since, until)

    @grant_checked
    def testimonials(
        self,
        viewer: Actor,
        by: Sequence[str] | str | None = ("metric", "period"),
        unit: str | None = None,
        period: str | None = "quarter",
        k: int | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Release:
        """Testimonial ratings: how many ratings per ``item=score`` (and period, unit), released
        under the same rules as signals; the texts never reach this release."""
        actor, by, unit, period, since, until = self._checked(viewer, "testimonial", by, unit, period, since, until,
                                                              "release testimonial ratings")
        return self._exact(actor, "testimonial", by, unit, period, k, since, until)

    @grant_checked
    def trends(
        self, viewer: Actor, unit: str | None = None, period: str | None = "month", k: int | None = None,
        since: str | None = None, until: str | None = None, privacy: str = "exact", epsilon: float | None = None,
    ) -> list[dict[str, Any]]:
        """Per theme: rising, stable or falling; flagged when a weak signal becomes strong. Read from
        a release's values only: exact released cells, or (``privacy="dp"``) noisy ones."""
        return trends(self._release(viewer, "signal", ("theme", "period"), unit, period, k,
                                    "release a signal summary", since, until, privacy, epsilon))


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


def release_rows(rel: Release, with_total: bool = True) -> list[dict[str, Any]]:
    """Rows for tables, CSV and data frames: the cells, then the grand total (never a subtotal)."""
    rows = [r.to_dict() for r in rel.rows]
    if with_total:
        total = dict.fromkeys(rel.by, "(all)")
        rows.append({**total, "value": rel.total, "status": "released" if rel.total is not None else "suppressed"})
    return rows


def release_document(rel: Release) -> dict[str, Any]:
    """The release as JSON data: what was asked, at which level, under which rules, and the rows."""
    return {
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


__all__ = ["DIMENSIONS", "AnalystService", "Analytics", "release_document", "release_rows", "to_csv"]
