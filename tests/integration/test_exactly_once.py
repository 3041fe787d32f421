"""Exactly once, under faults, on SQLite and PostgreSQL: lost acknowledgements, cut sessions, kill -9, races.

The faults are real where they can be: the commit really happens (or really does not) in the real
store; only the moment the driver reports it is replaced by a failure, as a lost acknowledgement
would. Every test ends by counting, in the store itself, the events each command id recorded.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from engagement_tracker.domain import Actor, EtrackError, Role, StoreError
from engagement_tracker.domain.command_ids import command_id_of
from tests.integration.test_reliability import long_engagement, spawn, stop
from tests.support import START, Cast, FakeClock, in_accompaniment, new_tracker


def stored_ids(app: Any, *idents: Any) -> Counter[str]:
    """How many events each command id recorded, read back from the store."""
    counts: Counter[str] = Counter()
    for ident in idents:
        for event in app.events.get(UUID(str(ident))):
            cid = command_id_of(event)
            if cid is not None:
                counts[cid] += 1
    return counts


class Fault:
    """Replace the recorder's ``insert_events`` by one that fails once, in a chosen way, around the real write."""

    def __init__(self, app: Any, kind: str) -> None:
        self.app, self.kind, self.fired = app, kind, False
        self.original = app.recorder.insert_events
        app.recorder.insert_events = self

    def __call__(self, stored_events: Any, **kwargs: Any) -> Any:
        if self.fired:
            return self.original(stored_events, **kwargs)
        self.fired = True
        if self.kind == "lost before commit":
            raise OperationalError("server closed the connection unexpectedly (before the commit)")
        self.original(stored_events, **kwargs)  # the commit really happens
        if self.kind == "ack lost":
            raise OperationalError("server closed the connection unexpectedly (the acknowledgement was lost)")
        if self.kind == "driver retried":
            return self.original(stored_events, **kwargs)  # the real store answers: duplicate key
        if self.kind == "ack lost, store unreachable":
            select = self.app.recorder.select_events

            def down(*args: Any, **kw: Any) -> Any:
                self.app.recorder.select_events = select
                raise OperationalError("could not connect to server")

            self.app.recorder.select_events = down
            raise OperationalError("server closed the connection unexpectedly")
        raise AssertionError(self.kind)


@pytest.mark.parametrize("given_id", [True, False], ids=["caller's id", "application's id"])
@pytest.mark.parametrize("kind", ["ack lost", "driver retried"])
def test_a_commit_whose_acknowledgement_is_lost_is_recorded_once_and_reported_done(
    durable_store_url: str, kind: str, given_id: bool
) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast, eid = in_accompaniment(app)
    before = len(list(app.events.get(eid)))
    Fault(app, kind)
    cid = "lost-ack-1" if given_id else None
    outcome = app.engagements.record_session(
            eid, cast.coach, START + timedelta(days=20), 60, ["career"], "n", command_id=cid)
    assert outcome.value == 1
    assert outcome.recorded_now
    after = list(app.events.get(eid))
    assert len(after) == before + 1  # once: not re-decided into a second session
    assert command_id_of(after[-1]) == outcome.command_id
    assert [s.number for s in app.engagements.record(eid).sessions] == [1]
    app.close()


def test_a_write_lost_before_its_commit_says_nothing_was_recorded_and_a_retry_records_it_once(
    durable_store_url: str,
) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast, eid = in_accompaniment(app)
    before = len(list(app.events.get(eid)))
    Fault(app, "lost before commit")
    with pytest.raises(StoreError, match="nothing was recorded"):
        app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], command_id="c-1")
    assert len(list(app.events.get(eid))) == before
    assert app.engagements.record_session(
        eid, cast.coach, START + timedelta(days=20), 60, ["career"], command_id="c-1").recorded_now
    assert stored_ids(app, eid)["c-1"] == 1
    app.close()


