"""One contract, every backend: the same behaviour in memory, on an SQLite file and on PostgreSQL.

``store_url`` (tests/conftest.py) gives a fresh store of each backend: in memory, an SQLite file
or a PostgreSQL schema of its own; ``durable_store_url`` only the last two, for what needs a
store that a second process or connection opens too (races, tampering with the stored bytes).
PostgreSQL tests skip with the reason when no server answers, and fail instead when
ETRACK_REQUIRE_POSTGRES=1 (as in CI).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from engagement_tracker.domain import (
    CapacityExceeded,
    Engagement,
    NotPermitted,
    Role,
    StoreError,
)
from engagement_tracker.projections.anonymity import tally
from tests.integration.test_audit_trail import fast_and_slow
from tests.integration.test_sqlite_roundtrip import all_event_topics, record_every_event_type
from tests.support import START, Cast, FakeClock, drive, grant, granted, in_accompaniment, new_tracker, open_engagement, tick_at


def execute(url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run SQL straight against the store, as a forger with file or database access would."""
    config = parse_url(url)
    if config.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(config.path) as con:  # type: ignore[arg-type]
            con.execute(sql, params)
        return
    import psycopg

    with psycopg.connect(postgres_conninfo(config), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{config.schema}"')
        conn.execute(sql.replace("?", "%s"), params)


def events_table(url: str) -> tuple[str, str]:
    return ("stored_events", "rowid") if url.startswith("sqlite") else ("etrack_events", "notification_id")


def test_every_event_type_round_trips_with_snapshots(store_url: str) -> None:
    from engagement_tracker.domain import Party
    from engagement_tracker.domain.coach_load import CoachLoad
    from engagement_tracker.domain.cohort import Cohort

    app = new_tracker(store_url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2", ETRACK_RETENTION_SESSION_CONTENT_YEARS="1")
    cast = Cast.register(app)
    ids = record_every_event_type(app, cast)
    tick_at(app, app.clock() + timedelta(days=800))  # the retention policy erases the ended ones' session notes
    live = {eid: app.engagements.get(eid) for eid in ids}
    if store_url == "memory:":  # nothing outlives the process: read back through the same store
        again = app
    else:
        app.close()
        again = new_tracker(store_url, FakeClock(), ETRACK_SNAPSHOT_INTERVAL="2")
    stored = {n.topic for n in again.recorder.select_notifications(1, 10_000)}
    for cls in (Engagement, Party, Cohort, CoachLoad):
        assert all_event_topics(cls) <= stored
    for eid, aggregate in live.items():
        assert again.engagements.get(eid) == aggregate
        assert list(again.snapshots.get(eid))  # snapshots were taken and are used
    again.close()


def test_racing_for_the_last_team_slot_never_overfills(durable_store_url: str) -> None:
    setup = new_tracker(durable_store_url)
    coach = granted(setup, Role.COACH, "Coach")
    pairs = [(setup.parties.register("team", f"T{n}").value, setup.parties.register("person", f"M{n}").value) for n in range(8)]
    setup.close()
    barrier, outcomes, lock = threading.Barrier(len(pairs), timeout=60), [], threading.Lock()

    def contend(team: Any, sponsor: Any) -> None:
        app = new_tracker(durable_store_url, FakeClock())
        barrier.wait()  # a thread that failed to open would break the barrier, not hang it
        try:
            result: Any = app.engagements.open(coach, team, sponsor, "hr", "Digital Factory").value
        except CapacityExceeded as exc:  # never ConcurrencyConflict: every clash is progress, retried
            result = exc
        finally:
            app.close()
        with lock:
            outcomes.append(result)

    def guarded(team: Any, sponsor: Any) -> None:
        try:
            contend(team, sponsor)
        except BaseException as exc:
            barrier.abort()
            with lock:
                outcomes.append(exc)

    threads = [threading.Thread(target=guarded, args=p) for p in pairs]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(outcomes) == 8 and len(winners) == 4
    assert all(isinstance(o, CapacityExceeded) for o in outcomes if isinstance(o, Exception))
    check = new_tracker(durable_store_url)
    assert check.engagements.coach_load(coach)["active"] == 4 and len(list(check.engagements.ids())) == 4
    check.close()


@pytest.mark.parametrize("kind", ["modified", "deleted"])
def test_tampering_is_found_on_every_backend(durable_store_url: str, kind: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "closed")
    auditor = grant(app, cast.sponsor.party, Role.AUDITOR)
    # an engagement's event: damage to the access register itself refuses the auditor's own grant
    at = [n.id for n in app.recorder.select_notifications(1, 1000) if n.originator_id == eid][2]
    service = bootstrap.audit_service(app)
    service.trail.catch_up()
    assert service.verify(auditor).ok
    fast, slow = fast_and_slow(app)  # the in-database scan proves the same thing, on this backend too
    assert fast is not None and fast.to_dict() == slow.to_dict() and slow.ok  # type: ignore[attr-defined]
    table, position = events_table(durable_store_url)
    if kind == "modified":
        execute(durable_store_url, f"UPDATE {table} SET state = ? WHERE {position} = ?", (b"forged", at))
    else:
        execute(durable_store_url, f"DELETE FROM {table} WHERE {position} = ?", (at,))
    report = bootstrap.audit_service(app).verify(auditor).to_dict()
    assert (report["first_bad_position"], report["kind"]) == (at, kind)
    assert fast_and_slow(app)[0] is None  # the scan defers to the comparison that names the fault
    app.close()


def test_erasure_on_every_backend(store_url: str) -> None:
    app = new_tracker(store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    admin = granted(app, Role.ADMIN, "DPO")
    receipt = app.parties.erase(cast.coachee.party, admin).value
    assert receipt["key_present"] is False
    assert app.engagements.view(eid, cast.coach)["parties"]["coachee"]["name"] == "[erased]"
    bootstrap.audit_service(app).trail.catch_up()
    assert bootstrap.audit_service(app).verify(grant(app, admin.party, Role.AUDITOR)).ok
    app.close()


def test_projections_catch_up_exactly_once_and_equal_a_rebuild(store_url: str) -> None:
    app = new_tracker(store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    analytics, trail = bootstrap.analytics(app), bootstrap.audit_service(app).trail
    analytics.catch_up()
    trail.catch_up()
    app.engagements.record_signal(eid, cast.coach, "turnover", "management", "drains", 3, "Operations", START)
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], "note")
    assert analytics.catch_up() == 2 and analytics.catch_up() == 0
    assert trail.catch_up() == 2 and trail.catch_up() == 0
    facts, entries = analytics.view.facts(), trail.view.entries()
    tallies = analytics.view.tallies("signal") + analytics.view.tallies("activity")
    assert set(tallies) == set(tally(facts))  # kept in step, in the same transactions
    assert analytics.rebuild() == len(facts) and analytics.view.facts() == facts
    assert set(analytics.view.tallies("signal") + analytics.view.tallies("activity")) == set(tallies)
    assert trail.rebuild() == len(entries) and trail.view.entries() == entries
    app.close()


def test_a_clash_re_decides_on_every_backend(durable_store_url: str) -> None:
    clock = FakeClock()  # one host clock for both writers: history never runs backwards
    first, second = new_tracker(durable_store_url, clock), new_tracker(durable_store_url, clock)
    cast = Cast.register(first)
    eid = open_engagement(first, cast)
    drive(first, cast, eid, "accompaniment.in_progress")
    seen: list[int] = []

    def record(e: Engagement, at: Any) -> int:
        seen.append(e.sessions_held)
        if len(seen) == 1:
            second.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], None)
        return e.record_session(cast.coach, at, START + timedelta(days=21), 60, ["delegation"], None)

    assert first.update(Engagement, eid, "engagement", record).value == 2 and seen == [0, 1]
    first.close()
    second.close()


