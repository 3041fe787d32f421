"""A programme of realistic size for analysts (``etrack demo --programme``).

The sample of ``demo.py`` tells fifteen stories an engagement at a time; an analyst needs a
programme: about 150 coachees in 8 organisation units over 8 quarters (2025-Q1 to 2026-Q4),
their engagements at every stage, and a peer-coaching cohort per unit recording its metrics
week by week. Everything goes through the domain's commands, as the sample does (the same
stories, ``demo._play``), so every rule, seal and grant applies; names are generated, seeded and
stable, so a rerun adds nothing.

The programme's parties and grants are recorded first, dated before the programme starts, then
the sample (``demo.seed``) is recorded on top of it: the sample's engagements, tokens and the
engagement it shows stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engagement_tracker.adapters.demo import (
    DEMO_NOW,
    SCENARIOS,
    Scenario,
    ScriptedClock,
    _grant_roles,
    _play,
    _register_parties,
    access_actor,
    demo_id,
    seed,
)
from engagement_tracker.domain import EngagementTracker
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role

#: The programme's eight organisation units (the seeds are French: accents are kept).
PROGRAMME_UNITS = ["Operations", "Customer Service", "Digital Factory", "Finance",
                   "Logistique/Lyon", "Ventes", "Ressources Humaines", "Recherche"]
#: Coachees in all, the sample's fifteen included.
PROGRAMME_COACHEES = 150
#: When the programme starts: its first engagements open in 2025-Q1, the last ones in 2026-Q2; the
#: coaches of those still in accompaniment note signals in 2026-Q3 and Q4, so signals span eight
#: quarters up to the demo's "now" (2026-10-15).
PROGRAMME_START = date(2025, 1, 6)
START_SPREAD_DAYS = 540
#: The launch wave: as programmes do, the first coachees all start in the programme's first week; the
#: others join steadily over START_SPREAD_DAYS.
LAUNCH_WAVE = 40

_FIRST = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Arthur", "Manon", "Jules", "Inès", "Gabriel", "Zoé",
          "Raphaël", "Élise", "Nathan", "Sarah", "Théo", "Lucie", "Maël", "Anaïs", "Noé"]
_LAST = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
         "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard"]

#: How the programme's stories end, in turn (most run their course; some stop on the way).
_ENDINGS = ["closed", "closed", "accompaniment", "closed", "review", "closing", "closed", "amended",
            "abandoned", "closed", "suspended", "declined", "closed", "accompaniment", "formalisation"]


def _name(n: int) -> str:
    return f"{_FIRST[n % len(_FIRST)]} {_LAST[(n * 7 + n // len(_FIRST)) % len(_LAST)]}"


def _coach(n: int) -> str:
    return f"programme-coach-{n}"


def _sponsor(unit: int, n: int) -> str:
    return f"programme-sponsor-{unit}-{n}"


def _member(unit: int, n: int) -> str:
    return f"programme-member-{unit}-{n}"


COACHES = 8
MEMBERS_PER_COHORT = 5


def programme_scenarios() -> list[tuple[Scenario, int]]:
    """The programme's engagements beyond the sample's: (scenario, variant), in the order played."""
    extra = PROGRAMME_COACHEES - len(SCENARIOS)
    found = []
    for n in range(extra):
        unit = n % len(PROGRAMME_UNITS)
        offset = (n * 7 // LAUNCH_WAVE if n < LAUNCH_WAVE
                  else (n - LAUNCH_WAVE) * START_SPREAD_DAYS // (extra - LAUNCH_WAVE))
        start = PROGRAMME_START + timedelta(days=offset)
        ending = _ENDINGS[n % len(_ENDINGS)]
        if ending in ("closed", "closing", "amended") and start + timedelta(days=175) > DEMO_NOW.date():
            ending = "accompaniment"  # too young to have closed by the demo's "now"
        found.append((Scenario(f"programme-eng-{n + 1:03d}", _coach(n % COACHES), f"programme-coachee-{n + 1:03d}",
                               _sponsor(unit, n // len(PROGRAMME_UNITS) % 2), PROGRAMME_UNITS[unit], ending, start),
                      n % len(SCENARIOS)))
    return found


def _register(app: EngagementTracker) -> None:
    admin = access_actor("admin")
    people = {_coach(n): _name(1000 + n) for n in range(COACHES)}
    people.update({_sponsor(u, n): _name(2000 + 2 * u + n) for u in range(len(PROGRAMME_UNITS)) for n in range(2)})
    people.update({_member(u, n): _name(3000 + MEMBERS_PER_COHORT * u + n)
                   for u in range(len(PROGRAMME_UNITS)) for n in range(MEMBERS_PER_COHORT)})
    people.update({s.coachee: _name(n) for n, (s, _v) in enumerate(programme_scenarios())})
    for label, name in people.items():
        if not app.exists(demo_id(label)):
            app.parties.register("person", name, party_id=demo_id(label))
    for n in range(COACHES):
        coach = demo_id(_coach(n))
        if Role.COACH.value not in app.held_grants().get(str(coach), frozenset()):
            app.access.grant(coach, Role.COACH, admin, reason="programme")


def _play_cohort(app: EngagementTracker, clock: ScriptedClock, unit_index: int) -> None:
    """A unit's peer-coaching cohort: framed, then twelve weeks of rituals and weekly metric readings."""
    unit = PROGRAMME_UNITS[unit_index]
    cid = demo_id(f"programme-cohort-{unit_index + 1}")
    start = PROGRAMME_START + timedelta(days=56 * unit_index)
    coach = Actor(demo_id(_coach(unit_index % COACHES)), Role.COACH)
    m = [Actor(demo_id(_member(unit_index, n)), Role.MEMBER) for n in range(MEMBERS_PER_COHORT)]
    c = app.cohorts
    clock.set(start)
    c.open(coach, unit, f"{unit} peer cohort", cohort_id=cid)
    for member in m:
        c.add_member(cid, coach, member.party)
    c.set_scope(cid, m[0], f"How {unit} hands work over between teams")
    c.set_objective(cid, m[0], "Shorten hand-overs", "Work crosses a team boundary within a day")
    kr = c.add_key_result(cid, m[1], "Median hand-over under 24h", start + timedelta(days=84)).value
    metrics = [c.add_metric(cid, m[2], name).value
               for name in ("Hand-over time (h)", "Rework (%)", "Tickets reopened per week")]
    c.plan_experiment(cid, m[0], kr, "A shared hand-over checklist halves rework")
    c.plan_experiment(cid, m[3], kr, "One owner per hand-over, named in the ticket")
    c.start_accompaniment(cid, coach)
    for week in range(12):
        day = start + timedelta(days=7 * (week + 1))
        clock.set(day)
        keeper = m[week % len(m)]
        c.hold_ritual(cid, keeper, "weekly_standup", day, keeper.party, m[(week + 1) % len(m)].party,
                      m[(week + 2) % len(m)].party, "checklist", f"Week {week + 1}: what crossed a boundary late")
        drift = 1.0 if week < 8 else 0.8  # the checklist works from week 9
        c.record_reading(cid, keeper, metrics[0], round((40 - 1.5 * week) * drift + unit_index, 1), day)
        c.record_reading(cid, keeper, metrics[1], round((12 - 0.5 * week) * drift, 1), day)
        c.record_reading(cid, keeper, metrics[2], float(9 - week // 2), day)
        if week == 4:
            c.record_signal(cid, coach, ["bureaucratic_friction", "energy_gain", "misalignment"][unit_index % 3],
                            ["management", "business", "tech"][unit_index % 3],
                            "gives" if unit_index % 3 == 1 else "drains", 3, unit.split("/")[0], day,
                            "Hand-overs wait for a sign-off nobody owns")


#: What coaches note at their sessions, in turn (the grid's themes; each theme read in one context).
_AT_SESSIONS = [("bureaucratic_friction", "management", "drains"), ("turnover", "management", "drains"),
                ("energy_gain", "business", "gives"), ("misalignment", "tech", "drains"),
                ("learning_dip", "tech", "drains")]
#: How coachees rate their engagement at its close (each item 1 to 5; most are glad of it).
_RATINGS = [{"clarity_of_objectives": 4, "quality_of_listening": 5, "progress_on_objectives": 4,
             "autonomy_gained": 4, "would_recommend": 5},
            {"clarity_of_objectives": 4, "quality_of_listening": 5, "progress_on_objectives": 3,
             "autonomy_gained": 4, "would_recommend": 5},
            {"clarity_of_objectives": 5, "quality_of_listening": 5, "progress_on_objectives": 4,
             "autonomy_gained": 3, "would_recommend": 4}]


def _session_signals(app: EngagementTracker, s: Scenario, n: int) -> Callable[[date, int], None]:
    """At each session of the programme's engagements, the coach notes the signal the grid's turn gives."""
    def note(held: date, session: int) -> None:
        theme, context, polarity = _AT_SESSIONS[(n + session) % len(_AT_SESSIONS)]
        app.engagements.record_signal(demo_id(s.label), Actor(demo_id(s.coach), Role.COACH), theme, context,
                                      polarity, 2 + (n + session) % 3, s.unit.split("/")[0], held)
    return note


def _testimonial(app: EngagementTracker, s: Scenario, n: int) -> Callable[[date], None]:
    """At the close, the coachee leaves a testimonial: ratings only, anonymous (seed 004)."""
    def leave(_day: date) -> None:
        app.engagements.leave_testimonial(demo_id(s.label), Actor(demo_id(s.coachee), Role.COACHEE),
                                          _RATINGS[n % len(_RATINGS)])
    return leave


_LATE = [("turnover", "management", "drains"), ("energy_gain", "business", "gives"),
         ("misalignment", "tech", "drains"), ("bureaucratic_friction", "management", "drains")]


def _late_signals(app: EngagementTracker, clock: ScriptedClock, s: Scenario, n: int) -> None:
    """Two signals the coach notes late in an engagement still under way: in 2026-Q3, then in Q4."""
    last = app.engagements.get(demo_id(s.label)).modified_on.date()
    for wanted in (date(2026, 7, 1) + timedelta(days=(n * 13) % 90), date(2026, 10, 1) + timedelta(days=n % 14)):
        day = last = max(wanted, last + timedelta(days=1))
        clock.set(day)
        theme, context, polarity = _LATE[(n + day.month) % len(_LATE)]
        app.engagements.record_signal(demo_id(s.label), Actor(demo_id(s.coach), Role.COACH), theme, context,
                                      polarity, 2 + n % 3, s.unit.split("/")[0], day)


def seed_programme(app: EngagementTracker, clock: ScriptedClock, progress: Callable[[str], Any] | None = None) -> int:
    """Record the programme (once), then the sample on top of it; returns how many engagements and
    cohorts were recorded now (0 on a second run)."""
    clock.set(PROGRAMME_START - timedelta(days=7))
    _register_parties(app)
    _grant_roles(app)
    _register(app)
    recorded = 0
    for n, (scenario, variant) in enumerate(programme_scenarios()):
        if app.exists(demo_id(scenario.label)):
            continue
        _play(app, clock, scenario, variant, _session_signals(app, scenario, n), _testimonial(app, scenario, n))
        if scenario.target == "accompaniment":
            _late_signals(app, clock, scenario, recorded)
        recorded += 1
        if progress:
            progress(scenario.label)
    for unit_index in range(len(PROGRAMME_UNITS)):
        if not app.exists(demo_id(f"programme-cohort-{unit_index + 1}")):
            _play_cohort(app, clock, unit_index)
            recorded += 1
    recorded += seed(app, clock, progress)
    _publish_closed_quarters(app)
    return recorded


def _publish_closed_quarters(app: EngagementTracker) -> None:
    """Record the release calendar's releases of every quarter the programme played, oldest first, as a tick
    at each quarter's close would have (the demo ticks once, at its "now", which records the last one):
    each closed quarter's note is then the calendar's, whatever an analyst explores first. A quarter
    recorded already is left as it is (a rerun records nothing)."""
    system = Actor(SYSTEM_PARTY, Role.SYSTEM)
    year, quarter = PROGRAMME_START.year, (PROGRAMME_START.month - 1) // 3 + 1
    while True:
        year, quarter = (year, quarter + 1) if quarter < 4 else (year + 1, 1)
        close = datetime(year, 3 * quarter - 2, 1, tzinfo=UTC)
        if close > DEMO_NOW:
            return
        app.analysts.publish_calendar(system, close)


__all__ = ["PROGRAMME_COACHEES", "PROGRAMME_UNITS", "programme_scenarios", "seed_programme"]
