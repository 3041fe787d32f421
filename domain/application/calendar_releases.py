"""The release calendar's side of the analyst service: the calendar's releases of a period (recorded
once, at tick or at a closed period's first note, then read back), and the reservation that refuses
an exploratory exact release which would make the open period's calendar unreleasable.

A collaborator of the release writer (``release_writer.ReleaseWriter``: ``app.analysts.releases``), which
it is handed: it builds, tries and records releases through the writer's public methods, the same ones
the analyst service calls.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import attrs

from engagement_tracker.domain.access import require_analyst
from engagement_tracker.domain.dimensions import FAMILY_DIMENSIONS
from engagement_tracker.domain.errors import CalendarReserved, DisclosureRisk, InvalidInput, PeriodCut
from engagement_tracker.domain.release_calendar import Shape, parse_shape, shape_name
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.windows import period_label, period_window, widened

#: The release writer (``release_writer.ReleaseWriter``) and a release it built (``release_writer.PendingRelease``):
#: named loosely here, so that this module does not import the one that imports it.
ReleaseWriter = Any
PendingRelease = Any
Release = Any

class _Coarser(Exception):
    """A period's calendar shapes do not all come out at this grain: try the next, coarser one."""


#: True while the calendar's own releases of a period are made (they are what the calendar reserves).
_CALENDAR: ContextVar[bool] = ContextVar("etrack_calendar_release", default=False)


@attrs.frozen
class CalendarSection:
    """One shape of a period's calendar releases: the release (as analysts receive it), or why the rules
    refused it; and, when the rules needed whole coarser periods, the window it was released over."""

    shape: str
    release: Release | None
    refused: str | None = None
    coarsened: str | None = None


def ask_widening(ask: Callable[[str, str], Release], since: str, until: str,
                 ) -> tuple[Release | None, str | None, str | None]:
    """Ask ``ask(since, until)``; when the release comes out at a coarser grain than the window holds
    whole (the rules coarsened it to protect small cells), ask again over the whole coarser periods.
    Returns the release (None when refused), the refusal's reason and the coarsened window's note."""
    coarsened = None
    for _ in range(3):  # month -> quarter -> year at most
        try:
            return ask(since, until), None, coarsened
        except PeriodCut as cut:
            since, until = widened(since, until, cut.grain)
            coarsened = (f"released over {since} to {until}: the rules coarsened it to whole {cut.grain}s "
                         "to protect small cells")
        except DisclosureRisk as exc:  # the region rule refused it: say so, publish nothing of it
            return None, str(exc), coarsened
    raise InvalidInput("period", "no window of whole periods holds this release")  # unreachable: a year fits


