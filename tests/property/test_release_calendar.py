"""The release calendar (issue #24, item 2) under the attacker: random facts, and random sequences that
mix the calendar's releases (at tick, when a period closes, and at a period's first note),
exploratory exact releases by two analysts (alone, or several in one command) and ticks. After
every recorded release the released linear system is solved (``tests/regions_harness.py``): no
combination depends on fewer than k persons alone, no suppressed cell is pinned below one fact,
and the regions kept incrementally are the regions from scratch. Besides:

- an exploratory release never makes the calendar of the open period unreleasable: if the
  calendar's shapes of the open period could all be released before it, they still can after;
- a period's note reads its calendar releases: the numbers are the values the ledger recorded,
  and asking the note again, after any exploration, gives the same sections;
- a shape the planner lists ``releasable`` is released when asked (never refused, the calendar
  included).

Differentially private releases are not drawn here: they need OpenDP (the ``dp`` extra), and they
neither read nor change the regions (``tests/integration/test_differential_privacy.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, Phase, currently_in_test_context, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.views.memory import MemoryAnalyticsView
from engagement_tracker.domain import Actor, InvalidInput, Role
from engagement_tracker.domain.application.analysts import PendingRelease
from engagement_tracker.domain.errors import CalendarReserved, DisclosureRisk
from engagement_tracker.domain.release_calendar import parse_shape
from engagement_tracker.domain.windows import period_window
from engagement_tracker.projections.anonymity import tally
from engagement_tracker.projections.regions import cover
from tests.property.test_release_regions import attack, dataset, facts, queries
from tests.regions_harness import ANALYST, OTHER_ANALYST, Harness, in_scope
from tests.support import new_tracker

SYSTEM = Actor("00000000-0000-4000-8000-000000000000", Role.SYSTEM)
#: The clock's stops: Q1 open, then Q2 open (Q1 closed), then Q3 (Q1 and Q2 closed).
STOPS = (datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC))

#: No shrinking past a minute: a run is slow (the attacker solves a linear system after each release).
EXPLORE = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)

steps = st.lists(st.one_of(facts.map(lambda f: ("facts", f)), queries.map(lambda q: ("query", q)),
                           queries.map(lambda q: ("other", q)),
                           st.lists(queries, min_size=2, max_size=3).map(lambda qs: ("batch", qs)),
                           st.just(("tick", None)), st.sampled_from(["2026-Q1", "2026-Q2"]).map(lambda p: ("note", p))),
                 min_size=2, max_size=12)


def _event(value: str) -> None:
    """A hypothesis statistics event, when a hypothesis test runs (the backends' seeded runs share these steps)."""
    if currently_in_test_context():
        hypothesis_event(value)


ADMIN = Actor("00000000-0000-4000-8000-0000000ad111", Role.ADMIN)


def _grant_budgets(app: Any) -> None:
    """An admin, and both analysts holding the analyst grant and a budget of rho 0.05 each (a few DP
    releases at epsilon 0.5, then BudgetExceeded)."""
    app.parties.register("person", "Ada Admin", party_id=ADMIN.party)
    app.access.initialise(party_id=ADMIN.party)
    for n, analyst in enumerate((ANALYST, OTHER_ANALYST)):
        app.parties.register("person", f"Analyst {n}", party_id=analyst.party)
        app.access.grant(analyst.party, Role.ANALYST, ADMIN, reason="release attacker")
        app.budgets.grant(analyst.party, 0.05, ADMIN)


class Calendar:
    """A harness whose service keeps the app's release calendar, with a clock moved by ticks, and a
    log of every release committed (exploratory or the calendar's), for the attacker."""

    def __init__(self, first: list[Any], url: str = "memory:", budgets: bool = False) -> None:
        """In memory by default; ``url`` names another backend (its analytics view then is the store's), and
        ``budgets`` pays differentially private releases from budgets in the app."""
        self.app = new_tracker(url)
        self.stop = 0
        if budgets:
            _grant_budgets(self.app)
        view = MemoryAnalyticsView() if url == "memory:" else bootstrap.analytics(self.app).view
        self.h = Harness.open(self.app, view, clock=lambda: STOPS[self.stop], calendar=True, budgets=budgets)
        self.h.add(first)
        self.committed: list[PendingRelease] = []
        record = self.h.view.record_releases

        def logged(items: Any, guard: Any = None, *, commit: bool = True) -> list[int]:
            ids = record(items, guard, commit=commit)
            if commit:
                for item in items:
                    self.remember(item)
            return ids

        self.h.view.record_releases = logged  # type: ignore[method-assign]

    def remember(self, item: PendingRelease) -> None:
        """What the attacker holds of a recorded release: its published cells over the facts it read."""
        query = item.query
        rel = item.internal.published()
        scope = in_scope(self.h.facts, query.get("unit"), query.get("since"), query.get("until"))
        labels = {key: (label, cell) for key, (label, cell, _) in cover(rel, tally(scope)).items()}
        self.h.releases.append((len(self.h.facts), rel, labels, query))
        self.committed.append(item)

    @property
    def open_period(self) -> str:
        now = STOPS[self.stop]
        return f"{now.year}-Q{(now.month - 1) // 3 + 1}"

    def calendar_releasable(self) -> bool | None:
        """Whether the calendar's signal shapes of the open period could all be recorded now (a trial);
        None when it has nothing to record there or its releases are recorded already."""
        service = self.h.service
        label = self.open_period
        if label in self.app.release_calendar.released_periods():
            return None
        since, until, kind = period_window(label)
        _, names = self.app.release_calendar.spec()
        items = [i for name in names if (s := parse_shape(name))[0] == "signal"
                 if (i := service.calendar_releases._calendar_item(ANALYST, s, since, until, kind)) is not None]
        if not items:
            return None
        try:
            service.releases.record(items, commit=False)
        except DisclosureRisk:
            return False
        return True

    def close(self) -> None:
        self.app.close()


def _exploratory(c: Calendar, kind: str, step: Any) -> bool:
    """Ask one exploratory release (or several in one command); True when something was recorded."""
    before = len(c.committed)
    was = c.calendar_releasable()
    if kind == "batch":  # one command's releases (a note's sections): recorded together, each checked

        def ask() -> None:
            for query in step:
                try:
                    c.h.service.summary(OTHER_ANALYST, **query)
                except (DisclosureRisk, InvalidInput):
                    continue

        c.h.service.atomically(ask)
    else:
        try:
            c.h.service.summary(ANALYST if kind == "query" else OTHER_ANALYST, **step)
        except CalendarReserved:
            _event("an exploratory release was refused for the calendar")
            assert len(c.committed) == before
            return False
        except (DisclosureRisk, InvalidInput):
            assert len(c.committed) == before  # a refused call records nothing
            return False
    if was:  # reserved: the open period's calendar is still releasable, whatever was explored
        assert c.calendar_releasable() is not False
    return len(c.committed) > before


def _note(c: Calendar, period: str) -> None:
    """A period's note reads its calendar releases: the ledger's values, and the same again later."""
    before = len(c.committed)
    sections = c.h.service.calendar_sections(ANALYST, period)
    if sections is None:  # the period is still open: the calendar does not cover it yet
        assert period >= c.open_period
        return
    recorded = {(item.family, tuple(item.query["by"])): item.internal.published() for item in c.committed[before:]}
    for name, section in sections.items():
        if section.release is not None and section.release.rows and len(c.committed) > before:
            assert section.release == recorded[parse_shape(name)]  # the note's numbers are the released values
    assert c.h.service.calendar_sections(ANALYST, period) == sections  # asked again: the same note


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=EXPLORE)
@given(first=dataset, plan=steps)
def test_calendar_and_exploration_together_single_out_no_one(first: list[Any], plan: list[Any]) -> None:
    c = Calendar(first)
    try:
        for kind, step in plan:
            before = len(c.committed)
            if kind == "facts":
                c.h.add(step)
                continue
            if kind == "tick":
                c.stop = min(c.stop + 1, len(STOPS) - 1)
                published = c.h.service.publish_calendar(SYSTEM, STOPS[c.stop])
                _event(f"a tick recorded {len(published)} period(s)")
            elif kind == "note":
                _note(c, step)
            else:
                _exploratory(c, kind, step)
            if len(c.committed) > before:
                attack(c.h)
        # the planner, after all that: a shape it lists releasable is released when asked
        rows = [r for r in c.h.service.plan(ANALYST, c.open_period) if r["family"] == "signal"]
        for row in rows:
            if row["status"] == "releasable":
                rel = c.h.service.summary(ANALYST, row["by"].split(","), None, row["level"], row["k"], row["since"],
                                          row["until"])
                assert rel is not None
                break
    finally:
        c.close()


