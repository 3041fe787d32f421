"""Reliability with real processes and real databases, on SQLite and PostgreSQL.

- 8 processes issue commands on the same engagements and coach: every clash ends as a typed
  refusal or a successful retry; nothing is lost or duplicated; the final state is a serial
  replay of what was committed; the coach's capacity rule holds.
- A writer killed with SIGKILL between or inside its batches leaves only whole transactions.
- A projection runner killed with SIGKILL mid catch-up resumes to a projection equal to a rebuild.
- (PostgreSQL) the server terminating the session: a clear error or a success, nothing
  partial, and the next command succeeds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, EtrackError, Role, StoreError
from tests.support import START, Cast, FakeClock, drive, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]


_SPAWNED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Any:
    """A failing assertion must not leave a worker running into the next test."""
    yield
    while _SPAWNED:
        proc = _SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def spawn(*args: str, module: str = "tests.integration.workers") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _SPAWNED.append(proc)
    return proc


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Signal a worker, wait for it, and close its pipes."""
    proc.send_signal(sig)
    proc.wait(30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def long_engagement(app: Any, cast: Cast) -> Any:
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "framing.formalisation")
    c = cast.coach
    app.engagements.define_indicator(eid, c, "O1", "organisation_performance", "Median resolution", 48, 24, "hours")
    app.engagements.define_indicator(eid, c, "O2", "observable_result", "Decisions delegated", 1, 6, "per week")
    app.engagements.record_synthesis(eid, c, "DMS/synthesis-1", "ab" * 32)
    app.engagements.fix_contract(eid, c, 200, date(2026, 1, 20), date(2026, 12, 31))
    app.engagements.start_accompaniment(eid, c)
    return eid


