"""Test helpers: a controllable clock, a cast of parties, and a driver to a given state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import Actor, EngagementTracker, Role


class FakeClock:
    """A clock that advances one second per reading, from 2026-01-01 UTC."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def tick_at(app: EngagementTracker, when: datetime) -> list[dict[str, Any]]:
    """``app.tick(when)`` with the app's FakeClock moved to ``when`` first, as a real host's clock
    would be: the events a tick records are stamped ``when``, and history never runs backwards."""
    clock = app.clock
    if isinstance(clock, FakeClock) and clock.now < when:
        clock.now = when
    return app.tick(when).value


def new_tracker(url: str, clock: FakeClock | None = None, **env: str) -> EngagementTracker:
    """The tracker on ``url``; its FakeClock (a new one by default) moved after the store's last event
    when it is behind (a store reopened later, as a host would: history never runs backwards)."""
    clock = clock or FakeClock()
    app = open_tracker(url, clock=clock, env=env or None)
    last = latest_event_time(app)
    if last is not None and last > clock.now:
        clock.now = last
    return app


def latest_event_time(app: EngagementTracker) -> datetime | None:
    """The latest time among the store's last 500 events (stores saved by hand need not be in time
    order), or None for an empty store."""
    top = app.recorder.max_notification_id()
    if not top:
        return None
    times = []
    for notification in app.recorder.select_notifications(max(1, top - 499), 500):
        try:
            at = getattr(app.mapper.to_domain_event(notification), "timestamp", None)
        except Exception:  # noqa: S112 - an encrypted store opened without its key, a record a test corrupted
            continue
        if isinstance(at, datetime):
            times.append(at)
    return max(times, default=None)


def event_count(app: EngagementTracker) -> int:
    """How many events the store holds (every aggregate)."""
    return app.recorder.max_notification_id() or 0


def admin(app: EngagementTracker) -> Actor:
    """The store's admin (an "Ada Admin" initialised on first use): an Actor holding the admin grant."""
    register = app.access_register()
    admins = [] if register is None else register.admins()
    if admins:
        return Actor(UUID(admins[0]), Role.ADMIN)
    return Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)


def grant(app: EngagementTracker, party: UUID | Actor, role: Role | str) -> Actor:
    """Grant ``role`` to ``party`` (by the store's admin) unless held; returns the party acting in that role."""
    pid = party.party if isinstance(party, Actor) else party
    role = Role(role)
    by = admin(app)
    if role.value not in app.held_grants().get(str(pid), frozenset()):
        app.access.grant(pid, role, by)
    return Actor(pid, role)


def granted(app: EngagementTracker, role: Role | str, name: str = "Granted Person") -> Actor:
    """A newly registered person holding ``role``'s grant, acting in that role."""
    return grant(app, app.parties.register("person", name).value, role)


@attrs.frozen
class Cast:
    """The three contract parties of one engagement, plus an outsider of each role."""

    coach: Actor
    coachee: Actor
    sponsor: Actor
    other_coach: Actor
    other_coachee: Actor

    @classmethod
    def register(cls, app: EngagementTracker, team: bool = False) -> Cast:
        def person(role: Role, name: str, kind: str = "person") -> Actor:
            actor = Actor(app.parties.register(kind, name).value, role)
            return grant(app, actor, role) if role is Role.COACH else actor

        return cls(
            coach=person(Role.COACH, "Claire Dubois"),
            coachee=person(Role.COACHEE, "Team Orion" if team else "Marc Petit", "team" if team else "person"),
            sponsor=person(Role.SPONSOR, "Sophie Laurent"),
            other_coach=person(Role.COACH, "Mehdi Benali"),
            other_coachee=person(Role.COACHEE, "Julie Moreau"),
        )

    def of(self, role: Role) -> Actor:
        return {Role.COACH: self.coach, Role.COACHEE: self.coachee, Role.SPONSOR: self.sponsor}[role]


START = date(2026, 1, 5)

#: The steps, in order, that take a fresh engagement to each milestone.
MILESTONES = [
    "opened",
    "met",
    "framing.diagnosis",
    "framing.tripartite",
    "framing.coherence",
    "framing.formalisation",
    "accompaniment.in_progress",
    "closing",
    "closed",
]


def open_engagement(app: EngagementTracker, cast: Cast, eid: UUID | None = None) -> UUID:
    return app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations", eid).value