def test_an_exploratory_release_that_would_close_the_calendar_is_refused_naming_it() -> None:
    """A known case, Q1 open: the calendar (signals by theme and month, by context) is releasable, and
    so is a release by unit alone; together they would leave February's facts of unit A/x (one
    person) alone in a region. The release by unit is refused as CalendarReserved, naming the
    calendar, and records nothing; once Q1's calendar releases are recorded (a tick after it closed)
    the same release is refused by the region rule itself."""
    from tests.regions_harness import fact

    c = Calendar([fact(f"e{i}", "A/x", "2026-01", "turnover", "tech") for i in range(3)]
                 + [fact("e3", "A/x", "2026-02", "turnover", "tech")]
                 + [fact(s, "B", "2026-02", "turnover", "tech") for s in ("e4", "e5", "c0")])
    try:
        assert c.calendar_releasable()
        plan = {(r["family"], r["by"]): r for r in c.h.service.plan(ANALYST, "2026-Q1")}
        assert plan[("signal", "theme,period")]["calendar"] == "reserved by the calendar"
        assert plan[("signal", "unit")]["status"] == "reserved"
        before = c.h.recorded()
        try:
            c.h.service.summary(ANALYST, ["unit"], None, "month", None, "2026-01", "2026-03")
        except CalendarReserved as exc:
            assert "release calendar" in str(exc) and "2026-Q1" in str(exc)
        else:
            raise AssertionError("the release by unit closes the calendar's Q1: it must be refused")
        assert c.h.recorded() == before and c.calendar_releasable()
        c.stop = 1
        assert c.h.service.publish_calendar(SYSTEM, STOPS[1]) == ["2026-Q1"]
        assert c.h.recorded()[0] == before[0] + 2  # by theme and month, by context
        try:
            c.h.service.summary(ANALYST, ["unit"], None, "month", None, "2026-01", "2026-03")
        except CalendarReserved:
            raise AssertionError("Q1 is recorded: nothing is reserved any more") from None
        except DisclosureRisk:
            pass
        else:
            raise AssertionError("the region rule refuses it after the calendar's releases")
        sections = c.h.service.calendar_sections(ANALYST, "2026-Q1")
        assert sections is not None and sections["signal:theme,period"].release is not None
        assert {(r.dims["period"], r.value) for r in sections["signal:theme,period"].release.released} == {
            ("2026-01", 3), ("2026-02", 4)}
    finally:
        c.close()


