"""``record``: one command per save, against bare eventsourcing on the same store kind, alternated.

Arms, each ``per_round`` commands per round, run in turn (order reversed every other round):

- ours on young engagements (version ~13 upwards, snapshots every 20 events);
- ours on old engagements (version ~160 upwards): the cost of a long history;
- bare eventsourcing *with its own snapshots every 20 events* (the fair baseline): get, trigger, save
  of a plain aggregate whose events carry a payload as large as ours;
- the same without snapshots (a reported extra: it replays every event);
- the same with snapshots and eventsourcing's aggregate cache as large as ours (a reported extra:
  ours keeps aggregates in that cache and fast-forwards them from the store on every load);
- the limit: one durable single-row commit of the same size on the same store kind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.measure import rounds_of, throughput_row
from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.storage import event_store_env, parse_url, postgres_conninfo
from engagement_tracker.domain import Actor, EngagementTracker, Role

NOTE = "The coachee described the escalation with the logistics lead; we explored three options. " * 2


class Plain(Aggregate):
    """The baseline's aggregate: plain events with a payload of the same size as ours."""

    class Noted(Aggregate.Event):
        payload: str

        def apply(self, agg: Plain) -> None:
            agg.count += 1

    def __init__(self, payload: str) -> None:
        self.count = 0


class BareApp(Application):  # type: ignore[type-arg]
    name = "bare"


class BareSnapshotted(Application):  # type: ignore[type-arg]
    """eventsourcing's own snapshotting, every 20 events (as ours)."""

    name = "baresnap"
    snapshotting_intervals = {Plain: 20}  # noqa: RUF012 - eventsourcing's class-level config


class BareCached(BareSnapshotted):
    """The same, with eventsourcing's aggregate cache as large as ours (a reported extra)."""

    name = "barecached"


def granted(app: EngagementTracker, name: str, role: Role) -> Actor:
    """A party holding ``role`` (the store's first admin grants it): privileged calls check grants."""
    admin_id = next((UUID(p) for p, roles in app.held_grants().items() if Role.ADMIN.value in roles), None)
    admin = Actor(admin_id or app.access.initialise("Bench admin").value, Role.ADMIN)
    party = app.parties.register("person", name).value
    app.access.grant(party, role, admin)
    return Actor(party, role)


def _engagements(app: EngagementTracker, coach: Actor, count: int, sessions: int) -> list[UUID]:
    """``count`` engagements in accompaniment (version 13), then ``sessions`` sessions each."""
    out = []
    for n in range(count):
        coachee = app.parties.register("person", f"Coachee {n}").value
        sponsor = app.parties.register("person", f"Sponsor {n}").value
        eid = app.engagements.open(coach, coachee, sponsor, "hr", "Operations").value
        app.engagements.hold_first_meeting(eid, coach, date(2026, 1, 5))
        app.engagements.confirm_will(eid, coach)
        app.engagements.confirm_will(eid, Actor(coachee, Role.COACHEE))
        app.engagements.record_diagnosis(eid, coach, "stakes")
        app.engagements.hold_tripartite_meeting(eid, coach, date(2026, 1, 8), ["a"], ["b"])
        app.engagements.validate_coherence(eid, coach)
        app.engagements.define_indicator(eid, coach, "O1", "observable_result", "x", 1, 5, "per week")
        app.engagements.define_indicator(eid, coach, "O2", "observable_result", "y", 1, 5, "per week")
        app.engagements.record_synthesis(eid, coach, "DMS/1", "ab" * 32)
        app.engagements.fix_contract(eid, coach, 200, date(2026, 1, 10), date(2029, 12, 31))
        app.engagements.start_accompaniment(eid, coach)
        for i in range(sessions):
            app.engagements.record_session(eid, coach, date(2026, 2, 1) + timedelta(days=i % 300), 90, ["delegation"], NOTE)
        out.append(eid)
    return out


def _commands(app: EngagementTracker, coach: Actor, ids: list[UUID], count: int) -> Callable[[], None]:
    state = {"i": 0}

    def run() -> None:
        for _ in range(count):
            i = state["i"]
            state["i"] += 1
            app.engagements.record_session(ids[i % len(ids)], coach, date(2026, 2, 1) + timedelta(days=i % 300), 90,
                               ["delegation", "priorities"], NOTE)
    return run


def _bare(app: Application, size: int, count: int, version: int, per_round: int) -> Callable[[], None]:  # type: ignore[type-arg]
    ids = []
    for _ in range(count):
        p = Plain("x" * size)
        for _ in range(version - 1):
            p.trigger_event(Plain.Noted, payload="x" * size)
        app.save(p)
        ids.append(p.id)
    state = {"i": 0}

    def run() -> None:
        for _ in range(per_round):
            p = app.repository.get(ids[state["i"] % count])
            state["i"] += 1
            p.trigger_event(Plain.Noted, payload="x" * size)
            app.save(p)
    return run


