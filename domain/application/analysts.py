"""What analysts get: released aggregates only (signal summaries, trends, activity, testimonial ratings).

The service is the application's (``app.analysts``); it checks every argument once, reads the
grants, holds the k floor, retries a release that went stale and pays a differentially private
one from the analyst's budget (``app.budgets``). What it reads and how a release is built are
ports that ``adapters/bootstrap.py`` hands in from ``projections/``: :class:`AnalyticsPort` (the
kept facts, their tallies, the release ledger and the recorded DP answers) and
:class:`ReleaseRules` (the disclosure rules: k-anonymity and dominance, the region rule across
releases, differential privacy through OpenDP, trends). The rules stay in ``projections/``:
they work on the view's stored rows (its representation, not the model's), and DP needs
OpenDP, a backend library the model does not import. The argument rules (windows of months,
dimensions, k, epsilon) are the model's (``domain/windows.py``, ``domain/checks.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import attrs
from eventsourcing.persistence import PersistenceError

from engagement_tracker.domain.access import (
    GrantsMoved,
    GrantsSource,
    grant_checked,
    grant_guard,
    recheck_moved,
    relying_on_grants,
    require_analyst,
)
from engagement_tracker.domain.application.calendar_releases import CalendarReleases, CalendarSection
from engagement_tracker.domain.checks import (
    MIN_K,
    require_dimensions,
    require_int,
    require_label,
    require_optional_choice,
    require_optional_int,
)
from engagement_tracker.domain.dimensions import (
    DEFAULT_BY,
    DEFAULT_PERIOD,
    FAMILY_DIMENSIONS,
    PERIODS,
    PLANNED_SHAPES,
)
from engagement_tracker.domain.errors import (
    BudgetExceeded,
    CalendarReserved,
    ConcurrencyConflict,
    DisclosureRisk,
    InvalidInput,
    PeriodCut,
    StoreError,
)
from engagement_tracker.domain.privacy_budget import DpCost, require_epsilon
from engagement_tracker.domain.release_calendar import Shape, parse_shape
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.windows import (
    period_window,
    require_whole_periods,
    require_window,
)

#: A release as analysts receive it (``projections.anonymity.Release``: by, level, policy, rows, total).
Release = Any
#: A differentially private release (``projections.privacy.DpRelease``).
DpRelease = Any
#: A stored tally row (``projections.anonymity.TallyRow``); r[3] is its org unit.
TallyRow = Any

MAX_K = 10_000

T = TypeVar("T")


@attrs.frozen
class PendingRelease:
    """An exact release built and checked, waiting to be recorded with the other releases of its command
    (``AnalyticsView.record_releases``: all in one transaction, or none)."""

    #: What decided it (``projections.anonymity.InternalRelease``): recorded, never returned.
    internal: Any
    family: str
    query: dict[str, Any]
    analyst: str
    at: str
    #: Its fine cells' keys, and the refiner factory the region rule runs (``ReleaseRules.cells``).
    keys: tuple[str, ...]
    refine: Callable[[int, int], Any]


#: The releases the running command made so far (None: not inside :meth:`AnalystService.atomically`).
_BATCH: ContextVar[list[PendingRelease] | None] = ContextVar("etrack_release_batch", default=None)


class CalendarPort(Protocol):
    """The release calendar (``app.release_calendar``: ``domain/application/release_calendar.py``)."""

    def spec(self) -> tuple[str, tuple[str, ...]]: ...

    def released(self, period: str) -> dict[str, str] | None: ...

    def released_periods(self) -> frozenset[str]: ...

    def record(self, actor: Actor, period: str, sections: dict[str, str]) -> dict[str, str]: ...


class AnalyticsPort(Protocol):
    """The kept facts (``projections.analytics.Analytics``): caught up exactly once; its ``view``
    (``AnalyticsView``) reads tally rows and the ledger, and records releases and DP answers."""

    @property
    def view(self) -> Any: ...

    def catch_up(self) -> int: ...


class ReleaseRules(Protocol):
    """The disclosure rules (``projections.analytics.RELEASE_RULES``)."""

    @property
    def stale(self) -> type[Exception]:
        """What recording raises when a release read facts older than another one's (it is built again)."""

    def release(self, rows: list[TallyRow], by: tuple[str, ...], k: int, period: str) -> Any:
        """The internal release (cells with their persons) of ``rows`` under k at ``period``."""

    def cells(self, internal: Any, rows: list[TallyRow], family: str, keep: bool = False,
              ) -> tuple[list[str], Callable[[int, int], Any]]:
        """What recording ``internal`` in the ledger reads: its fine cells' keys, and the refiner that
        checks it against every earlier release of ``family`` (``view.record_release``'s ``refine``: a
        DisclosureRisk refuses it; ``stale`` asks for it again). ``rows`` is emptied (each row is held
        by its cell until refined; with ``keep``, until the release is dropped: the refiner may then run
        more than once, a trial first)."""

    def data_digest(self, rows: list[TallyRow]) -> str:
        """A digest of the data a DP query reads (its persons pseudonymous)."""

    def dp_release(self, rows: list[TallyRow], by: tuple[str, ...], period: str, epsilon: float,
                   delta: float) -> DpRelease:
        """A differentially private release of ``rows``, (epsilon, delta)-DP."""

    def dp_preview(self, epsilon: float, delta: float) -> dict[str, Any]:
        """What a DP release at ``epsilon`` would be made under, from the parameters alone (no data)."""

    def dp_cost(self, epsilon: float, delta: float) -> DpCost:
        """What a DP release at ``epsilon`` costs (its zCDP rho) and is made under, from the parameters alone."""

    def epsilon_of(self, rho: float, delta: float) -> float:
        """The epsilon that ``rho`` of zCDP amounts to at ``delta``."""

    def dp_document(self, release: DpRelease) -> dict[str, Any]:
        """A DP release as its recorded JSON document."""

    def dp_of_document(self, document: dict[str, Any], repeated: bool) -> DpRelease:
        """A DP release read back from its recorded document."""

    def trends(self, release: Release | DpRelease) -> list[dict[str, Any]]:
        """Per theme: rising, stable or falling, read from a release's values only."""

    def document(self, release: Release) -> dict[str, Any]:
        """An exact release as JSON data (what the release calendar keeps)."""

    def of_document(self, document: dict[str, Any]) -> Release:
        """An exact release read back from :meth:`document`'s JSON data, equal to it."""