def test_a_period_whose_calendar_shapes_compose_only_by_quarter_is_released_by_quarter_saying_so() -> None:
    """A known case, Q1 closed: by month, the calendar's signal shapes (by theme and month, by context)
    would be refused together (a suppressed month of one theme alone in its context); by quarter they
    compose. The calendar records them by quarter, says why on each section by period, records nothing
    of the trial by month, and the attacker finds no one singled out."""
    from tests.regions_harness import fact

    month_turnover = [("c0", "A/x", "2026-02"), ("c1", "A/x", "2026-02"), ("c1", "B", "2026-01"),
                      ("e1", "B", "2026-02"), ("e1", "B", "2026-03"), ("e2", "B", "2026-03"), ("e3", "A/x", "2026-02"),
                      ("e4", "A/x", "2026-02"), ("e5", "B", "2026-03")]
    month_energy = [("c1", "A/x", "2026-01"), ("e0", "B", "2026-03"), ("e0", "B", "2026-03"), ("e0", "A/x", "2026-02"),
                    ("e4", "B", "2026-01")]
    c = Calendar([fact(s, u, m, "turnover", "tech") for s, u, m in month_turnover]
                 + [fact(s, u, m, "energy_gain", "management") for s, u, m in month_energy])
    try:
        assert c.calendar_releasable() is False  # by month, the two shapes cannot both come out
        before = c.h.recorded()[0]
        c.stop = 1
        assert c.h.service.publish_calendar(SYSTEM, STOPS[1]) == ["2026-Q1"]
        assert c.h.recorded()[0] == before + 2  # the two by quarter; nothing of the trial by month
        sections = c.h.service.calendar_sections(ANALYST, "2026-Q1")
        assert sections is not None
        themes, contexts = sections["signal:theme,period"], sections["signal:context"]
        assert themes.refused is None and contexts.refused is None
        assert themes.release is not None and {r.dims["period"] for r in themes.release.rows} == {"2026-Q1"}
        assert themes.coarsened is not None and "released by quarter: by month" in themes.coarsened
        assert contexts.coarsened is None  # by context alone: no period to coarsen
        attack(c.h)
    finally:
        c.close()


def test_a_quarter_s_trend_reads_earlier_quarters_as_recorded_and_records_none() -> None:
    """Q1 and Q2 closed, none recorded: the trend of Q2's note reads Q2's calendar releases (recorded now,
    as its note does) and only the earlier quarters already recorded: it records no other quarter's."""
    from engagement_tracker.adapters.pages.synthesis import quarter_series
    from tests.regions_harness import fact

    c = Calendar([fact(f"e{i}", "A/x", month, "turnover", "tech") for i in range(6) for month in ("2026-02", "2026-05")])
    try:
        c.stop = 2
        series = quarter_series(c.h.service.calendar_sections, ANALYST, "2026-Q2")
        assert c.app.release_calendar.released_periods() == {"2026-Q2"}
        assert {quarter for quarter, _, _ in series.found} == {"2026-Q2"}
        assert c.h.service.calendar_sections(ANALYST, "2026-Q1", record=False) is None
        c.h.service.calendar_sections(ANALYST, "2026-Q1")  # Q1's note records it
        assert {quarter for quarter, _, _ in quarter_series(c.h.service.calendar_sections, ANALYST, "2026-Q2").found} == {
            "2026-Q1", "2026-Q2"}
    finally:
        c.close()
