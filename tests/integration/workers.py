"""Worker processes for the reliability tests: ``python -m tests.integration.workers MODE ...``.

Each prints JSON lines on stdout (flushed), so the parent can read progress and results, and
exits non-zero on any error that is not one of the domain's typed refusals.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import Actor, Engagement, EtrackError, Role


def say(**data: object) -> None:
    print(json.dumps(data, default=str), flush=True)


def commands(url: str, seed: int, n: int, plan_path: str) -> None:
    """Random commands on shared engagements and a shared coach; report what succeeded."""
    with open(plan_path) as fh:
        plan = json.load(fh)
    rng = random.Random(seed)
    app = open_tracker(url)
    coach = Actor(UUID(plan["coach"]), Role.COACH)
    coachees = {e: Actor(UUID(c), Role.COACHEE) for e, c in plan["coachees"].items()}
    done: dict[str, int] = {"sessions": 0, "actions": 0, "opened": 0}
    refused: dict[str, int] = {}
    opened: list[str] = []
    teams = list(plan["teams"][str(seed)])
    for i in range(n):
        eid = rng.choice(list(plan["engagements"]))
        choice = rng.random()
        try:
            if choice < 0.5:
                app.engagements.record_session(eid, coach, date(2026, 2, 1) + timedelta(days=i % 60), 60, ["career"], f"w{seed}")
                done["sessions"] += 1
            elif choice < 0.8:
                app.engagements.commit_action(eid, coachees[eid], f"action {seed}-{i}")
                done["actions"] += 1
            elif teams:
                team, sponsor = teams.pop()
                opened.append(str(app.engagements.open(coach, team, sponsor, "hr", "Digital Factory").value))
                done["opened"] += 1
        except EtrackError as exc:
            refused[type(exc).__name__] = refused.get(type(exc).__name__, 0) + 1
    say(done=done, refused=refused, opened=opened)
    app.close()


def writer(url: str, batches: int, per_batch: int) -> None:
    """Save batches of whole engagements (4 events each), one transaction per batch."""
    app = open_tracker(url)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for b in range(batches):
        aggregates = []
        for _ in range(per_batch):
            coach, coachee = Actor(uuid4(), Role.COACH), Actor(uuid4(), Role.COACHEE)
            e = Engagement.open(uuid4(), coach, at, coach.party, coachee.party, "person", uuid4(), "hr", "Ops")
            e.hold_first_meeting(coach, at, date(2026, 1, 5))
            e.confirm_will(coach, at)
            e.confirm_will(coachee, at)
            aggregates.append(e)
        app.save(*aggregates)
        say(batch=b, events=4 * per_batch)
    app.close()


def runner(url: str) -> None:
    from engagement_tracker.adapters.runner import ProjectionRunner

    app = open_tracker(url)
    say(started=True)
    ProjectionRunner(app, 0.05, on_page=lambda n: say(page=n)).run()


def idempotent(url: str, plan_path: str, worker: str) -> None:
    """Run this worker's commands of the plan, each with its command id; report each outcome.

    Prints ``{"cid": ..., "status": "recorded" | "already recorded" | "refused: <Error>"}`` per
    command as soon as the call returns, so a parent that kills the worker knows what it was told.
    """
    with open(plan_path) as fh:
        plan = json.load(fh)
    app = open_tracker(url)
    coach = Actor(UUID(plan["coach"]), Role.COACH)
    coachees = {e: Actor(UUID(c), Role.COACHEE) for e, c in plan["coachees"].items()}
    for command in plan["workers"][worker]:
        cid, eid, kind = command["cid"], command["eid"], command["kind"]
        try:
            if kind == "session":
                outcome = app.engagements.record_session(eid, coach, date(2026, 2, 1), 60, ["career"], command_id=cid)
            else:
                outcome = app.engagements.commit_action(eid, coachees[eid], f"action {cid}", command_id=cid)
        except EtrackError as exc:
            say(cid=cid, status=f"refused: {type(exc).__name__}: {exc}")
            continue
        say(cid=cid, status=outcome.status)
    say(finished=True)
    app.close()


def dp_query(url: str, analyst: str, epsilon: float, barrier: Any, results: Any) -> None:
    """One differentially private query, asked once every worker is ready (``barrier``); puts
    ``(rows, repeated)`` or ``("refused", error)`` on ``results`` (a multiprocessing queue)."""
    from engagement_tracker.adapters.bootstrap import analyst_service

    app = open_tracker(url, create=False)
    try:
        service = analyst_service(app)
        service.analytics.catch_up()
        who = Actor(UUID(analyst), Role.ANALYST)
        barrier.wait()
        try:
            rel = service.summary(who, ["theme"], period="year", privacy="dp", epsilon=epsilon)
        except EtrackError as exc:
            results.put(("refused", f"{type(exc).__name__}: {exc}"))
            return
        results.put(([r.to_dict() for r in rel.rows], rel.repeated))
    finally:
        app.close()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "commands":
        commands(args[0], int(args[1]), int(args[2]), args[3])
    elif mode == "writer":
        writer(args[0], int(args[1]), int(args[2]))
    elif mode == "idempotent":
        idempotent(args[0], args[1], args[2])
    elif mode == "runner":
        runner(args[0])
    else:
        raise SystemExit(f"unknown mode {mode}")
