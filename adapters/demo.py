"""Sample data for ``etrack demo``: a dozen engagements over every phase, recorded once.

Ids are derived from stable labels (UUID5) and time comes from a scripted clock, so a second
run finds every engagement already recorded and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role

DEMO_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/demo")


def demo_id(label: str) -> UUID:
    return uuid5(DEMO_NAMESPACE, label)


class ScriptedClock:
    """A clock the demo moves by hand: each reading advances it by one minute."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def set(self, day: date, hour: int = 9) -> None:
        self.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


# Personal names and note texts: none of these may appear in clear in the store.
COACHES = {"coach-1": "Claire Dubois", "coach-2": "Mehdi Benali", "coach-3": "Ana Ferreira"}
SPONSORS = {"sponsor-1": "Sophie Laurent", "sponsor-2": "Jean-Marc Roussel", "sponsor-3": "Nadia Haddad"}
COACHEES = {
    "coachee-1": ("person", "Marc Petit"),
    "coachee-2": ("person", "Julie Moreau"),
    "coachee-3": ("person", "Thomas Girard"),
    "coachee-4": ("person", "Leila Mansour"),
    "coachee-5": ("person", "Paul Lefebvre"),
    "coachee-6": ("person", "Camille Roux"),
    "coachee-7": ("person", "Hugo Fontaine"),
    "coachee-8": ("person", "Ines Carpentier"),
    "coachee-9": ("team", "Team Orion (payments squad)"),
    "coachee-10": ("team", "Team Vega (mobile app)"),
    "coachee-11": ("team", "Team Lyra (data platform)"),
    "coachee-12": ("person", "Sarah Nguyen"),
    "coachee-13": ("team", "Team Draco (billing)"),
    "coachee-14": ("team", "Team Hydra (search)"),
    "coachee-15": ("team", "Team Pavo (identity)"),
}
PEERS = {f"peer-{n}": name for n, name in enumerate([
    "Lucie Martin", "Karim Haddou", "Elodie Blanc", "Yann Le Goff", "Chloe Perrin",
    "Bruno Lemaire", "Amina Diallo", "Victor Chevalier",
], start=1)}

#: The demo ticks at this time: deadlines that fell due by then are recorded once.
DEMO_NOW = datetime(2026, 10, 15, 18, tzinfo=UTC)

#: The note texts the demo seals; tests check none of them reaches the file in clear.
SAMPLE_NOTES = (
    "Marc fears that delegating will make him look weak in front of his director",
    "Julie brought the conflict with the logistics lead; we built three scenarios",
    "The team agreed to try pairing on every production incident for two weeks",
    "Thomas realised he answers every escalation himself, even at night",
)

UNITS = ["Operations", "Customer Service", "Digital Factory", "Finance"]


@attrs.frozen
class Scenario:
    label: str
    coach: str
    coachee: str
    sponsor: str
    unit: str
    target: str  # how far the story goes
    start: date


SCENARIOS = [
    Scenario("eng-01", "coach-1", "coachee-1", "sponsor-1", "Operations", "closed", date(2026, 1, 5)),
    Scenario("eng-02", "coach-1", "coachee-2", "sponsor-2", "Customer Service", "accompaniment", date(2026, 3, 2)),
    Scenario("eng-03", "coach-2", "coachee-3", "sponsor-1", "Operations", "closing", date(2026, 2, 2)),
    Scenario("eng-04", "coach-2", "coachee-4", "sponsor-3", "Finance", "declined", date(2026, 4, 6)),
    Scenario("eng-05", "coach-3", "coachee-5", "sponsor-2", "Customer Service", "abandoned", date(2026, 2, 16)),
    Scenario("eng-06", "coach-3", "coachee-6", "sponsor-3", "Finance", "framing", date(2026, 9, 7)),
    Scenario("eng-07", "coach-1", "coachee-7", "sponsor-1", "Operations", "suspended", date(2026, 3, 16)),
    Scenario("eng-08", "coach-2", "coachee-8", "sponsor-2", "Customer Service", "review", date(2026, 4, 13)),
    Scenario("eng-09", "coach-3", "coachee-9", "sponsor-1", "Digital Factory", "accompaniment", date(2026, 5, 4)),
    Scenario("eng-10", "coach-3", "coachee-10", "sponsor-1", "Digital Factory", "closed", date(2026, 1, 12)),
    Scenario("eng-11", "coach-2", "coachee-11", "sponsor-3", "Digital Factory", "formalisation", date(2026, 8, 3)),
    Scenario("eng-12", "coach-1", "coachee-12", "sponsor-3", "Finance", "amended", date(2026, 2, 9)),
    Scenario("eng-13", "coach-3", "coachee-13", "sponsor-2", "Digital Factory", "accompaniment", date(2026, 6, 1)),
    Scenario("eng-14", "coach-3", "coachee-14", "sponsor-2", "Digital Factory", "formalisation", date(2026, 9, 1)),
    Scenario("eng-15", "coach-3", "coachee-15", "sponsor-1", "Digital Factory", "accompaniment", date(2026, 7, 6)),
]

