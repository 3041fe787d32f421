"""A grant is checked in the transaction that records what it allowed (issue #21, hole 1).

Each race: the command passes its gate, then is held (its clock, or the export's page callback,
waits) while an admin's revocation commits, through another application on the same store (the
same one in memory); then the command goes on. The revocation committed first, so the command is
refused with NotPermitted and records nothing: no event, no release, no spend, no destroyed key, no
export. A second kind of race holds the store's write lock from another session, so that the
command and the revocation queue behind it in either order: whatever the order, nothing by the
coach is recorded after the revocation.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, EngagementTracker, NotPermitted, Role
from engagement_tracker.domain.grants import AccessRegister
from tests.integration.test_differential_privacy import many_facts, service_with
from tests.support import FakeClock, admin, event_count, grant, granted, latest_event_time, new_tracker

WAIT = 60  # seconds; only reached when something is broken


class PausingClock(FakeClock):
    """A FakeClock that, once armed, holds its next reader until released: the command is then past
    its gate and has not yet written."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> datetime:
        if self.armed:
            self.armed = False
            self.reached.set()
            assert self.go.wait(WAIT)
        return super().__call__()


def run_held(command: Callable[[], Any], held: threading.Event, release: threading.Event,
             meanwhile: Callable[[], None]) -> Any:
    """Run ``command`` in a thread until it is ``held``, run ``meanwhile`` (it commits first), then let
    the command go on; returns what it returned or raised."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = command()
        except Exception as exc:
            outcome["value"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    try:
        assert held.wait(WAIT), "the command never reached the point where it is held"
        meanwhile()
    finally:
        release.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    return outcome.get("value")


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[EngagementTracker, EngagementTracker, PausingClock]]:
    """The acting party's application (its clock can be held) and the admin's: another application
    on the same store (in memory, the same one)."""
    clock = PausingClock()
    acting = new_tracker(store_url, clock)
    admin(acting)
    other = acting if store_url == "memory:" else new_tracker(store_url)
    yield acting, other, clock
    if other is not acting:
        other.close()
    acting.close()


def catch_up_clock(app: EngagementTracker) -> None:
    """Move the admin's clock past the store's last event (another process's clock, as a host's would be)."""
    last = latest_event_time(app)
    if isinstance(app.clock, FakeClock) and last is not None and app.clock.now < last:
        app.clock.now = last


def revoke(app: EngagementTracker, actor: Actor) -> Callable[[], None]:
    def revocation() -> None:
        catch_up_clock(app)
        app.access.revoke(actor.party, actor.role, admin(app), "left the organisation")
        assert actor.role.value not in app.held_grants().get(str(actor.party), frozenset())

    return revocation


def refused(outcome: object) -> None:
    assert isinstance(outcome, NotPermitted), outcome
    assert "revoked before this was recorded" in str(outcome)


def test_an_engagement_opened_by_a_coach_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    coach = granted(app, Role.COACH, "Claire Dubois")
    coachee = app.parties.register("person", "Marc Petit").value
    sponsor = app.parties.register("person", "Sophie Laurent").value
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: app.engagements.open(coach, coachee, sponsor, "hr", "Ops").value,
                       clock.reached, clock.go, revoke(other, coach))
    refused(outcome)
    assert event_count(app) == before + 1  # the revocation alone
    assert not list(app.engagements.ids())


def test_a_cohort_opened_by_a_coach_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    coach = granted(app, Role.COACH, "Claire Dubois")
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: app.cohorts.open(coach, "Pairs", "Ops").value, clock.reached, clock.go, revoke(other, coach))
    refused(outcome)
    assert event_count(app) == before + 1
    assert not list(app.cohorts.ids())


def test_a_grant_step_by_an_admin_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    second = granted(app, Role.ADMIN, "Second Admin")
    analyst = app.parties.register("person", "Ana Lyst").value
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: app.access.grant(
            analyst, Role.ANALYST, second).value, clock.reached, clock.go, revoke(other, second))
    assert isinstance(outcome, NotPermitted), outcome  # the register itself refuses it: its own admin check
    assert event_count(app) == before + 1
    assert Role.ANALYST.value not in app.held_grants().get(str(analyst), frozenset())


def test_a_privacy_budget_granted_by_an_admin_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    second = granted(app, Role.ADMIN, "Second Admin")
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: app.budgets.grant(analyst.party, 1.0, second).value, clock.reached, clock.go,
                       revoke(other, second))
    refused(outcome)
    assert event_count(app) == before + 1
    assert app.budgets.balance(admin(app), analyst.party)["granted_rho"] == 0.0


def test_a_differentially_private_release_by_an_analyst_revoked_meanwhile_spends_nothing(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, 2.0, admin(app))
    service = service_with(app, many_facts())
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=0.5),
                       clock.reached, clock.go, revoke(other, analyst))
    refused(outcome)
    assert event_count(app) == before + 1
    assert app.budgets.balance(admin(app), analyst.party)["spent_rho"] == 0.0


def test_an_exact_release_by_an_analyst_revoked_meanwhile_is_not_recorded(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    service = service_with(app, many_facts())
    ledger = list(service.analytics.view.ledger("signal"))
    clock.armed = True
    outcome = run_held(lambda: service.summary(analyst, ["theme"], period="year"), clock.reached, clock.go,
                       revoke(other, analyst))
    refused(outcome)
    assert list(service.analytics.view.ledger("signal")) == ledger
    # granted again, the same release goes through and is recorded once
    catch_up_clock(other)
    grant(other, analyst, Role.ANALYST)
    assert service.summary(analyst, ["theme"], period="year").rows
    assert len(service.analytics.view.ledger("signal")) == len(ledger) + 1


def test_an_erasure_by_an_admin_revoked_meanwhile_destroys_no_key(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    second = granted(app, Role.ADMIN, "Second Admin")
    person = app.parties.register("person", "Marc Petit").value
    before = event_count(app)
    clock.armed = True
    outcome = run_held(lambda: app.parties.erase(person, second), clock.reached, clock.go, revoke(other, second))
    refused(outcome)
    assert event_count(app) == before + 1
    assert app.party_name(person) == "Marc Petit"  # the key is still there
    assert not app.party(person).erased


def test_an_export_by_an_auditor_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, _clock = stores
    auditor = granted(app, Role.AUDITOR, "Audrey Tor")
    audit = bootstrap.audit_service(app)
    held, go = threading.Event(), threading.Event()

    def on_page(_n: int) -> None:
        if not held.is_set():
            held.set()
            assert go.wait(WAIT)

    out = io.StringIO()
    outcome = run_held(lambda: audit.export(auditor, out, on_page), held, go, revoke(other, auditor))
    refused(outcome)


def test_a_command_that_commits_before_the_revocation_stands(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, _clock = stores
    coach = granted(app, Role.COACH, "Claire Dubois")
    eid = app.engagements.open(coach, app.parties.register("person", "Marc Petit").value,
                              app.parties.register("person", "Sophie Laurent").value, "hr", "Ops").value
    revoke(other, coach)()
    assert list(app.engagements.ids()) == [eid]


# --- the write lock held by another session: the command and the revocation queue behind it ---------


def hold_write_lock(url: str, app: EngagementTracker) -> tuple[Callable[[], None], Callable[[], None]]:
    """Take the store's write lock from a session of its own; returns (take, let go)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=WAIT)

        def take() -> None:
            conn.execute("BEGIN IMMEDIATE")

        def let_go() -> None:
            conn.execute("COMMIT")
            conn.close()

        return take, let_go
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    pg = psycopg.connect(postgres_conninfo(parse_url(url)))
    table = f'"{app.recorder.datastore.schema}"."{app.recorder.events_table_name}"'  # type: ignore[attr-defined]

    def take_pg() -> None:
        pg.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def let_go_pg() -> None:
        pg.commit()
        pg.close()

    return take_pg, let_go_pg


