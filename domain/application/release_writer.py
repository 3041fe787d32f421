"""How an exact release is built, checked and recorded: the one path of the analyst service's releases and
of the release calendar's (``app.analysts.releases``).

:class:`ReleaseWriter` holds what a release reads and records through (the kept facts, the disclosure
rules, the grants, the clock, the k floor and the release calendar) and the unit of work that records
a command's releases in one transaction (:meth:`ReleaseWriter.atomically`). The analyst service
(``analysts.py``) checks the arguments and calls it; the release calendar (``calendar_releases.py``)
builds, tries and records its releases through the same public methods, and reaches into neither
the service nor this class's internals. The ports it reads through (:class:`AnalyticsPort`,
:class:`ReleaseRules`, :class:`CalendarPort`) are handed in by ``adapters/bootstrap.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from engagement_tracker.domain.access import (
    GrantsMoved,
    GrantsSource,
    grant_guard,
    recheck_moved,
    relying_on_grants,
)
from engagement_tracker.domain.checks import MIN_K, require_int
from engagement_tracker.domain.errors import ConcurrencyConflict, InvalidInput
from engagement_tracker.domain.privacy_budget import DpCost
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.windows import require_whole_periods

if TYPE_CHECKING:
    from engagement_tracker.domain.application.calendar_releases import CalendarReleases

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
    #: The role the analyst asked in (the release log's ``actor``: ``domain/release_log.py``).
    role: str = "analyst"


@attrs.frozen
class PendingDpLeaf:
    """A differentially private release to log (a leaf of the audit log) in the transaction that records its
    answer (``AnalyticsView.record_dp_answer``): logged only when that answer is new."""

    #: The release as the analyst receives it (``projections.privacy.DpRelease``, read back from its document).
    release: Any
    family: str
    query: dict[str, Any]
    analyst: str
    role: str
    at: str


@attrs.frozen
class PendingDp:
    """A differentially private release asked inside :meth:`ReleaseWriter.atomically`: checked (affordable) and
    drawn when asked, paid and recorded (spend, answer, leaf) only when its unit of work commits."""

    analyst: Actor
    #: The query's key (a digest of the query and of the data it read): what the budget pays once.
    key: str
    rho: float
    #: The answer as recorded (its JSON document), and the release as the analyst receives it.
    document: str
    release: Any
    #: Spends the budget and records the answer and its leaf (``analysts.private_release``'s recording).
    pay: Callable[[], object]


#: The releases the running command made so far (None: not inside :meth:`AnalystService.atomically`).
_BATCH: ContextVar[list[PendingRelease] | None] = ContextVar("etrack_release_batch", default=None)
#: The differentially private releases the running command asked so far, waiting for its end (None: outside).
_DP_BATCH: ContextVar[list[PendingDp] | None] = ContextVar("etrack_dp_batch", default=None)


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


class ReleaseWriter:
    """The one path of an exact release: built from the tallies, checked (the region rule, the calendar's
    reservation), recorded with the other releases of its command in one transaction (``app.analysts.releases``).

    Its methods are public so that the analyst service and the release calendar share them; embedding code
    calls the analyst service, which checks every argument and the analyst's grant first.
    """

    def __init__(self, analytics: AnalyticsPort, rules: ReleaseRules, grants: GrantsSource,
                 clock: Callable[[], datetime], k_min: int, calendar: CalendarPort | None,
                 afford: Callable[[Actor, float, str], None] | None = None) -> None:
        self.analytics = analytics
        self.rules = rules
        self.grants = grants
        self.clock = clock
        #: The deployment's floor for k (``ETRACK_K_MIN``).
        self.k_min = k_min
        #: The release calendar: None, no shape is reserved.
        self.calendar = calendar
        #: The calendar's side (``calendar_releases.CalendarReleases``), given by the analyst service.
        self.calendar_releases: CalendarReleases | None = None
        #: BudgetExceeded when an analyst's budget does not pay ``rho`` now (``budgets.require_affordable``,
        #: from bootstrap): asked before any noise is drawn, and again at the end of a unit of work holding DP releases.
        self.afford = afford

    def atomically(self, build: Callable[[], T]) -> T:
        """Run ``build`` (analyst calls, and what the caller makes of their answers: a page rendered and
        staged), then record every exact release it made in ONE transaction: all of them, or, if
        ``build`` raises or the recording is refused, none. Each release is checked (the region rule,
        against the ledger and the releases before it in ``build``) when it is asked, by a trial
        that writes nothing, so a refusal reaches ``build`` as usual (a page shows it and goes on);
        the grants relied on are checked again in the recording transaction. When a release by
        someone else committed in between and went stale, ``build`` runs again (at most 3 times).
        Inside another ``atomically``, it joins the outer one.

        A differentially private release inside ``build`` is checked when asked (its budget pays its
        rho, with the unit's earlier DP releases: refused before any noise is drawn) and drawn then,
        but paid and recorded (the spend, the answer under its digest, its leaf of the audit log) only
        at the end, AFTER the exact releases' transaction, each in its own transactions (the budget is
        an aggregate of the event store, saved through the command path with its optimistic
        concurrency; the answer and its leaf are the analytics view's: one transaction would need the
        command path inside the view's, on every backend). If ``build`` raises, nothing is spent,
        no answer is stored, no leaf is written. Concurrency: every DP release's budget is checked
        again (all of the unit's rho together) BEFORE the exact releases are recorded, so a budget
        that another command spent meanwhile fails the whole unit with BudgetExceeded and records
        none of its releases; only a spend committed by another command in the instant between that
        check and this unit's own spend can still refuse it after its exact releases (then
        BudgetExceeded, and the DP answers are not recorded). Repeats stay free: a query answered
        earlier (or earlier in ``build``) gives the recorded answer and spends nothing."""
        if _BATCH.get() is not None:
            return build()

        def attempt() -> T:
            batch: list[PendingRelease] = []
            dp: list[PendingDp] = []
            token, dp_token = _BATCH.set(batch), _DP_BATCH.set(dp)
            try:
                result = build()
            finally:
                _BATCH.reset(token)
                _DP_BATCH.reset(dp_token)
            if any(self.analytics.view.dp_answer(item.key) is not None for item in dp):
                raise self.rules.stale("the same DP query was answered by another command meanwhile")  # again: free
            self.check_budgets(dp)  # before anything is written: a budget spent meanwhile refuses it all
            if batch:
                self.record(batch)  # stale: another release recorded newer facts meanwhile: all again
            for item in dp:
                item.pay()
            return result

        with relying_on_grants():
            return self.until_fresh(attempt, "releases kept being published under this command's; run it again")

    def check_budgets(self, dp: list[PendingDp]) -> None:
        """BudgetExceeded when an analyst's budget no longer pays the rho of all of ``dp`` that is theirs."""
        if self.afford is None:
            return
        owed: dict[Actor, dict[str, float]] = {}
        for item in dp:
            owed.setdefault(item.analyst, {})[item.key] = item.rho
        for analyst, keys in owed.items():
            # one key paid meanwhile (the same query by a concurrent command) is free: affords() knows it
            key = next(iter(keys)) if len(keys) == 1 else "unit of work: " + ",".join(sorted(keys))
            self.afford(analyst, sum(keys.values()), key)

    def until_fresh(self, attempt: Callable[[], T], again: str) -> T:
        """``attempt()``, run again while what it read went stale (another release recorded newer facts
        meanwhile: ``rules.stale``), at most 3 times; then ConcurrencyConflict saying ``again``. The one
        retry of a release, whether it is asked, planned, or recorded with its command's others."""
        for _ in range(3):
            try:
                return attempt()
            except self.rules.stale:
                continue
        raise ConcurrencyConflict(again)

    def record(self, items: list[PendingRelease], commit: bool = True) -> list[int]:
        """Record ``items`` in one transaction (``commit=False``: a trial), the grants relied on checked in it."""
        ids: list[int] = self._guarded(lambda guard: self.analytics.view.record_releases(items, guard, commit=commit))
        return ids

    def trial_verdicts(self, items: list[PendingRelease], groups: list[list[PendingRelease]]) -> list[bool | None]:
        """A trial of ``items`` (refused as :meth:`record` would refuse it), then of each of ``groups`` after
        them, in one transaction that writes nothing: per group, True (accepted), False (refused by the
        region rule) or None (it read other facts than ``items``: try it as usual). ``AnalyticsView.trial_verdicts``."""
        verdicts: list[bool | None] = self._guarded(lambda guard: self.analytics.view.trial_verdicts(items, groups, guard))
        return verdicts

    def _guarded(self, write: Callable[[Any], T]) -> T:
        """``write(guard)``, run again while the access register moves under it (at most 10 times)."""
        for _attempt in range(10):  # the access register moved (another party's grant changed): again
            try:
                return write(grant_guard(self.clock))
            except GrantsMoved:  # rolled back: the analyst's grant is read again (refused if it was revoked)
                recheck_moved(self.grants)
        raise ConcurrencyConflict("the access register kept changing while this release was recorded; ask again")

    def exact(
        self, actor: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int | None,
        since: str | None, until: str | None,
    ) -> Release:
        """An exact release, its arguments already checked (``analysts.checked_query``), at ``k`` (None: the
        floor): built, checked and recorded, or, inside :meth:`atomically`, tried now and recorded at its end."""
        k = self.k(family, k)
        return self.until_fresh(lambda: self.build_and_record(actor, family, by, unit, period, k, since, until),
                                 "releases kept being published under this one; ask again")

    def build(
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
        return rel, PendingRelease(internal, family, query, str(viewer.party), at, tuple(keys), check,
                                   viewer.role.value)

    def build_and_record(
        self, viewer: Actor, family: str, by: tuple[str, ...], unit: str | None, period: str, k: int,
        since: str | None, until: str | None,
    ) -> Release:
        """:meth:`exact`'s one attempt (run again when it went stale)."""
        batch = _BATCH.get()
        # kept: the refiner runs more than once (a trial first, the calendar's trials)
        rel, item = self.build(viewer, family, by, unit, period, k, since, until,
                                keep=batch is not None or self.calendar is not None)
        if item is None:
            return rel
        if batch is None:
            self.check_calendar(viewer, item, [])
            self.record([item])
        else:  # checked now as it will be recorded (after the command's earlier releases), written at the end
            self.record([*batch, item], commit=False)
            self.check_calendar(viewer, item, batch)
            batch.append(item)
        return rel

    def k(self, family: str, k: int | None) -> int:
        """The k of a release: never lowered below the deployment's floor nor the k of any earlier release
        of ``family`` (this command's included); None means that floor."""
        pending = _BATCH.get() or []  # the releases of this command so far count as earlier ones
        floor = max([self.k_min, *(e["k"] for e in self.analytics.view.ledger(family)),
                     *(p.internal.policy.k for p in pending if p.family == family)])
        if k is not None:
            require_int(k, "k", MIN_K, MAX_K)
            if k < floor:
                raise InvalidInput("k", f"{k} is below {floor}, the lowest k accepted here (the deployment's "
                                        "floor, or an earlier release's k): ask with k >= that, or leave k out")
        return floor if k is None else k

    def check_calendar(self, viewer: Actor, item: PendingRelease, before: list[PendingRelease]) -> None:
        """CalendarReserved when recording ``item`` after ``before`` would make a calendar shape unreleasable."""
        if self.calendar_releases is not None:
            self.calendar_releases.check(viewer, item, before)


def tally_scope(analytics: AnalyticsPort, family: str, unit: str | None, since: str | None, until: str | None) -> list[TallyRow]:
    """The tallies a query reads, as stored rows (decoded as they are read: ``anonymity.Tallies``)."""
    analytics.catch_up()
    rows: list[TallyRow] = analytics.view.tally_rows(family, since, until)
    if unit:
        below = unit.rstrip("/") + "/"
        rows = [r for r in rows if r[3] == unit or r[3].startswith(below)]  # r[3]: the tally's unit
    return rows


__all__ = ["MAX_K", "AnalyticsPort", "CalendarPort", "PendingDp", "PendingDpLeaf", "PendingRelease", "ReleaseRules",
           "ReleaseWriter", "tally_scope"]
