"""A synthetic workload with realistic shapes: engagements of 20 to 60 events with sealed notes,
cohorts with rituals, signals. Histories are built with the domain's own commands (so every
event passed decide(), sealing and the rules), in memory, ready to be saved."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from engagement_tracker.domain import Engagement
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import Actor, Contract, DataPoint, Evaluation, Signal
from engagement_tracker.domain.vocabulary import Role

THEMES = ["delegation", "priorities", "conflict", "communication", "career", "team_dynamics"]
SIGNALS = ["turnover", "bureaucratic_friction", "energy_gain", "misalignment", "learning_dip"]
UNITS = ["Operations", "Operations/Lyon", "Customer Service", "Finance", "Digital Factory"]
NOTE = ("The coachee described the escalation with the logistics lead; we explored three options and "
        "he chose to propose a weekly sync. ")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self, minutes: int = 7) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def engagement(sealer: Sealer, rng: random.Random, target: int, start: datetime,
               coach: Actor | None = None) -> Engagement:
    """One engagement whose history holds about ``target`` (20-60) events (by ``coach``, or a new one)."""
    clock = Clock(start)
    coachee, sponsor = (Actor(uuid4(), r) for r in (Role.COACHEE, Role.SPONSOR))
    coach = coach or Actor(uuid4(), Role.COACH)
    subject = str(coachee.party)
    sealer.create_subject(subject)

    def seal(text: str) -> object:
        return sealer.seal(subject, text)

    day0 = start.date()
    e = Engagement.open(uuid4(), coach, clock(), coach.party, coachee.party, "person", sponsor.party,
                        "line_manager", rng.choice(UNITS))
    e.hold_first_meeting(coach, clock(), day0)
    e.confirm_will(coach, clock())
    e.confirm_will(coachee, clock())
    e.record_diagnosis(coach, clock(), seal("Stakes: a growing team, unclear priorities"))
    e.hold_tripartite_meeting(coach, clock(), day0 + timedelta(days=7), [seal("Shorter resolution")],
                              [seal("Delegate decisions")])
    e.validate_coherence(coach, clock())
    i1 = e.define_indicator(coach, clock(), "O1", "organisation_performance", seal("Median resolution"), 48, 24,
                            "hours")
    i2 = e.define_indicator(coach, clock(), "O2", "observable_result", seal("Decisions delegated"), 1, 6, "per week")
    e.record_synthesis(coach, clock(), "DMS/bench", "ab" * 32)
    e.fix_contract(coach, clock(), Contract(60, day0 + timedelta(days=10), day0 + timedelta(days=400)))
    e.start_accompaniment(coach, clock())
    n = 0
    while e.version < target - 2:
        n += 1
        held = day0 + timedelta(days=10 + n)
        kind = rng.random()
        if kind < 0.55:
            e.record_session(coach, clock(), held, 90, rng.sample(THEMES, 2), seal(NOTE * rng.randint(1, 3)))
        elif kind < 0.75:
            e.commit_action(coachee, clock(), seal("Hand the weekly planning to a team lead"), held)
        elif kind < 0.9:
            e.measure_indicator(sponsor, clock(), rng.choice([i1, i2]), rng.uniform(1, 48), held)
        else:
            e.record_signal(coach, clock(), Signal(rng.choice(SIGNALS), "management", "drains", rng.randint(1, 5),
                                                   rng.choice(UNITS), held, None))
    if rng.random() < 0.5:
        e.hold_closing_session(coach, clock(), day0 + timedelta(days=12 + n), [
            Evaluation(i1, "partly", seal("48h to 30h")), Evaluation(i2, "achieved", seal("six a week"))])
        e.hold_closing_meeting(coach, clock(), day0 + timedelta(days=13 + n), seal("synthesis"), seal("advice"))
    return e


def cohort(sealer: Sealer, rng: random.Random, start: datetime) -> Cohort:
    """A cohort of 6 with its frame, 12 rituals, decisions, experiments and signals (~45 events)."""
    clock = Clock(start)
    cid = uuid4()
    sealer.create_subject(str(cid))

    def seal(text: str) -> object:
        return sealer.seal(str(cid), text)

    coach = Actor(uuid4(), Role.COACH)
    members = [Actor(uuid4(), Role.MEMBER) for _ in range(6)]
    c = Cohort.open(cid, coach, clock(), rng.choice(UNITS), seal("Lead-time cohort"))
    for m in members:
        c.add_member(coach, clock(), m.party)
    c.set_scope(members[0], clock(), seal("Order to delivery"))
    c.set_objective(members[0], clock(), seal("Cut lead time"), seal("Orders within 48h"))
    kr = c.add_key_result(members[0], clock(), seal("Median under 72h"), start.date() + timedelta(days=60))
    for name in ("lead time", "on time", "complaints"):
        c.add_metric(members[1], clock(), seal(name))
    c.plan_experiment(members[0], clock(), kr, seal("Daily pick-list review"))
    c.plan_experiment(members[0], clock(), kr, seal("Pre-booked carriers"))
    c.start_accompaniment(coach, clock())
    for n in range(12):
        r = [members[(n + k) % 6] for k in range(3)]
        c.hold_ritual(r[0], clock(), ["weekly_standup", "metrics_review"][n % 2],
                      start.date() + timedelta(days=7 * n), r[0].party, r[1].party, r[2].party, "checklist",
                      seal("Checklist v" + str(n)))
        if n % 3 == 0:
            c.record_decision(r[1], clock(), seal("Extend the trial"), DataPoint("M1", 61.5),
                              start.date() + timedelta(days=7 * n), r[2].party)
        if n % 4 == 0:
            c.record_signal(coach, clock(), Signal(rng.choice(SIGNALS), "business", "gives", 3, rng.choice(UNITS),
                                                   start.date() + timedelta(days=7 * n), None))
    return c


def histories(sealer: Sealer, events: int, seed: int = 7) -> Iterator[Engagement | Cohort]:
    """Engagements (and one cohort in ten) until about ``events`` events were produced."""
    rng = random.Random(seed)
    produced = 0
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)
    n = 0
    while produced < events:
        n += 1
        start += timedelta(hours=3)
        agg: Engagement | Cohort = (cohort(sealer, rng, start) if n % 10 == 0
                                    else engagement(sealer, rng, rng.randint(20, 60), start))
        produced += len(agg.pending_events)
        yield agg