def positions(app: EngagementTracker, originator: UUID) -> list[int]:
    return [n.id for n in app.recorder.select_notifications(1, 10_000) if n.originator_id == originator]


@pytest.mark.parametrize("round_", range(4))
def test_whatever_the_order_behind_a_held_lock_nothing_is_recorded_after_a_revocation(
        durable_store_url: str, round_: int) -> None:
    clock = PausingClock()
    app = new_tracker(durable_store_url, clock)
    coach = granted(app, Role.COACH, "Claire Dubois")
    coachee, sponsor = app.parties.register("person", "Marc Petit").value, app.parties.register("person", "Sophie Laurent").value
    other = new_tracker(durable_store_url)
    take, let_go = hold_write_lock(durable_store_url, app)
    outcome: dict[str, Any] = {}

    def opening() -> None:
        try:
            outcome["open"] = app.engagements.open(coach, coachee, sponsor, "hr", "Ops").value
        except NotPermitted as exc:
            outcome["open"] = exc

    def revocation() -> None:
        catch_up_clock(other)
        other.access.revoke(coach.party, Role.COACH, admin(other))

    try:
        clock.armed = True
        opener = threading.Thread(target=opening)
        opener.start()
        assert clock.reached.wait(WAIT)  # past its gate
        take()
        revoker = threading.Thread(target=revocation)
        if round_ % 2:  # the revocation queues first, or the command does
            revoker.start()
            clock.go.set()
        else:
            clock.go.set()
            revoker.start()
        threading.Event().wait(0.3)  # both are waiting for the lock now
        let_go()
        opener.join(WAIT)
        revoker.join(WAIT)
        revoked_at = max(positions(app, AccessRegister.ID))
        opened = outcome["open"]
        if isinstance(opened, NotPermitted):
            assert not list(app.engagements.ids())
        else:
            assert isinstance(opened, UUID)
            assert max(positions(app, opened)) < revoked_at  # it committed before the revocation
    finally:
        clock.go.set()
        other.close()
        app.close()


def test_a_budget_granted_to_a_party_whose_analyst_grant_is_revoked_meanwhile_is_refused(stores) -> None:  # type: ignore[no-untyped-def]
    app, other, clock = stores
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    before = event_count(app)
    clock.armed = True  # the admin's budget grant relies on the analyst's grant as well as its own
    outcome = run_held(lambda: app.budgets.grant(analyst.party, 1.0, admin(app)), clock.reached, clock.go,
                       revoke(other, analyst))
    refused(outcome)
    assert event_count(app) == before + 1
    assert app.budgets.balance(admin(app), analyst.party)["granted_rho"] == 0.0
