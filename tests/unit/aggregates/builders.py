"""Builders for unit tests of the aggregates alone: no application, no vault, no store.

A fixed clock, the parties as actors with fixed ids, sealed values built by hand, and aggregates
taken along the happy path to a named state. Every builder calls the aggregate's own command
methods, so a builder that stops working is itself a failing test.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.cohort_record import CohortRecord
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import EtrackError
from engagement_tracker.domain.values import Actor, CohortRules, Contract, Evaluation, Sealed
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Outcome, Role

# --- time -------------------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
START = T0.date()  # the first meeting
TRIPARTITE_ON = START + timedelta(days=7)
CONTRACT = Contract(sessions=3, start=START + timedelta(days=10), end=START + timedelta(days=120))


class Clock:
    """A fixed, timezone-aware clock: it reads the same instant until a test advances it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def day(n: int) -> date:
    """The calendar day ``n`` days after the first meeting."""
    return START + timedelta(days=n)


# --- parties ----------------------------------------------------------------------------------


def _party(n: int) -> UUID:
    return UUID(int=n)


COACH = Actor(_party(1), Role.COACH)
COACHEE = Actor(_party(2), Role.COACHEE)
SPONSOR = Actor(_party(3), Role.SPONSOR)
SYSTEM = Actor(SYSTEM_PARTY, Role.SYSTEM)
#: Parties of other engagements, acting in a role they do not hold here.
OTHER_COACH = Actor(_party(11), Role.COACH)
OTHER_COACHEE = Actor(_party(12), Role.COACHEE)
ENGAGEMENT_ID = _party(1000)

PARTIES = {Role.COACH: COACH, Role.COACHEE: COACHEE, Role.SPONSOR: SPONSOR}

#: A cohort's coach and nine candidate peers (one more than the default limit of eight).
COHORT_COACH = Actor(_party(21), Role.COACH)
PEERS = tuple(Actor(_party(100 + n), Role.MEMBER) for n in range(1, 10))
OUTSIDER = Actor(_party(99), Role.MEMBER)  # claims the member role, belongs to no cohort
COHORT_ID = _party(2000)


# --- sealed content ---------------------------------------------------------------------------


def sealed(text: str = "confidential", subject: str = "subject-1") -> Sealed:
    """What a sealer would return: an opaque ciphertext and a digest of the plaintext."""
    return Sealed(subject, b"\x00sealed:" + text.encode()[::-1], hashlib.sha256(text.encode()).hexdigest())


SYNTHESIS_DIGEST = hashlib.sha256(b"the synthesis document").hexdigest()


# --- refusals ---------------------------------------------------------------------------------

E = TypeVar("E", bound=Exception)


def refused(aggregate: Aggregate, error: type[E], command: Callable[[], Any]) -> E:
    """Run a command expected to be refused: the typed error, and nothing recorded or changed."""
    version, pending = aggregate.version, len(aggregate.pending_events)
    before = copy.deepcopy(aggregate.__dict__)
    with pytest.raises(error) as info:
        command()
    assert isinstance(info.value, EtrackError), f"{type(info.value).__name__} is not one of the domain's errors"
    assert (aggregate.version, len(aggregate.pending_events)) == (version, pending), "a refused command recorded"
    assert aggregate.__dict__ == before, "a refused command changed the aggregate"
    return info.value


def replayed(aggregate: Aggregate) -> Any:
    """Fold the aggregate's own pending events the way eventsourcing does, from nothing."""
    folded: Any = None
    for event in aggregate.collect_events():
        folded = event.mutate(folded)
    return folded


# --- engagements ------------------------------------------------------------------------------

#: Milestones along the happy path, in order. "met" is framing.first_meeting after the first
#: meeting; "formalised" is framing.formalisation with indicators, synthesis and contract done.
ENGAGEMENT_MILESTONES = (
    "framing.first_meeting",
    "met",
    "framing.diagnosis",
    "framing.tripartite",
    "framing.coherence",
    "framing.formalisation",
    "formalised",
    "accompaniment.in_progress",
    "closing",
    "closed",
)


def new_engagement(clock: Clock | None = None, team: bool = False) -> Engagement:
    at = (clock or Clock())()
    return Engagement.open(
        ENGAGEMENT_ID, COACH, at, COACH.party, COACHEE.party, "team" if team else "person",
        SPONSOR.party, "line_manager", "Operations/Lyon",
    )


