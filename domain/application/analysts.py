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
from datetime import UTC, datetime
from typing import Any, TypeVar

from eventsourcing.persistence import PersistenceError

from engagement_tracker.domain.access import (
    GrantsSource,
    grant_checked,
    require_analyst,
)
from engagement_tracker.domain.application.calendar_releases import CalendarReleases, CalendarSection
from engagement_tracker.domain.application.release_writer import (
    _BATCH,
    _DP_BATCH,
    MAX_K,
    AnalyticsPort,
    CalendarPort,
    DpRelease,
    PendingDp,
    PendingDpLeaf,
    PendingRelease,
    Release,
    ReleaseRules,
    ReleaseWriter,
    tally_scope,
)
from engagement_tracker.domain.checks import (
    MIN_K,
    require_dimensions,
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

T = TypeVar("T")


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
        #: Pays a differentially private release from the analyst's budget, once per query digest: True
        #: when it spent, False when the budget had paid for that digest (the application's, from bootstrap).
        self.spend = spend
        #: The delta of every differentially private release (``ETRACK_DP_DELTA``, default 1e-6).
        self.dp_delta = dp_delta
        #: The one path of an exact release: built, checked, recorded (``release_writer.py``). It holds what
        #: the service reads through (the kept facts, the rules, the grants, the clock, the calendar): the
        #: properties below are its, never copies.
        self.releases = ReleaseWriter(analytics, rules, grants, clock,
                                      require_optional_int(k_min, "k_min", 5, MIN_K, MAX_K), calendar, afford)
        #: What the calendar asks of the releases: its releases of a period, and the reservation.
        self.calendar_releases = self.releases.calendar_releases = CalendarReleases(self.releases, _BATCH)

    @property
    def analytics(self) -> AnalyticsPort:
        """The kept facts (``projections.analytics.Analytics``, handed in by bootstrap)."""
        return self.releases.analytics

    @property
    def rules(self) -> ReleaseRules:
        """The disclosure rules (``projections.analytics.RELEASE_RULES``, handed in by bootstrap)."""
        return self.releases.rules

    @property
    def grants(self) -> GrantsSource:
        """Who holds which grants now (the access register, handed in by bootstrap)."""
        return self.releases.grants

    @property
    def clock(self) -> Callable[[], datetime]:
        """The application's clock: when a release is recorded."""
        return self.releases.clock

    @property
    def calendar(self) -> CalendarPort | None:
        """The release calendar (``app.release_calendar``, from bootstrap): None, no shape is reserved."""
        return self.releases.calendar

    @property
    def afford(self) -> Callable[[Actor, float, str], None] | None:
        """Raises BudgetExceeded when a DP release would go past the analyst's budget: asked before any
        noise is drawn (the application's ``budgets.require_affordable``, from bootstrap)."""
        return self.releases.afford

    @property
    def k_min(self) -> int:
        """The deployment's floor for k (``ETRACK_K_MIN``, default 5)."""
        return self.releases.k_min

    def atomically(self, build: Callable[[], T]) -> T:
        """Run ``build`` and record every exact release it made in ONE transaction, or none
        (:meth:`release_writer.ReleaseWriter.atomically`)."""
        return self.releases.atomically(build)

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
        return self.releases.exact(actor, family, by, unit, period, k, since, until)

    # --- the release calendar (``calendar_releases.py``) ------------------------------------------

    def calendar_sections(self, viewer: Actor, period: object, *, record: bool = True,
                          ) -> dict[str, CalendarSection] | None:
        """The calendar's releases of ``period`` ('2026-Q1'...), when the calendar is by that kind of period
        and the period has closed: read from the calendar once recorded, recorded now otherwise (with
        ``record=False``, None instead). None when the calendar does not cover it (another kind of period,
        or a period still open)."""
        return self.calendar_releases.sections(viewer, period, record=record)

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
            fk = self.releases.k(family, k)
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
        return self.releases.exact(actor, "activity", by, unit, period, k, since, until)

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
        return self.releases.exact(actor, "testimonial", by, unit, period, k, since, until)

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
           "PendingDpLeaf", "PendingRelease", "ReleaseRules"]


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


def attempt_release(
    self: AnalystService, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int,
    since: str | None, until: str | None,
) -> str:
    """What asking this release now would answer, as a status, recording nothing (a trial): the
    planner's (``AnalystService.plan``)."""

    def attempt() -> str:
        try:
            _rel, item = self.releases.build(viewer, family, by, unit, period, k, since, until, keep=self.calendar is not None)
        except PeriodCut as cut:
            return f"cut: the rules coarsen it to {cut.grain}s; ask over whole {cut.grain}s"
        if item is None:
            return "empty: fewer than k persons, nothing to release"
        try:
            self.releases.record([*(_BATCH.get() or []), item], commit=False)
            self.releases.check_calendar(viewer, item, list(_BATCH.get() or []))
        except CalendarReserved as reserved:
            return f"reserved: {reserved.reason}"
        except DisclosureRisk:
            return "closed: refused by the region rule, given the earlier releases"
        return "releasable"

    return self.releases.until_fresh(attempt, "releases kept being published while this plan was made; ask again")


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

    Inside :meth:`AnalystService.atomically`, the release is checked (affordable, with the unit's
    earlier DP releases) and drawn now, and paid and recorded when the unit commits
    (``ReleaseWriter.atomically``): a unit that fails spends nothing and records no answer.
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
    unit_of_work = _DP_BATCH.get()
    earlier = [p for p in unit_of_work or [] if p.analyst == actor]
    for pending in earlier:
        if pending.key == key:  # asked earlier in this unit of work: the same answer, nothing more to pay
            return pending.release
    # the mechanism calibrated from the parameters (MissingDependency without OpenDP), then the budget: a
    # release past it is refused before any noise is drawn
    cost = service.rules.dp_cost(eps, service.dp_delta)
    if service.afford is not None:
        owed = cost.rho + sum(p.rho for p in earlier)  # this unit's earlier DP releases are paid at its end
        service.afford(actor, owed, key if not earlier else "unit of work: " + key)
    rel = service.rules.dp_release(rows, by, period, eps, service.dp_delta)
    document = json.dumps(service.rules.dp_document(rel), sort_keys=True)
    released = service.rules.dp_of_document(json.loads(document), repeated=False)
    spend = service.spend

    def pay() -> tuple[str, bool]:
        """Spend, then record the answer and its leaf (timed when recorded, after the spend): the answer as
        stored (first writer wins), and whether this call spent (False: the budget had paid for the key)."""
        spent = spend(actor, cost, key)  # refused (BudgetExceeded): the answer is dropped unseen, nothing stored
        leaf = PendingDpLeaf(released, family, {"by": list(by), "unit": unit, "period": period, "since": since,
                                                "until": until},
                             str(actor.party), actor.role.value, service.clock().astimezone(UTC).isoformat())
        try:
            stored: str = service.analytics.view.record_dp_answer(key, document, leaf)
        except PersistenceError as exc:
            raise StoreError(f"the store could not record the answer to this query ({exc}); it is paid for: "
                             "ask it again (nothing more is spent)") from exc
        if unit_of_work is not None and stored != document:  # the same query answered by another command in between
            raise ConcurrencyConflict("another command answered the same differentially private query at the same "
                                      "moment; run this one again: its recorded answer is given, free")
        return stored, spent

    if unit_of_work is not None:  # checked now, paid and recorded when the unit of work commits
        unit_of_work.append(PendingDp(actor, key, cost.rho, document, released, pay))
        return released
    stored, spent = pay()
    return service.rules.dp_of_document(json.loads(stored), repeated=not spent)