THEMES = [
    ["delegation", "priorities"],
    ["conflict", "communication"],
    ["technical_practices", "delivery_flow"],
    ["leadership", "decision_making"],
    ["stress_and_balance"],
    ["team_dynamics", "quality"],
]


#: The demo's organisation-wide roles: an admin, an auditor and an analyst (the coaches are granted coach).
ACCESS = {"admin": "Ada Admin", "auditor": "Aurele Auditor", "analyst": "Anaïs Analyst"}


def access_actor(label: str) -> Actor:
    """The demo's admin, auditor or analyst, acting in that role."""
    return Actor(demo_id(label), Role(label))


def _grant_roles(app: EngagementTracker) -> None:
    """Initialise the demo's admin, then grant the auditor, the analyst and the coaches (once)."""
    for label, name in ACCESS.items():
        if not app.exists(demo_id(label)):
            app.parties.register("person", name, party_id=demo_id(label))
    held = app.held_grants()  # the demo's own setup: the gates' source, before any admin exists
    admin = access_actor("admin")
    if Role.ADMIN.value not in held.get(str(admin.party), frozenset()):
        app.access.initialise(party_id=admin.party)
    wanted = [(demo_id("auditor"), Role.AUDITOR), (demo_id("analyst"), Role.ANALYST)]
    wanted += [(demo_id(c), Role.COACH) for c in COACHES]
    for party, role in wanted:
        if role.value not in app.held_grants().get(str(party), frozenset()):
            app.access.grant(party, role, admin, reason="demo")


def _register_parties(app: EngagementTracker) -> None:
    people: dict[str, tuple[str, str]] = {k: ("person", v) for k, v in {**COACHES, **SPONSORS, **PEERS}.items()}
    people.update(COACHEES)
    for label, (kind, name) in people.items():
        pid = demo_id(label)
        if not app.exists(pid):
            app.parties.register(kind, name, party_id=pid)