def engagement_in(milestone: str, clock: Clock | None = None, team: bool = False) -> Engagement:
    """A fresh engagement taken along the happy path up to ``milestone``.

    Objectives O1 (organisation) and O2 (coachee); indicators I1 (O1: 48 -> 24 hours, lower is
    better) and I2 (O2: 1 -> 6 per week); a contract of 3 sessions from day 10 to day 120.
    """
    if milestone not in ENGAGEMENT_MILESTONES:
        raise ValueError(f"unknown milestone {milestone!r}; known: {', '.join(ENGAGEMENT_MILESTONES)}")
    clock = clock or Clock()
    e = new_engagement(clock, team)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("met", lambda: e.hold_first_meeting(COACH, clock(), START)),
        ("framing.diagnosis", lambda: (e.confirm_will(COACH, clock()), e.confirm_will(COACHEE, clock()))),
        ("framing.tripartite", lambda: e.record_diagnosis(COACH, clock(), sealed("stakes"))),
        ("framing.coherence", lambda: e.hold_tripartite_meeting(
            COACH, clock(), TRIPARTITE_ON, [sealed("shorter incident resolution")], [sealed("delegate decisions")])),
        ("framing.formalisation", lambda: e.validate_coherence(COACH, clock())),
        ("formalised", lambda: (
            e.define_indicator(COACH, clock(), "O1", "organisation_performance", sealed("median resolution"),
                               48, 24, "hours"),
            e.define_indicator(COACH, clock(), "O2", "observable_result", sealed("decisions delegated"),
                               1, 6, "per week"),
            e.record_synthesis(COACH, clock(), "DMS/synthesis-1", SYNTHESIS_DIGEST),
            e.fix_contract(COACH, clock(), CONTRACT),
        )),
        ("accompaniment.in_progress", lambda: e.start_accompaniment(COACH, clock())),
        ("closing", lambda: e.hold_closing_session(COACH, clock(), day(100), evaluations_of(e))),
        ("closed", lambda: e.hold_closing_meeting(COACH, clock(), day(110), sealed("what changed"),
                                                  sealed("keep a monthly review"))),
    ]
    for name, step in steps:
        if ENGAGEMENT_MILESTONES.index(name) > ENGAGEMENT_MILESTONES.index(milestone):
            break
        step()
    return e


def record_of(e: Engagement) -> EngagementRecord:
    """What the views read of an engagement built in memory: its record, folded from its events."""
    return EngagementRecord.of(list(e.pending_events))


def cohort_record_of(c: Cohort) -> CohortRecord:
    """What the views read of a cohort built in memory: its record, folded from its events."""
    return CohortRecord.of(list(c.pending_events))


def evaluations_of(e: Engagement, outcome: Outcome | str = Outcome.ACHIEVED) -> list[Evaluation]:
    """An evaluation of every indicator the engagement defined."""
    return [Evaluation(key, outcome, sealed(f"evidence for {key}")) for key in e.indicator_objectives]


def session(e: Engagement, clock: Clock, on: date | None = None) -> int:
    """Record a valid session (by default the day after the last one, from day 10)."""
    last = e.last_session_on or day(9)
    return e.record_session(COACH, clock(), on or last + timedelta(days=1), 60, ["delegation"], sealed("notes"))


# --- cohorts ----------------------------------------------------------------------------------

COHORT_MILESTONES = ("framing", "framed", "accompaniment", "closing", "closed")


def new_cohort(clock: Clock | None = None, rules: CohortRules | None = None) -> Cohort:
    return Cohort.open(COHORT_ID, COHORT_COACH, (clock or Clock())(), "Supply Chain", sealed("Cohort Lead-time"), rules)


def cohort_in(milestone: str, clock: Clock | None = None, members: int = 5, rules: CohortRules | None = None) -> Cohort:
    """A cohort with ``members`` peers (PEERS[:members]) taken up to ``milestone``.

    "framing": opened, peers added; "framed": scope, objective, key result 1, metrics M1-M3 and
    experiments E1-E2 recorded; then accompaniment, closing (closing items recorded), closed.
    """
    if milestone not in COHORT_MILESTONES:
        raise ValueError(f"unknown milestone {milestone!r}; known: {', '.join(COHORT_MILESTONES)}")
    clock = clock or Clock()
    c = new_cohort(clock, rules)
    for peer in PEERS[:members]:
        c.add_member(COHORT_COACH, clock(), peer.party)
    m1 = PEERS[0]

    def close_items() -> None:
        c.begin_closing(COHORT_COACH, clock())
        c.record_closing_synthesis(m1, clock(), sealed("what we learnt"))
        c.record_sharing(m1, clock(), sealed("the other sites"))
        c.prepare_scale_up(m1, clock(), sealed("two more sites in Q3"))

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("framed", lambda: frame_cohort(c, clock)),
        ("accompaniment", lambda: c.start_accompaniment(COHORT_COACH, clock())),
        ("closing", close_items),
        ("closed", lambda: c.close(COHORT_COACH, clock())),
    ]
    for name, step in steps:
        if COHORT_MILESTONES.index(name) > COHORT_MILESTONES.index(milestone):
            break
        step()
    return c


def frame_cohort(c: Cohort, clock: Clock) -> None:
    """Record the whole frame but the members: scope, objective, key result 1, M1-M3, E1-E2."""
    m1 = next((a for a in PEERS if str(a.party) in c.members), COHORT_COACH)
    c.set_scope(m1, clock(), sealed("order-to-delivery in three sites"))
    c.set_objective(m1, clock(), sealed("cut order lead time"), sealed("orders arrive in 48h"))
    kr = c.add_key_result(m1, clock(), sealed("lead time under 72h"), date(2026, 6, 30))
    for name in ("lead time", "on-time delivery", "complaints"):
        c.add_metric(m1, clock(), sealed(name))
    c.plan_experiment(m1, clock(), kr, sealed("a daily pick-list review cuts errors"))
    c.plan_experiment(m1, clock(), kr, sealed("pre-booked carriers shorten dispatch"))