def test_when_the_store_cannot_be_asked_the_error_names_the_id_to_retry_with(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast, eid = in_accompaniment(app)
    Fault(app, "ack lost, store unreachable")
    with pytest.raises(StoreError) as err:
        app.engagements.commit_action(eid, cast.coachee, "delegate the planning")
    cid = err.value.command_id
    assert cid is not None and f"command_id={cid}" in str(err.value) and "at most once" in str(err.value)
    retried = app.engagements.commit_action(eid, cast.coachee, "delegate the planning", command_id=cid)  # as it says
    assert not retried.recorded_now  # it had been recorded: nothing more written
    key = retried.value
    assert key == "A1" and stored_ids(app, eid)[cid] == 1
    app.close()


def test_opening_an_engagement_whose_acknowledgement_is_lost_opens_one(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app, team=True)
    Fault(app, "driver retried")
    opened = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-t")
    assert opened.recorded_now
    again = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-t")
    assert again.value == opened.value and not again.recorded_now
    assert app.engagements.coach_load(cast.coach)["active"] == 1  # the team slot was taken once
    app.close()


def test_sessions_terminated_by_the_server_mid_command_record_each_command_once(durable_store_url: str) -> None:
    if not durable_store_url.startswith("postgresql"):
        pytest.skip("a server session to terminate exists on PostgreSQL only")
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    eid = long_engagement(app, cast)  # a contract of 200 sessions
    stop_cutting = threading.Event()
    cuts = 0

    def cutter() -> None:
        """Terminate every session of the store's database a few times while the commands run."""
        nonlocal cuts
        with psycopg.connect(postgres_conninfo(parse_url(durable_store_url)), autocommit=True) as admin:
            while not stop_cutting.is_set() and cuts < 4:
                time.sleep(random.uniform(0.05, 0.3))
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                cuts += 1

    thread = threading.Thread(target=cutter)
    thread.start()
    told: dict[str, str] = {}
    try:
        for n in range(40):
            cid = f"cut-{n}"
            try:
                app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 30, ["career"], command_id=cid)
                told[cid] = "recorded"
            except StoreError:
                told[cid] = "error"
    finally:
        stop_cutting.set()
        thread.join()
    assert cuts >= 1
    for cid, outcome in told.items():  # the caller retries what failed, with the same id
        if outcome == "error":
            app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 30, ["career"], command_id=cid)
    counts = stored_ids(app, eid)
    assert all(counts[cid] == 1 for cid in told), {c: counts[c] for c in told if counts[c] != 1}
    sessions = app.engagements.record(eid).sessions
    assert [s.number for s in sessions] == list(range(1, 41))
    app.close()


def _plan(app: Any, tmp_path: Path, workers: int, per_worker: int, shared: float) -> tuple[dict[str, Any], Path]:
    """Shared engagements; each worker's list of commands; a fraction sent by two workers (same id)."""
    coach_cast = Cast.register(app)
    plan: dict[str, Any] = {"coach": str(coach_cast.coach.party), "engagements": [], "coachees": {}, "workers": {}}
    for _ in range(2):
        cast = Cast(coach_cast.coach, Actor(app.parties.register("person", "Coachee").value, Role.COACHEE),
                    Actor(app.parties.register("person", "Sponsor").value, Role.SPONSOR), coach_cast.other_coach,
                    coach_cast.other_coachee)
        eid = long_engagement(app, cast)
        plan["engagements"].append(str(eid))
        plan["coachees"][str(eid)] = str(cast.coachee.party)
    rng = random.Random(7)
    lists: dict[str, list[dict[str, str]]] = {str(w): [] for w in range(workers)}
    for w in range(workers):
        for i in range(per_worker):
            command = {"cid": f"w{w}-{i}", "eid": rng.choice(plan["engagements"]), "kind": rng.choice(["session", "action"])}
            lists[str(w)].append(command)
            if rng.random() < shared:  # the same command sent by another worker too (a client retrying elsewhere)
                lists[str((w + 1) % workers)].append(command)
    for commands in lists.values():
        rng.shuffle(commands)
    plan["workers"] = lists
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return plan, path