def _play(app: EngagementTracker, clock: ScriptedClock, s: Scenario, index: int,
          at_session: Callable[[date, int], None] | None = None,
          at_close: Callable[[date], None] | None = None) -> None:
    """Play one story. ``at_session(day, n)`` runs as the accompaniment starts (n = -1) and after each of its
    sessions (n = 0, 1, ...), and
    ``at_close(day)`` after the closing meeting (the programme notes signals and leaves testimonials
    there; the sample does neither)."""
    eid = demo_id(s.label)
    coach = Actor(demo_id(s.coach), Role.COACH)
    coachee = Actor(demo_id(s.coachee), Role.COACHEE)
    sponsor = Actor(demo_id(s.sponsor), Role.SPONSOR)
    day = s.start

    latest = [day - timedelta(days=1)]

    def at(offset_days: int) -> date:
        """The date ``offset_days`` into the engagement; the clock moves there unless it already
        passed it (a step recorded after the fact), so recorded times never run backwards."""
        target = day + timedelta(days=offset_days)
        if target > latest[0]:
            latest[0] = target
            clock.set(target)
        return target

    at(0)
    app.engagements.open(coach, coachee.party, sponsor.party, "line_manager" if index % 3 else "hr", s.unit, eid)
    app.engagements.hold_first_meeting(eid, coach, at(1))
    if s.target == "declined":
        app.engagements.confirm_will(eid, coach)
        app.engagements.decline(eid, coachee, "mismatch", "The coachee prefers a mentor from the business")
        return
    app.engagements.confirm_will(eid, coach)
    app.engagements.confirm_will(eid, coachee)
    at(3)
    app.engagements.record_diagnosis(eid, coach, "Stakes: growing team, unclear priorities, late escalations")
    if s.target == "framing":
        return
    app.engagements.hold_tripartite_meeting(
        eid, coach, at(10),
        ["Shorten the resolution time of escalated incidents"],
        ["Delegate recurring decisions to the team leads"],
    )
    app.engagements.validate_coherence(eid, coach)
    at(12)
    i1 = app.engagements.define_indicator(
            eid, coach, "O1", "organisation_performance", "Median resolution time", 48, 24, "hours").value
    i2 = app.engagements.define_indicator(
        eid, coach, "O2", "observable_result", "Decisions delegated per week", 1, 6, "decisions").value
    if s.target == "formalisation":
        return
    app.engagements.record_synthesis(eid, coach, f"DMS/{s.label}/synthesis-v1", f"{index:064x}")
    app.engagements.fix_contract(eid, coach, 6, day + timedelta(days=14), day + timedelta(days=180))
    app.engagements.start_accompaniment(eid, coach)
    if at_session is not None:  # what the coach notes as the accompaniment starts (n = -1)
        at_session(at(14), -1)
    if index % 4 != 3:  # most coachees agree to share objectives, indicators and dates with the sponsor
        app.engagements.propose_disclosure(eid, coachee, ["objectives", "indicators", "dates", "evaluations"][: 2 + index % 3])
        app.engagements.accept_disclosure(eid, sponsor)
    # what the coach notices through the contract: weak signals, by the reading grid
    unit = s.unit.split("/")[0]
    app.engagements.record_signal(eid, coach, "bureaucratic_friction", "management", "drains", 2 + index % 3, unit, at(16),
                      "Approval chain of five signatures for a two-day training")
    second = ["turnover", "energy_gain", "misalignment", "learning_dip"][index % 4]
    app.engagements.record_signal(eid, coach, second, ["management", "business", "tech", "tech"][index % 4],
                      "gives" if second == "energy_gain" else "drains", 3, unit, at(40 + index),
                      "Two senior developers left the payments team last month")
    if s.target == "abandoned":
        app.engagements.record_session(eid, coach, at(20), 90, THEMES[index % len(THEMES)], SAMPLE_NOTES[index % 4])
        app.engagements.abandon(eid, sponsor, "organisational_change", "The unit is being merged into another division")
        return
    sessions = 6 if s.target in ("closed", "closing", "amended") else 3
    for n in range(sessions):
        held = at(20 + 21 * n)
        app.engagements.record_session(eid, coach, held, 90, THEMES[(index + n) % len(THEMES)], SAMPLE_NOTES[(index + n) % 4])
        if at_session is not None:
            at_session(held, n)
        if n == 0:
            action = app.engagements.commit_action(
                eid, coachee, "Hand the weekly planning to a team lead", held + timedelta(days=14)).value
            app.engagements.complete_action(eid, coachee, action)
        if n == 1:
            app.engagements.measure_indicator(eid, coachee, i2, 3, held)
            app.engagements.measure_indicator(eid, sponsor, i1, 40, held)
        if n == 2 and s.target == "review":
            app.engagements.request_review(eid, sponsor)
            return
        if n == 2 and s.target == "suspended":
            app.engagements.suspend(eid, coachee, "Parental leave for two months")
            return
    if s.target == "accompaniment":
        if s.coachee in ("coachee-9",):
            app.engagements.hold_quarterly_review(eid, sponsor, at(95), True, coaches_added=0, notes="Scope moved to the new API")
        return
    if s.target == "amended":
        app.engagements.propose_amendment(eid, coachee, extra_sessions=2)
        app.engagements.agree_amendment(eid, coach)
        app.engagements.agree_amendment(eid, sponsor)
        app.engagements.record_session(eid, coach, at(150), 60, ["career"], "Preparing the conversation about a new role")
        return
    app.engagements.hold_closing_session(
        eid, coach, at(160),
        {i1: ("partly", "Median went from 48h to 30h"), i2: ("achieved", "Six decisions a week delegated in May")},
    )
    if s.target == "closing":
        return
    app.engagements.hold_closing_meeting(
        eid, coach, at(170),
        "What changed most is that the team leads now own the weekly planning",
        "Keep a monthly review of delegated decisions with the director",
    )
    if at_close is not None:
        at_close(at(172))


COHORTS = [("cohort-1", "Operations", "Lead-time cohort", "accompaniment", date(2026, 3, 2)),
           ("cohort-2", "Customer Service", "First-contact cohort", "closed", date(2026, 1, 12))]