def in_accompaniment(app: EngagementTracker) -> tuple[Cast, UUID]:
    """A new cast and their engagement, framed and in accompaniment."""
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    return cast, eid


def drive(app: EngagementTracker, cast: Cast, eid: UUID, to: str) -> dict[str, Any]:
    """Take a freshly opened engagement along the happy path up to milestone ``to``."""
    c = cast.coach
    keys: dict[str, Any] = {}
    steps = [
        ("opened", lambda: None),
        ("met", lambda: app.engagements.hold_first_meeting(eid, c, START).value),
        ("framing.diagnosis", lambda: (app.engagements.confirm_will(
                eid, c).value, app.engagements.confirm_will(eid, cast.coachee).value)),
        ("framing.tripartite", lambda: app.engagements.record_diagnosis(eid, c, "stakes and first objectives").value),
        ("framing.coherence", lambda: keys.update(objectives=app.engagements.hold_tripartite_meeting(
            eid, c, START + timedelta(days=7), ["Shorter incident resolution"], ["Delegate decisions"]).value)),
        ("framing.formalisation", lambda: app.engagements.validate_coherence(eid, c).value),
        ("accompaniment.in_progress", lambda: (
            keys.update(indicators=[
                app.engagements.define_indicator(
                        eid, c, "O1", "organisation_performance", "Median resolution", 48, 24, "hours").value,
                app.engagements.define_indicator(
                        eid, c, "O2", "observable_result", "Decisions delegated", 1, 6, "per week").value,
            ]),
            app.engagements.record_synthesis(eid, c, "DMS/synthesis-1", "ab" * 32).value,
            app.engagements.fix_contract(eid, c, 3, START + timedelta(days=10), START + timedelta(days=120)).value,
            app.engagements.start_accompaniment(eid, c).value,
        )),
        ("closing", lambda: app.engagements.hold_closing_session(
            eid, c, START + timedelta(days=100),
            dict.fromkeys(app.engagements.get(eid).indicator_objectives, ("achieved", "measured"))).value),
        ("closed", lambda: app.engagements.hold_closing_meeting(
            eid, c, START + timedelta(days=110), "what changed", "keep a monthly review").value),
    ]
    if to not in MILESTONES:
        raise ValueError(f"unknown milestone {to}")
    for milestone, action in steps:
        action()
        if milestone == to:
            break
    expected = "framing.first_meeting" if to in ("opened", "met") else to
    state = app.engagements.get(eid).state
    if state != expected:
        raise RuntimeError(f"drive to {to} ended in {state}")
    return keys


def fresh_id() -> UUID:
    return uuid4()


@attrs.frozen
class CohortCast:
    """A cohort's coach and nine candidate members (one more than the default limit)."""

    coach: Actor
    members: tuple[Actor, ...]

    @classmethod
    def register(cls, app: EngagementTracker) -> CohortCast:
        coach = grant(app, app.parties.register("person", "Ana Ferreira").value, Role.COACH)
        members = tuple(Actor(app.parties.register("person", f"Peer {n}").value, Role.MEMBER) for n in range(1, 10))
        return cls(coach, members)


def frame_cohort(app: EngagementTracker, cc: CohortCast, members: int = 5, start: bool = True) -> UUID:
    """Open a cohort, frame it completely, and (by default) start its accompaniment."""
    cohorts = app.cohorts
    cid = cohorts.open(cc.coach, "Supply Chain", "Cohort Lead-time").value
    for m in cc.members[:members]:
        cohorts.add_member(cid, cc.coach, m.party)
    m1 = cc.members[0]
    cohorts.set_scope(cid, m1, "order-to-delivery in three sites")
    cohorts.set_objective(cid, m1, "cut order lead time", "customers receive orders in 48h")
    kr = cohorts.add_key_result(cid, m1, "lead time under 72h by June", date(2026, 6, 30)).value
    for name in ("lead time", "on-time delivery", "customer complaints"):
        cohorts.add_metric(cid, m1, name)
    cohorts.plan_experiment(cid, m1, kr, "a daily pick-list review cuts picking errors")
    cohorts.plan_experiment(cid, m1, kr, "pre-booked carriers shorten dispatch")
    if start:
        cohorts.start_accompaniment(cid, cc.coach)
    return cid