def test_eight_processes_on_the_same_engagements(durable_store_url: str, tmp_path: Path) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    coach_cast = Cast.register(app)
    plan: dict[str, Any] = {"coach": str(coach_cast.coach.party), "engagements": [], "coachees": {}, "teams": {}}
    for _ in range(3):
        cast = Cast(coach_cast.coach, Actor(app.parties.register("person", "Coachee").value, Role.COACHEE),
                    Actor(app.parties.register("person", "Sponsor").value, Role.SPONSOR), coach_cast.other_coach,
                    coach_cast.other_coachee)
        eid = long_engagement(app, cast)
        plan["engagements"].append(str(eid))
        plan["coachees"][str(eid)] = str(cast.coachee.party)
    for worker in range(8):
        plan["teams"][str(worker)] = [(str(app.parties.register("team", f"T{worker}{n}").value),
                                       str(app.parties.register("person", f"M{worker}{n}").value)) for n in range(2)]
    app.close()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))

    procs = [spawn("commands", durable_store_url, str(w), "25", str(plan_path)) for w in range(8)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    app = new_tracker(durable_store_url)
    sessions = sum(r["done"]["sessions"] for r in results)
    actions = sum(r["done"]["actions"] for r in results)
    stored_sessions = stored_actions = 0
    for eid in plan["engagements"]:
        e = app.engagements.get(eid)
        r = app.engagements.record(eid)
        assert [s.number for s in r.sessions] == list(range(1, len(r.sessions) + 1))  # none lost, none twice
        assert e.sessions_held == len(r.sessions)
        stored_sessions += len(r.sessions)
        stored_actions += len(r.actions)
        replayed = None
        for event in app.events.get(e.id):
            replayed = event.mutate(replayed)
        assert replayed == e  # the state is a serial replay of what was committed
    assert (stored_sessions, stored_actions) == (sessions, actions)
    opened = [o for r in results for o in r["opened"]]
    load = app.engagements.coach_load(coach_cast.coach)
    assert load["active"] == len(opened) <= 4
    assert sorted(load["active_team_engagements"]) == sorted(opened)
    refusals = {k for r in results for k in r["refused"]}
    assert refusals <= {"CapacityExceeded", "ConcurrencyConflict", "RuleViolation"}
    app.close()


def test_a_writer_killed_mid_batch_leaves_only_whole_transactions(durable_store_url: str) -> None:
    new_tracker(durable_store_url).close()  # the tables exist before the race starts
    writer = spawn("writer", durable_store_url, "200", "50")
    assert writer.stdout is not None
    for _ in range(3):
        line = writer.stdout.readline()
        assert line, writer.stderr.read() if writer.stderr else ""
    time.sleep(0.05)  # somewhere inside a later batch
    stop(writer)
    app = new_tracker(durable_store_url)
    counts: dict[Any, int] = {}
    for n in app.recorder.select_notifications(1, 1_000_000):
        counts[n.originator_id] = counts.get(n.originator_id, 0) + 1
    assert counts and set(counts.values()) == {4}, "a partial engagement was stored"
    assert len(counts) % 50 == 0  # only whole batches
    trail = bootstrap.audit_trail(app)
    trail.catch_up()
    assert trail.verify().ok
    app.close()


def test_a_runner_killed_mid_catch_up_resumes_to_a_rebuild(durable_store_url: str) -> None:
    new_tracker(durable_store_url).close()
    writer = spawn("writer", durable_store_url, "30", "50")  # 6,000 events: three pages
    writer.communicate(timeout=300)
    assert writer.returncode == 0
    runner = spawn("runner", durable_store_url)
    assert runner.stdout is not None
    assert json.loads(runner.stdout.readline()) == {"started": True}
    assert json.loads(runner.stdout.readline()) == {"page": 2_000}  # one page projected, more to go
    stop(runner)
    app = new_tracker(durable_store_url)
    trail, analytics = bootstrap.audit_trail(app), bootstrap.analytics(app)
    trail.catch_up()
    analytics.catch_up()
    entries, facts = trail.view.entries(), analytics.view.facts()
    assert len(entries) == app.recorder.max_notification_id() == 6_000
    assert trail.rebuild() == len(entries) and trail.view.entries() == entries
    assert analytics.rebuild() == len(facts) and analytics.view.facts() == facts
    app.close()


def test_a_runner_stops_cleanly_on_sigterm_and_resumes(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    runner = spawn("--db", durable_store_url, "projections", "run", "--poll", "0.05", module="engagement_tracker.adapters.cli")
    assert runner.stderr is not None and "following" in runner.stderr.readline()
    drive(app, cast, eid, "framing.tripartite")  # commits while the runner projects: contention
    deadline = time.time() + 30
    while time.time() < deadline and runner.poll() is None and \
            bootstrap.audit_trail(app).view.max_tracking_id("audit_trail") != app.recorder.max_notification_id():
        time.sleep(0.05)
    assert runner.poll() is None, runner.communicate()[1]  # a busy database is waited for, not fatal
    assert bootstrap.audit_trail(app).view.max_tracking_id("audit_trail") == app.recorder.max_notification_id()
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=30)
    assert runner.returncode == 0 and "stopped cleanly" in err
    app.engagements.record_signal(eid, cast.coach, "turnover", "management", "drains", 3, "Operations", START)
    assert bootstrap.audit_trail(app).catch_up() == 1  # resumes where it stopped
    app.close()


def test_the_server_terminating_the_session(durable_store_url: str) -> None:
    if not durable_store_url.startswith("postgresql"):
        pytest.skip("a server session to terminate exists on PostgreSQL only")
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    app = new_tracker(durable_store_url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    before = len(list(app.events.get(eid)))
    with psycopg.connect(postgres_conninfo(parse_url(durable_store_url)), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    outcomes = []
    for n in range(3):
        try:
            app.engagements.record_session(eid, cast.coach, START + timedelta(days=20 + n), 60, ["career"], "after the cut")
            outcomes.append("ok")
        except StoreError as exc:
            outcomes.append(f"error: {exc}")
        except EtrackError as exc:  # pragma: no cover - any other refusal is a bug here
            raise AssertionError(exc) from exc
    assert outcomes[-1] == "ok", outcomes  # the next command succeeds once the database answers
    after = list(app.events.get(eid))
    assert len(after) == before + outcomes.count("ok")  # nothing partial, nothing lost
    assert [s.number for s in app.engagements.record(eid).sessions] == list(range(1, outcomes.count("ok") + 1))
    app.close()