def test_an_unreachable_postgres_is_a_clear_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1"):
        new_tracker("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_two_analysts_releasing_at_once_cannot_both_pass_a_one_person_difference(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    for n in range(6):
        cast, eid = in_accompaniment(app)
        app.engagements.record_signal(eid, cast.coach, "turnover", "management", "drains", 3,
                          "Finance" if n == 5 else "Operations", START)
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.close()
    apps = [new_tracker(durable_store_url, FakeClock()) for _ in range(2)]
    services = [bootstrap.analyst_service(a) for a in apps]
    for s in services:
        s.analytics.catch_up()
    barrier, outcomes, lock = threading.Barrier(2, timeout=60), [], threading.Lock()

    def release(service: Any, unit: str | None) -> None:
        barrier.wait()
        try:
            service.summary(analyst, ["theme"], unit=unit, period="year")
            result = "released"
        except NotPermitted:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=release, args=(services[0], None)),
               threading.Thread(target=release, args=(services[1], "Operations"))]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert sorted(outcomes) == ["refused", "released"]  # 6 persons vs 5: one person apart
    for a in apps:
        a.close()


def test_a_window_reads_only_its_months_on_every_backend(store_url: str) -> None:
    app = new_tracker(store_url, FakeClock())
    for _ in range(5):
        cast, eid = in_accompaniment(app)
        for month in range(3):
            app.engagements.record_signal(eid, cast.coach, "turnover", "management", "drains", 3, "Operations",
                              START + timedelta(days=31 * month))
    service = bootstrap.analyst_service(app)
    service.analytics.catch_up()
    months = sorted({t.month for t in service.analytics.view.tallies("signal")})
    assert len(months) == 3
    window = service.analytics.view.tallies("signal", months[1], months[2])
    assert {t.month for t in window} == set(months[1:])
    assert {t.month for t in service.analytics.view.tallies("signal", until=months[0])} == {months[0]}
    rel = service.summary(granted(app, Role.ANALYST, "Ana Lyst"), ["period"], since=months[2])
    assert [(r.dims["period"], r.value) for r in rel.released] == [(months[2], 5)]
    app.close()