class CalendarReleases:
    """``app.analysts.calendar_releases``: what the release calendar asks of the release writer."""

    def __init__(self, service: ReleaseWriter, batch: ContextVar[Any]) -> None:
        #: The release writer: every release built, tried and recorded through it.
        self.service = service
        #: The service's running command's releases (reset while the calendar records its own).
        self.batch = batch

    def _calendar_item(self, actor: Actor, shape: Shape, since: str, until: str, kind: str, k: int = 0,
                       ) -> PendingRelease | None:
        """What recording a calendar shape of a period would take now (None: fewer than k persons), at the
        floor's k or ``k`` if higher (the k of a release asked before it)."""
        family, by = shape
        grain = "quarter" if kind == "year" else "month"
        k = max(k, self.service.k(family, None))
        for _ in range(3):
            try:
                return self.service.build(actor, family, by, None, grain, k, since, until, keep=True)[1]
            except PeriodCut as cut:
                since, until = widened(since, until, cut.grain)
        return None

    def check(self, actor: Actor, item: PendingRelease, before: list[PendingRelease]) -> None:
        """CalendarReserved when recording ``item`` (after ``before``) would make a shape the calendar
        reserves unreleasable, in a period it touches that is still open (the clock's, or a later one) and
        whose calendar releases are not recorded yet (a closed period's are recorded at tick): each
        such period's calendar releases are tried with it (a trial, recording nothing). Calendar shapes
        the rules refuse even without ``item`` reserve nothing. The calendar's own releases, and
        differentially private ones, are never held back."""
        if self.service.calendar is None or _CALENDAR.get():
            return
        kind, names = self.service.calendar.spec()
        shapes = [shape for shape in map(parse_shape, names) if shape[0] == item.family]
        if not shapes:
            return
        current = self.service.clock().astimezone(UTC).strftime("%Y-%m")
        # a fine key: [family, metric, unit, month, ...]; the periods still open (the current one, later ones)
        months = {month for key in item.keys if (month := json.loads(key)[3]) >= current[:4]}
        opened = {label for label in (period_label(m, kind) for m in months) if period_window(label)[1] >= current}
        alone = False  # known to be accepted alone
        for calendars in self._calendars(actor, item, kind, shapes, sorted(opened - self.service.calendar.released_periods())):
            verdicts = self._verdicts(item, before, [c for c in calendars.values() if c])
            alone = alone or verdicts is not None
            for label, calendar in calendars.items():
                if calendar and not self._accepted(item, before, calendar, verdicts):
                    if not alone:  # refused by itself: the region rule's own refusal
                        self.service.record([*before, item], commit=False)
                        alone = True
                    self._refused_together(actor, label, kind, shapes, item, before, calendar)

    def _calendars(self, actor: Actor, item: PendingRelease, kind: str, shapes: list[Shape], labels: list[str],
                   ) -> Iterator[dict[str, list[PendingRelease]]]:
        """The calendar releases of the periods ``labels`` (each: what recording the calendar's shapes would take,
        at ``item``'s k at least), a few periods at a time, in order: as many as hold together at most half as
        many fine cells as ``item`` (at least one period), so that the releases held at once stay a fraction
        of the release they are tried with, however many periods are open."""
        k = item.internal.policy.k  # the calendar's releases come after this one: at its k at least
        budget = max(1, len(item.keys) // 2)
        chunk: dict[str, list[PendingRelease]] = {}
        cells = 0
        for label in labels:
            since, until, _ = period_window(label)
            calendar = [c for c in (self._calendar_item(actor, s, since, until, kind, k) for s in shapes) if c]
            size = sum(len(c.keys) for c in calendar)
            if chunk and cells + size > budget:
                yield chunk
                chunk, cells = {}, 0
            chunk[label] = calendar
            cells += size
        if chunk:
            yield chunk

    def _verdicts(self, item: PendingRelease, before: list[PendingRelease], groups: list[list[PendingRelease]],
                  ) -> dict[int, bool | None] | None:
        """Per group (by its id()), whether it and then ``item`` (after ``before``) would be accepted, from ONE
        trial of ``item`` followed by each group in turn (``ReleaseWriter.trial_verdicts``): the regions after
        both are the same in either order, and every release of the trial is checked at the same k and
        dominance. None when nothing is said this way (``item`` refused alone or stale, or another k or
        dominance): :meth:`_accepted` then tries each group itself, as it does a group missing
        from the answer or answered None (it read other facts than ``item``). A dict: ``item`` alone is accepted."""
        policy = item.internal.policy
        if not groups or not all(c.internal.policy.k == policy.k and c.internal.policy.dominance == policy.dominance
                                 for group in groups for c in group):
            return None
        try:
            verdicts = self.service.trial_verdicts([*before, item], groups)
        except (DisclosureRisk, self.service.rules.stale):  # refused alone, or stale: each group is tried itself
            return None
        return {id(group): verdict for group, verdict in zip(groups, verdicts, strict=True)}

    def _accepted(self, item: PendingRelease, before: list[PendingRelease], group: list[PendingRelease],
                  verdicts: dict[int, bool | None] | None) -> bool:
        """Whether recording ``group`` and then ``item`` after ``before`` would be accepted: ``verdicts``' answer,
        or a trial of them in that order."""
        verdict = None if verdicts is None else verdicts.get(id(group))
        if verdict is not None:
            return verdict
        try:
            self.service.record([*before, *group, item], commit=False)
        except CalendarReserved:
            raise
        except DisclosureRisk:
            return False
        return True

    def _refused_together(self, actor: Actor, label: str, kind: str, shapes: list[Shape], item: PendingRelease,
                          before: list[PendingRelease], calendar: list[PendingRelease]) -> None:
        """``item``, accepted alone, is refused with ``label``'s calendar releases: CalendarReserved when it would
        make the calendar's shapes still releasable without it unreleasable (or, at its k above the floor,
        those made at the floor); else nothing (the rules refuse that calendar already)."""
        since, until, _ = period_window(label)
        k, floor = item.internal.policy.k, self.service.k(item.family, None)
        if k > floor:  # its k would raise the floor the calendar's releases are made at
            at_floor = [c for c in (self._calendar_item(actor, s, since, until, kind) for s in shapes) if c]
            try:
                self.service.record([*before, *at_floor], commit=False)
            except DisclosureRisk:
                pass
            else:
                self._reserved(label, kind, at_floor, f" (at k={k}, above the floor {floor} they would be made at)")
        kept: list[PendingRelease] = []
        for c in calendar:  # the calendar shapes still releasable without this release
            try:
                self.service.record([*before, *kept, c], commit=False)
            except DisclosureRisk:
                continue
            kept.append(c)
        if not kept:  # the rules refuse each of the calendar's shapes already: nothing left to reserve
            return
        if len(kept) == len(calendar) or not self._accepted(item, before, kept, self._verdicts(item, before, [kept])):
            self._reserved(label, kind, kept, "")

    @staticmethod
    def _reserved(label: str, kind: str, calendar: list[PendingRelease], how: str) -> None:
        reserved = ", ".join(shape_name((c.family, tuple(c.query["by"]))) for c in calendar)
        raise CalendarReserved(
            "release", f"it would make the release calendar's shapes of {label} ({reserved}) unreleasable{how}: "
            f"the calendar reserves them for each {kind}, and {label}'s calendar releases are not recorded yet. "
            "Ask for one of the calendar's shapes, a coarser shape or another window, ask again once "
            f"{label}'s calendar releases are recorded (etrack tick after it closes, or its first synthesis note), "
            "or ask with --privacy dp (etrack releases calendar show lists the calendar)")

    def sections(self, viewer: Actor, period: object, *, record: bool = True) -> dict[str, CalendarSection] | None:
        """The calendar's releases of ``period`` ('2026-Q1'...), when the calendar is by that kind of period
        and the period has closed: read from the calendar once recorded, recorded now otherwise (all of
        them in one transaction, then kept in the calendar: the first record of a period stays). None
        when the calendar does not cover it (another kind of period, or a period still open), or, with
        ``record=False`` (a read that records nothing), when they are not recorded yet."""
        actor = require_analyst(viewer, "read the release calendar's releases", self.service.grants)
        return self._calendar_period(actor, period, record=record)

    def _calendar_period(self, actor: Actor, period: object, now: datetime | None = None, *, record: bool = True,
                         ) -> dict[str, CalendarSection] | None:
        if self.service.calendar is None:
            return None
        since, until, kind = period_window(period)
        calendar_kind, names = self.service.calendar.spec()
        if kind != calendar_kind or until >= (now or self.service.clock()).astimezone(UTC).strftime("%Y-%m"):
            return None
        label = str(period)
        recorded = self.service.calendar.released(label)
        if recorded is None and not record:
            return None
        if recorded is None:  # recorded first, in a transaction of their own (a note's releases come after)
            made = self._make_period(actor, names, label, since, until, kind)
            recorded = self.service.calendar.record(actor, label, {name: json.dumps(self._section_document(section),
                                                                            sort_keys=True)
                                                           for name, section in made.items()})
        return {name: self._section_of(name, json.loads(text)) for name, text in recorded.items()}

    def _make_period(self, actor: Actor, names: tuple[str, ...], label: str, since: str, until: str, kind: str,
                     ) -> dict[str, CalendarSection]:
        """Every shape of the period, in one unit of work, at the finest time grain at which the rules release
        them all: by month for a quarter (by quarter for a year); when one of them would be refused there
        (shapes that compose only over whole coarser periods), all of them by the period's own grain, saying so.
        Trials that fall back record nothing."""
        grains = ["quarter", "year"] if kind == "year" else ["month", "quarter"] if kind == "quarter" else [kind]
        for n, grain in enumerate(grains):
            last = n == len(grains) - 1
            calendar_token, batch_token = _CALENDAR.set(True), self.batch.set(None)
            try:
                made: dict[str, CalendarSection] = self.service.atomically(
                    functools.partial(self._sections_at, actor, names, label, since, until, grain, grains[0], last))
                return made
            except _Coarser:
                continue
            finally:
                self.batch.reset(batch_token)
                _CALENDAR.reset(calendar_token)
        raise AssertionError("unreachable: the last grain never falls back")

    def _sections_at(self, actor: Actor, names: tuple[str, ...], label: str, since: str, until: str, grain: str,
                     finest: str, last: bool) -> dict[str, CalendarSection]:
        made = {name: self._calendar_section(actor, name, since, until, grain) for name in names}
        if not last and any(section.refused for section in made.values()):
            raise _Coarser  # the unit ends with nothing recorded; the caller tries the next grain
        if grain != finest:
            why = (f"released by {grain}: by {finest}, the region rule refused {label}'s calendar releases "
                   "together (their figures combined could single someone out)")
            made = {name: attrs.evolve(section, coarsened=section.coarsened or why) if "period" in parse_shape(name)[1]
                    else section for name, section in made.items()}
        return made

    def _calendar_section(self, actor: Actor, name: str, since: str, until: str, grain: str) -> CalendarSection:
        family, by = parse_shape(name)
        rel, refused, coarsened = ask_widening(
            lambda a, b: self.service.exact(actor, family, by, None, grain, None, a, b), since, until)
        return CalendarSection(name, rel, refused, coarsened)

    def _section_document(self, section: CalendarSection) -> dict[str, Any]:
        return {"release": None if section.release is None else self.service.rules.document(section.release),
                "refused": section.refused, "coarsened": section.coarsened}

    def _section_of(self, name: str, doc: dict[str, Any]) -> CalendarSection:
        release = None if doc["release"] is None else self.service.rules.of_document(doc["release"])
        return CalendarSection(name, release, doc["refused"], doc["coarsened"])

    def publish(self, actor: Actor, now: datetime) -> list[str]:
        """Record the calendar releases of the period that closed last before ``now`` (tick's step: a
        period's calendar releases are recorded when it closes), unless recorded already or it holds no
        fact. A period closed while no tick ran is recorded at its first synthesis note. Returns the
        periods recorded now."""
        if self.service.calendar is None:
            return []
        kind, _ = self.service.calendar.spec()
        month = now.astimezone(UTC).strftime("%Y-%m")
        span = {"month": 1, "quarter": 3, "year": 12}[kind]
        before = (int(month[5:]) - 1) // span * span  # the last month before the current period, this year
        label = period_label(f"{month[:4]}-{before:02d}" if before else f"{int(month[:4]) - 1}-12", kind)
        if label in self.service.calendar.released_periods():
            return []
        self.service.analytics.catch_up()
        since, until, _ = period_window(label)
        if not any(self.service.analytics.view.tally_rows(family, since, until) for family in FAMILY_DIMENSIONS):
            return []
        self._calendar_period(actor, label, now)
        return [label]


__all__ = ["CalendarReleases"]