def _raw_commits(url: str, directory: Path, size: int, per_round: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """The store kind's durable single-row commit (the same row size), and how to close it."""
    config = parse_url(url)
    payload = b"x" * size
    state = {"i": 0}
    if config.kind == "sqlite":
        con = sqlite3.connect(directory / "raw-commits.db", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (id TEXT, v INTEGER, state BLOB, PRIMARY KEY (id, v))")

        def sqlite_run() -> None:
            for _ in range(per_round):
                state["i"] += 1
                con.execute("BEGIN")
                con.execute("INSERT INTO t VALUES ('a', ?, ?)", (state["i"], payload))
                con.execute("COMMIT")
        return sqlite_run, con.close
    import psycopg

    pg = psycopg.connect(postgres_conninfo(config))
    schema = (config.postgres or {}).get("POSTGRES_SCHEMA") or "public"
    pg.execute(f'CREATE TABLE "{schema}".raw_commits (id text, v integer, state bytea, PRIMARY KEY (id, v))')
    pg.commit()

    def pg_run() -> None:
        for _ in range(per_round):
            state["i"] += 1
            pg.execute(f'INSERT INTO "{schema}".raw_commits VALUES (%s, %s, %s)', ("a", state["i"], payload))
            pg.commit()
    return pg_run, pg.close


def bench_record(url: str, directory: Path, kind: str, per_round: int, rounds: int, engagements: int,
                 old_version: int) -> list[dict[str, Any]]:
    app = open_tracker(url)
    coach = granted(app, "Coach", Role.COACH)
    young = _engagements(app, coach, engagements, 0)
    old = _engagements(app, coach, engagements, old_version - 13)
    last = app.recorder.max_notification_id() or 1
    size = len(app.recorder.select_notifications(last, 1)[0].state)
    bare_env = event_store_env(parse_url(url))
    if kind == "sqlite":
        bare_env = {**bare_env, "SQLITE_DBNAME": str(directory / "bare-record.db")}
    bare = BareApp(env=bare_env)
    snapped = BareSnapshotted(env={**bare_env, "SQLITE_DBNAME": str(directory / "baresnap-record.db")}
                              if kind == "sqlite" else bare_env)
    cached = BareCached(env={**bare_env, "SQLITE_DBNAME": str(directory / "barecached-record.db"),
                             "AGGREGATE_CACHE_MAXSIZE": str(app.CACHED_AGGREGATES)}
                        if kind == "sqlite" else {**bare_env, "AGGREGATE_CACHE_MAXSIZE": str(app.CACHED_AGGREGATES)})
    raw, close_raw = _raw_commits(url, directory, size, per_round)
    try:
        arms = {
            "ours": _commands(app, coach, young, per_round),
            "snapshotted": _bare(snapped, size, engagements, 13, per_round),
            "bare": _bare(bare, size, engagements, 13, per_round),
            "cached": _bare(cached, size, engagements, 13, per_round),
            "old": _commands(app, coach, old, per_round),
            "commit": raw,
        }
        t = rounds_of(arms, rounds)
    finally:
        close_raw()
        app.close()
        bare.close()
        snapped.close()
        cached.close()
    suffix = "" if kind == "sqlite" else f"/{kind}"
    start = f"engagements from version 13, {engagements} in turn"
    return [
        throughput_row(f"record{suffix}", f"full command path (load, decide, seal, save), one command per save; {start}",
                       per_round, t["ours"], t["snapshotted"], "bare eventsourcing with its snapshots every 20 "
                       "events: get, trigger, save", ">= 0.9", unit="commands"),
        throughput_row(f"record/no-snapshots{suffix}", "the same, against bare eventsourcing without snapshots "
                       "(it replays every event)", per_round, t["ours"], t["bare"], "bare eventsourcing, no snapshots",
                       None, unit="commands"),
        throughput_row(f"record/cached-baseline{suffix}", "the same, against bare eventsourcing with its snapshots "
                       "and its aggregate cache as large as ours (ours caches aggregates; the baseline above does "
                       "not)", per_round, t["ours"], t["cached"], "bare eventsourcing, snapshots and cache", None,
                       unit="commands"),
        throughput_row(f"record/version-{old_version}{suffix}", f"the same command at version {old_version} "
                       "and up, against version 13 and up (ratio: young cost / old cost)", per_round, t["old"],
                       t["ours"], "the same command on young engagements", ">= 0.833", unit="commands",
                       note="target: cost at version 160 <= 1.2 x cost at version 20, i.e. speed ratio >= 1/1.2"),
        throughput_row(f"record/limit{suffix}", "fraction of the limit: our commands per durable single-row "
                       "commit of the same size", per_round, t["ours"], t["commit"],
                       f"raw {kind} single-row commits", None, unit="commands"),
    ]