class AnalystService:
    """Released aggregates only: signal summaries, trends and activity indicators (``app.analysts``).

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
        self, analytics: AnalyticsPort, clock: Callable[[], datetime], k_min: int | None = 5, *,
        grants: GrantsSource, rules: ReleaseRules, spend: Callable[[Actor, DpCost, str], bool] | None = None,
        afford: Callable[[Actor, float, str], None] | None = None, calendar: CalendarPort | None = None,
        dp_delta: float = 1e-6,
    ) -> None:
        #: The kept facts (``projections.analytics.Analytics``, handed in by bootstrap).
        self.analytics = analytics
        #: The disclosure rules (``projections.analytics.RELEASE_RULES``, handed in by bootstrap).
        self.rules = rules
        #: Pays a differentially private release from the analyst's budget, once per query digest: True
        #: when it spent, False when the budget had paid for that digest (the application's, from bootstrap).
        self.spend = spend
        #: Raises BudgetExceeded when a DP release would go past the analyst's budget: asked before any
        #: noise is drawn (the application's ``budgets.require_affordable``, from bootstrap).
        self.afford = afford
        #: The delta of every differentially private release (``ETRACK_DP_DELTA``, default 1e-6).
        self.dp_delta = dp_delta
        self.clock = clock
        #: Who holds which grants now (the access register, handed in by bootstrap).
        self.grants = grants
        self.k_min = require_optional_int(k_min, "k_min", 5, MIN_K, MAX_K)
        #: The release calendar (``app.release_calendar``, from bootstrap): None, no shape is reserved.
        self.calendar = calendar
        #: What the calendar asks of this service: its releases of a period, and the reservation.
        self.calendar_releases = CalendarReleases(self, _BATCH)

    def atomically(self, build: Callable[[], T]) -> T:
        """Run ``build`` (analyst calls, and what the caller makes of their answers: a page rendered and
        staged), then record every exact release it made in ONE transaction: all of them, or, if
        ``build`` raises or the recording is refused, none. Each release is checked (the region rule,
        against the ledger and the releases before it in ``build``) when it is asked, by a trial
        that writes nothing, so a refusal reaches ``build`` as usual (a page shows it and goes on);
        the grants relied on are checked again in the recording transaction. When a release by
        someone else committed in between and went stale, ``build`` runs again (at most 3 times).
        Inside another ``atomically``, it joins the outer one. A differentially private release
        inside ``build`` is paid when asked (its answer is recorded under its digest; asking it
        again is free), not at the end."""
        if _BATCH.get() is not None:
            return build()

        def attempt() -> T:
            batch: list[PendingRelease] = []
            token = _BATCH.set(batch)
            try:
                result = build()
            finally:
                _BATCH.reset(token)
            if batch:
                self._record(batch)  # stale: another release recorded newer facts meanwhile: all again
            return result

        with relying_on_grants():
            return self._until_fresh(attempt, "releases kept being published under this command's; run it again")

    def _until_fresh(self, attempt: Callable[[], T], again: str) -> T:
        """``attempt()``, run again while what it read went stale (another release recorded newer facts
        meanwhile: ``rules.stale``), at most 3 times; then ConcurrencyConflict saying ``again``. The one
        retry of a release, whether it is asked, planned, or recorded with its command's others."""
        for _ in range(3):
            try:
                return attempt()
            except self.rules.stale:
                continue
        raise ConcurrencyConflict(again)

    def _record(self, items: list[PendingRelease], commit: bool = True) -> list[int]:
        """Record ``items`` in one transaction (``commit=False``: a trial), the grants relied on checked in it."""
        for _attempt in range(10):  # the access register moved (another party's grant changed): again
            try:
                ids: list[int] = self.analytics.view.record_releases(items, grant_guard(self.clock), commit=commit)
                return ids
            except GrantsMoved:  # rolled back: the analyst's grant is read again (refused if it was revoked)
                recheck_moved(self.grants)
        raise ConcurrencyConflict("the access register kept changing while this release was recorded; ask again")

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
        actor, by, unit, period, since, until = checked_query(self.grants, viewer, family, by, unit, period, since, until, action)
        # checked here once, for Python and the command line alike (each message names both spellings)
        if privacy == "dp":
            if k is not None:
                raise InvalidInput("k", "k applies to exact releases; a release with privacy='dp' takes epsilon "
                                        "(on the command line: --k applies to exact releases; --privacy dp takes "
                                        "--epsilon)")
            if epsilon is None:
                raise InvalidInput("epsilon", "privacy='dp' needs epsilon (on the command line: --privacy dp needs "
                                              "--epsilon E), a number above 0 and at most 10")
            return private_release(self, actor, family, by, unit, period, since, until, epsilon)
        if privacy != "exact":
            raise InvalidInput("privacy", f"{privacy!r} is not one of: exact, dp")
        if epsilon is not None:
            raise InvalidInput("epsilon", "epsilon applies to privacy='dp' only (on the command line: --epsilon "
                                          "applies to --privacy dp only)")
        return self._exact(actor, family, by, unit, period, k, since, until)

    def _k(self, family: str, k: int | None) -> int:  # the release calendar's (calendar_releases.py)
        return release_k(self, family, k)

    def _exact(
        self, actor: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int | None,
        since: str | None, until: str | None,
    ) -> Release:
        k = release_k(self, family, k)
        return self._until_fresh(lambda: self._build_and_record(actor, family, by, unit, period, k, since, until),
                                 "releases kept being published under this one; ask again")

    def _build(
        self, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int,
        since: str | None, until: str | None, keep: bool,
    ) -> tuple[Release, PendingRelease | None]:
        """The release as published, and what recording it takes (None: a population under k, nothing
        to record). ``keep``: the refiner may run more than once (a trial first)."""
        rows = tally_scope(self.analytics, family, unit, since, until)  # stored rows, decoded a tally at a time when read
        internal = self.rules.release(rows, by, k, period)
        rel = internal.published()  # what the analyst receives, and all the region rule reads
        if "period" in by:  # a cut period would be published as a whole one
            require_whole_periods(since, until, rel.level.time)
        if not rel.rows:
            return rel, None  # a population under k: nothing listed, nothing recorded
        # even a release of suppressed cells only is recorded: it tells that each holds a fact
        keys, check = self.rules.cells(internal, rows, family, keep=keep)
        query = {"by": list(by), "unit": unit, "period": period, "k": k, "since": since, "until": until}
        at = self.clock().astimezone(UTC).isoformat()
        return rel, PendingRelease(internal, family, query, str(viewer.party), at, tuple(keys), check)

    def _build_and_record(
        self, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int,
        since: str | None, until: str | None,
    ) -> Release:
        batch = _BATCH.get()
        # kept: the refiner runs more than once (a trial first, the calendar's trials)
        rel, item = self._build(viewer, family, by, unit, period, k, since, until,
                                keep=batch is not None or self.calendar is not None)
        if item is None:
            return rel
        if batch is None:
            self.calendar_releases.check(viewer, item, [])
            self._record([item])
        else:  # checked now as it will be recorded (after the command's earlier releases), written at the end
            self._record([*batch, item], commit=False)
            self.calendar_releases.check(viewer, item, batch)
            batch.append(item)
        return rel

    # --- the release calendar (``calendar_releases.py``) ------------------------------------------

    def calendar_sections(self, viewer: Actor, period: object) -> dict[str, CalendarSection] | None:
        """The calendar's releases of ``period`` ('2026-Q1'...), when the calendar is by that kind of period
        and the period has closed: read from the calendar once recorded, recorded now otherwise. None when
        the calendar does not cover it (another kind of period, or a period still open)."""
        return self.calendar_releases.sections(viewer, period)

    def publish_calendar(self, actor: Actor, now: datetime) -> list[str]:
        """Record the calendar releases of the period that closed last before ``now`` (tick's step)."""
        return self.calendar_releases.publish(actor, now)

    @grant_checked
    def plan(self, viewer: Actor, period: object, unit: str | None = None, k: int | None = None,
             ) -> list[dict[str, Any]]:
        """For the shapes an analyst asks most (``PLANNED_SHAPES``) over ``period`` ('2026-Q1', '2026-03' or
        '2026'; by month, by quarter for a year), what asking each now would answer: ``releasable``,
        ``closed`` (the region rule refuses it, given the earlier releases), ``reserved`` (it would make a
        shape the release calendar reserves unreleasable), ``empty`` (fewer than k
        persons) or ``cut`` (the rules coarsen it past the window). Each status is found by attempting
        the release in a trial that records nothing: the plan tells no more than asking would (less: no
        value). A shape listed releasable is released when asked next, unless releases or facts were
        recorded in between. Column ``calendar``: the release calendar's shapes of this period are
        "reserved by the calendar" until its calendar releases are recorded, "recorded" after."""
        actor = require_analyst(viewer, "plan releases", self.grants)
        since, until, kind = period_window(period)
        grain = "quarter" if kind == "year" else "month"
        if unit is not None:
            unit = require_label(unit, "org_unit", "unit")
        reserved: set[Shape] = set()
        calendar = "recorded"
        if self.calendar is not None and unit is None:
            calendar_kind, names = self.calendar.spec()
            if calendar_kind == kind:
                reserved = {parse_shape(name) for name in names}
                if str(period) not in self.calendar.released_periods():
                    calendar = "reserved by the calendar"
        planned = {family: list(shapes) for family, shapes in PLANNED_SHAPES.items()}
        for family, by in sorted(reserved):  # a declared calendar's shapes are planned too
            if by not in planned.setdefault(family, []):
                planned[family].append(by)
        plan = []
        for family, shapes in planned.items():
            fk = release_k(self, family, k)
            for by in shapes:
                status, _, why = attempt_release(self, actor, family, by, unit, grain, fk, since, until).partition(": ")
                plan.append({"family": family, "by": ",".join(by), "period": str(period), "since": since,
                             "until": until, "level": grain, "k": fk, "status": status, "why": why or None,
                             "calendar": calendar if (family, by) in reserved else None})
        return plan

    def preview(self, viewer: Actor, epsilon: object) -> dict[str, Any]:
        """What a differentially private release at ``epsilon`` would cost (rho) and give, before spending
        anything, from the parameters alone: :func:`dp_preview`."""
        return dp_preview(self, viewer, epsilon)

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
        actor, by, unit, period, since, until = checked_query(self.grants, viewer, "activity", by, unit, period, since, until,
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
        actor, by, unit, period, since, until = checked_query(self.grants, viewer, "testimonial", by, unit, period, since, until,
                                                              "release testimonial ratings")
        return self._exact(actor, "testimonial", by, unit, period, k, since, until)

    @grant_checked
    def trends(
        self, viewer: Actor, unit: str | None = None, period: str | None = "month", k: int | None = None,
        since: str | None = None, until: str | None = None, privacy: str = "exact", epsilon: float | None = None,
    ) -> list[dict[str, Any]]:
        """Per theme: rising, stable or falling; flagged when a weak signal becomes strong. Read from
        a release's values only: exact released cells, or (``privacy="dp"``) noisy ones."""
        return self.rules.trends(self._release(viewer, "signal", ("theme", "period"), unit, period, k,
                                               "release a signal summary", since, until, privacy, epsilon))


__all__ = ["DEFAULT_BY", "DEFAULT_PERIOD", "FAMILY_DIMENSIONS", "MAX_K", "PERIODS", "AnalystService", "AnalyticsPort",
           "PendingRelease", "ReleaseRules"]


# --- the checks and reads a release is made of (module functions: the service above calls them) ---


def checked_query(
    grants: GrantsSource, viewer: Actor, family: str, by: Sequence[str] | str | None, unit: str | None, period: str | None,
    since: str | None, until: str | None, action: str,
) -> tuple[Actor, tuple[str, ...], str | None, str, str | None, str | None]:
    actor = require_analyst(viewer, action, grants)
    by = require_dimensions(by, "by", DEFAULT_BY[family])
    allowed = FAMILY_DIMENSIONS[family]
    if any(d not in allowed for d in by) or len(set(by)) != len(by):
        raise InvalidInput("by", f"{list(by)}: group by distinct dimensions among {', '.join(allowed)}")
    if unit is not None:
        unit = require_label(unit, "org_unit", "unit")
    period = require_optional_choice(period, "period", DEFAULT_PERIOD[family], PERIODS)
    since, until = require_window(since, until)
    return actor, by, unit, period, since, until


def tally_scope(analytics: AnalyticsPort, family: str, unit: str | None, since: str | None, until: str | None) -> list[TallyRow]:
    """The tallies a query reads, as stored rows (decoded as they are read: ``anonymity.Tallies``)."""
    analytics.catch_up()
    rows: list[TallyRow] = analytics.view.tally_rows(family, since, until)
    if unit:
        below = unit.rstrip("/") + "/"
        rows = [r for r in rows if r[3] == unit or r[3].startswith(below)]  # r[3]: the tally's unit
    return rows


def attempt_release(
    self: AnalystService, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int,
    since: str | None, until: str | None,
) -> str:
    """What asking this release now would answer, as a status, recording nothing (a trial): the
    planner's (``AnalystService.plan``)."""

    def attempt() -> str:
        try:
            _rel, item = self._build(viewer, family, by, unit, period, k, since, until, keep=self.calendar is not None)
        except PeriodCut as cut:
            return f"cut: the rules coarsen it to {cut.grain}s; ask over whole {cut.grain}s"
        if item is None:
            return "empty: fewer than k persons, nothing to release"
        try:
            self._record([*(_BATCH.get() or []), item], commit=False)
            self.calendar_releases.check(viewer, item, list(_BATCH.get() or []))
        except CalendarReserved as reserved:
            return f"reserved: {reserved.reason}"
        except DisclosureRisk:
            return "closed: refused by the region rule, given the earlier releases"
        return "releasable"

    return self._until_fresh(attempt, "releases kept being published while this plan was made; ask again")


def release_k(service: AnalystService, family: str, k: int | None) -> int:
    """The k of a release: never lowered below the deployment's floor nor the k of any earlier release
    of ``family`` (this command's included); None means that floor."""
    pending = _BATCH.get() or []  # the releases of this command so far count as earlier ones
    floor = max([service.k_min, *(e["k"] for e in service.analytics.view.ledger(family)),
                 *(p.internal.policy.k for p in pending if p.family == family)])
    if k is not None:
        require_int(k, "k", MIN_K, MAX_K)
        if k < floor:
            raise InvalidInput("k", f"{k} is below {floor}, the lowest k accepted here (the deployment's "
                                    "floor, or an earlier release's k): ask with k >= that, or leave k out")
    return floor if k is None else k


def dp_preview(service: AnalystService, viewer: Actor, epsilon: object) -> dict[str, Any]:
    """What a differentially private release at ``epsilon`` would give, before spending anything: the
    mechanism, the rho it would cost, epsilon, delta, the noise scale, the threshold a cell's noisy
    count must reach to be shown, and each shown cell's 95% interval (``value ± half_width_95``).
    Free, and it touches no data: it is computed from the parameters alone (OpenDP's calibration),
    so it tells nothing about the facts. With budgets wired, ``within_budget`` says whether the
    analyst's budget pays that rho now (and, when not, the note says what remains)."""
    require_analyst(viewer, "preview a differentially private release", service.grants)
    shown = service.rules.dp_preview(require_epsilon(epsilon), service.dp_delta)
    if service.afford is not None:  # whether the analyst's budget pays it now (what a release would check first)
        try:
            service.afford(viewer, shown["rho"], "preview")
            shown["within_budget"] = True
        except BudgetExceeded as refused:
            shown["within_budget"] = False
            shown["note"] += f"; your budget would refuse it now: {refused.reason}"
    return shown


def private_release(
    service: AnalystService, actor: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, since: str | None,
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
    if service.spend is None:
        raise InvalidInput("privacy", "this service has no privacy budgets (bootstrap.analyst_service wires them)")
    eps = require_epsilon(epsilon)
    if "period" in by:
        require_whole_periods(since, until, period)
    rows = tally_scope(service.analytics, family, unit, since, until)
    query = {"family": family, "by": list(by), "unit": unit, "period": period, "since": since, "until": until,
             "epsilon": eps}
    data = service.rules.data_digest(rows)
    key = hashlib.sha256(json.dumps([query, data], sort_keys=True).encode()).hexdigest()
    recorded = service.analytics.view.dp_answer(key)
    if recorded is not None:
        return service.rules.dp_of_document(json.loads(recorded), repeated=True)
    # the mechanism calibrated from the parameters (MissingDependency without OpenDP), then the budget: a
    # release past it is refused before any noise is drawn
    cost = service.rules.dp_cost(eps, service.dp_delta)
    if service.afford is not None:
        service.afford(actor, cost.rho, key)
    rel = service.rules.dp_release(rows, by, period, eps, service.dp_delta)
    spent = service.spend(actor, cost, key)  # refused (BudgetExceeded): the answer is dropped unseen, nothing stored
    try:
        stored = service.analytics.view.record_dp_answer(key, json.dumps(service.rules.dp_document(rel), sort_keys=True))
    except PersistenceError as exc:
        raise StoreError(f"the store could not record the answer to this query ({exc}); it is paid for: "
                         "ask it again (nothing more is spent)") from exc
    return service.rules.dp_of_document(json.loads(stored), repeated=not spent)