def _play_cohort(app: EngagementTracker, clock: ScriptedClock, label: str, unit: str, name: str, target: str,
                 start: date) -> None:
    cid = demo_id(label)
    coach = Actor(demo_id("coach-2"), Role.COACH)
    peers = [Actor(demo_id(p), Role.MEMBER) for p in PEERS]
    members = peers[:6] if target == "accompaniment" else peers[2:8]
    c = app.cohorts

    latest = [start - timedelta(days=1)]

    def on(offset: int) -> date:
        """As in an engagement: the clock never runs backwards within a cohort."""
        target = start + timedelta(days=offset)
        if target > latest[0]:
            latest[0] = target
            clock.set(target)
        return target

    on(0)
    c.open(coach, unit, name, cohort_id=cid)
    for member in members:
        c.add_member(cid, coach, member.party)
    m = members
    c.set_scope(cid, m[0], "Order-to-delivery across the Lyon, Lille and Nantes sites")
    c.set_objective(cid, m[0], "Cut the order lead time", "Customers receive their orders within 48 hours")
    kr1 = c.add_key_result(cid, m[1], "Median lead time under 72h", start + timedelta(days=60)).value
    kr2 = c.add_key_result(cid, m[1], "On-time delivery above 95%", start + timedelta(days=90)).value
    for metric in ("Order lead time (h)", "On-time delivery (%)", "Complaints per 1000 orders"):
        c.add_metric(cid, m[2], metric)
    c.plan_experiment(cid, m[0], kr1, "A daily pick-list review halves picking errors")
    c.plan_experiment(cid, m[3], kr2, "Pre-booked carriers shorten dispatch by a day")
    c.start_accompaniment(cid, coach)
    c.record_signal(cid, coach, "energy_gain", "business", "gives", 4, unit, on(3),
                    "Peers from three sites now call each other directly")
    kinds = ["weekly_standup", "weekly_standup", "metrics_review", "weekly_standup", "monthly_retrospective"]
    artefacts = ["checklist", "playbook_update", "controlled_trial", "checklist", "playbook_update"]
    for n, kind in enumerate(kinds):
        r = [m[(n + k) % len(m)] for k in range(3)]
        c.hold_ritual(cid, r[0], kind, on(7 * (n + 1)), r[0].party, r[1].party, r[2].party, artefacts[n],
                      f"Artefact {n + 1}: updated pick-list checklist for the morning shift")
    c.complete_checkpoint(cid, m[0], 1)
    c.complete_checkpoint(cid, m[0], 2)
    c.record_decision(cid, m[2], "Extend the pick-list review to the Lille site", "M1", 61.5, on(20), m[4].party)
    c.start_experiment(cid, m[0], "E1")
    on(27)
    c.end_experiment(cid, m[0], "E1")
    on(28)
    c.give_feedback(cid, m[1], "E1", "Picking errors down by a third; night shift not yet covered")
    c.update_playbook(cid, m[2], "daily-picklist", "standardised", "Sites shipping more than 200 orders a day")
    c.start_experiment(cid, m[3], "E2")
    on(35)
    c.end_experiment(cid, m[3], "E2")
    if target == "closed":
        c.give_feedback(cid, m[4], "E2", "Carriers booked ahead, but the cost rose by 4%")
        c.update_playbook(cid, m[3], "prebooked-carriers", "abandoned", "Only worth it above 50 parcels a day")
        c.complete_checkpoint(cid, m[0], 3)
        c.complete_checkpoint(cid, m[0], 4)
        on(40)
        c.begin_closing(cid, coach)
        c.record_closing_synthesis(cid, m[0], "Lead time down from 96h to 70h in six weeks")
        c.record_sharing(cid, m[1], "Presented to the operations committee")
        c.prepare_scale_up(cid, m[2], "Two more sites in the autumn")
        c.close(cid, coach)


def seed(app: EngagementTracker, clock: ScriptedClock, progress: Callable[[str], Any] | None = None) -> int:
    """Record the sample; returns how many engagements and cohorts were recorded now (0 on a second run)."""
    clock.set(date(2026, 1, 2))
    _register_parties(app)
    _grant_roles(app)
    recorded = 0
    for index, scenario in enumerate(SCENARIOS):
        if app.exists(demo_id(scenario.label)):
            continue
        _play(app, clock, scenario, index)
        recorded += 1
        if progress:
            progress(scenario.label)
    for label, unit, name, target, start in COHORTS:
        if not app.exists(demo_id(label)):
            _play_cohort(app, clock, label, unit, name, target, start)
            recorded += 1
    clock.now = max(clock.now, DEMO_NOW)  # the tick happens at the demo's "now": after every scripted event
    app.tick(DEMO_NOW)  # deadlines missed by the demo's "now", recorded once
    return recorded


def showcase_engagement() -> UUID:
    """The engagement whose timeline the demo prints."""
    return demo_id("eng-01")


def showcase_viewer() -> Actor:
    return Actor(demo_id("coach-1"), Role.COACH)


#: Who gets a token for ``etrack serve`` in the demo: one party per role (the engagement shown, a cohort member).
TOKEN_HOLDERS = {"admin": "admin", "auditor": "auditor", "analyst": "analyst", "coach": "coach-1",
                 "coachee": "coachee-1", "sponsor": "sponsor-1", "member": "peer-1"}


def issue_demo_tokens(app: EngagementTracker) -> dict[str, str | None]:
    """One bearer token per role, issued once by the demo's admin (fixed command ids): the secret of each,
    or None when an earlier run issued it (only its hash is kept: it cannot be shown again)."""
    admin = access_actor("admin")
    issued: dict[str, str | None] = {}
    for role, label in TOKEN_HOLDERS.items():
        result = app.access.issue_token(demo_id(label), admin, label="demo", command_id=f"demo-token-{role}")
        issued[role] = result.value.secret
    return issued