def test_eight_writers_racing_with_shared_command_ids_record_each_command_exactly_once(
    durable_store_url: str, tmp_path: Path
) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    plan, path = _plan(app, tmp_path, workers=8, per_worker=12, shared=0.3)
    app.close()
    procs = [spawn("idempotent", durable_store_url, str(path), str(w)) for w in range(8)]
    reports: list[dict[str, Any]] = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        lines = [json.loads(line) for line in out.strip().splitlines()]
        assert lines[-1] == {"finished": True}
        reports.extend(lines[:-1])

    app = new_tracker(durable_store_url)
    counts = stored_ids(app, *plan["engagements"])
    issued = {c["cid"] for commands in plan["workers"].values() for c in commands}
    statuses: dict[str, list[str]] = {}
    for r in reports:
        statuses.setdefault(r["cid"], []).append(r["status"])
    assert not [s for ss in statuses.values() for s in ss if s.startswith("refused")]
    for cid in issued:
        assert counts[cid] == 1, (cid, counts[cid], statuses[cid])  # none lost, none duplicated
        assert statuses[cid].count("recorded") == 1  # exactly one caller recorded it; any other was told so
    phantom = {c for c in counts if c.startswith("w") and c not in issued}
    assert not phantom
    for eid in plan["engagements"]:
        e = app.engagements.get(eid)
        held = app.engagements.record(eid).sessions
        assert [s.number for s in held] == list(range(1, len(held) + 1)) and e.sessions_held == len(held)
        replayed = None
        for event in app.events.get(e.id):
            replayed = event.mutate(replayed)
        assert replayed == e  # the state is a serial replay of what was committed
    app.close()


def test_a_writer_killed_mid_command_and_run_again_records_every_command_once(
    durable_store_url: str, tmp_path: Path
) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    plan, path = _plan(app, tmp_path, workers=1, per_worker=30, shared=0.0)
    app.close()
    first = spawn("idempotent", durable_store_url, str(path), "0")
    told: list[str] = []
    assert first.stdout is not None
    while len(told) < 8:
        line = first.stdout.readline()
        assert line, first.stderr.read() if first.stderr else ""
        told.append(json.loads(line)["cid"])
    stop(first)  # kill -9, somewhere inside the next commands

    again = spawn("idempotent", durable_store_url, str(path), "0")  # the client runs its whole list again
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    second = {r["cid"]: r["status"] for r in map(json.loads, out.strip().splitlines()) if "cid" in r}
    assert all(second[cid] == "already recorded" for cid in told)  # what the first run was told is kept

    app = new_tracker(durable_store_url)
    counts = stored_ids(app, *plan["engagements"])
    assert all(counts[c["cid"]] == 1 for c in plan["workers"]["0"]), counts
    app.close()


def test_a_refused_command_with_an_id_records_nothing_and_can_be_retried_after_the_cause_is_gone(
    durable_store_url: str,
) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast, eid = in_accompaniment(app)
    app.engagements.suspend(eid, cast.coach)
    with pytest.raises(EtrackError):
        app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"], command_id="r-1")
    assert stored_ids(app, eid)["r-1"] == 0
    app.engagements.resume(eid, cast.coach)
    outcome = app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 60, ["career"],
                                             command_id="r-1")
    assert outcome.recorded_now and stored_ids(app, eid)["r-1"] == 1
    app.close()


def test_the_driver_error_classes_the_faults_use_are_the_ones_eventsourcing_raises() -> None:
    """Guard: the fault injector raises what eventsourcing's recorders translate driver errors into."""
    from eventsourcing.persistence import PersistenceError

    assert issubclass(OperationalError, PersistenceError) and issubclass(IntegrityError, PersistenceError)
