"""``python -m bench``: the cost of every path, against baselines run in the same process.

Each measurement prints events per second and the ratio to its baseline, measured here on the
same data; ``--json FILE`` writes them all. ``--quick`` (under a minute) is the CI smoke test.
No test asserts a timing: these are figures to read, not pass/fail checks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.releases import bench_releases, forget_releases
from bench.workload import histories
from engagement_tracker.adapters import bootstrap, open_tracker
from engagement_tracker.domain import Actor, EngagementTracker, Role

BATCH_EVENTS = 900  # keep saves under ~1,000 events per transaction


class Plain(Aggregate):
    """The baseline's aggregate: plain events with a payload of the same size as ours."""

    class Noted(Aggregate.Event):
        payload: str

        def apply(self, agg: Plain) -> None:
            agg.count += 1

    def __init__(self, payload: str) -> None:
        self.count = 0


class BareApp(Application):
    name = "bare"


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: ru_maxrss carries the parent's peak across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def alternating(ours: Callable[[], Any], baseline: Callable[[], Any], rounds: int) -> tuple[float, float, Any]:
    """Best of ``rounds`` for each, run in turn, so that a machine whose speed drifts over minutes
    (shared VMs do) weighs on both sides of the ratio alike. Returns both times and our result."""
    best_ours = best_base = float("inf")
    result = None
    for _ in range(rounds):
        t, result = timed(ours)
        best_ours = min(best_ours, t)
        best_base = min(best_base, timed(baseline)[0])
    return best_ours, best_base, result


def sqlite_app(directory: Path, name: str, **env: str) -> EngagementTracker:
    return open_tracker(f"sqlite:///{directory / name}", env=env or None)


def batches(aggregates: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    events = 0
    for agg in aggregates:
        n = len(agg.pending_events)
        if batch and events + n > BATCH_EVENTS:
            yield batch
            batch, events = [], 0
        batch.append(agg)
        events += n
    if batch:
        yield batch


def row(name: str, what: str, events: int, seconds: float, base_name: str, base_seconds: float | None,
        target: str, **extra: Any) -> dict[str, Any]:
    rate = events / seconds if seconds else float("inf")
    base_rate = events / base_seconds if base_seconds else None
    return {
        "name": name, "what": what, "events": events, "seconds": round(seconds, 4),
        "events_per_s": round(rate), "baseline": base_name,
        "baseline_events_per_s": round(base_rate) if base_rate else None,
        "ratio": round(rate / base_rate, 3) if base_rate else None, "target": target,
        "peak_rss_mb": round(peak_rss_mb(), 1), **extra,
    }


# --- scenarios -----------------------------------------------------------------------------------


def bench_bulk(directory: Path, events: int) -> tuple[list[dict[str, Any]], EngagementTracker]:
    app = sqlite_app(directory, "bulk.sqlite")
    aggregates = list(histories(app.sealer, events))
    n = sum(len(a.pending_events) for a in aggregates)
    groups = list(batches(aggregates))
    shape = [[len(agg.pending_events) for agg in g] for g in groups]  # saving empties pending_events
    t_ours, _ = timed(lambda: [app.save(*g) for g in groups])
    # baseline 1: a bare eventsourcing Application, the same number of events of the same size, batched
    size = max(1, sum(len(s.state) for s in app.recorder.select_notifications(1, 2000)) // 2000)
    bare = BareApp(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "bare.db")})
    plain_groups = []
    for counts in shape:
        plain = []
        for count in counts:
            p = Plain("x" * size)
            for _ in range(count - 1):
                p.trigger_event(Plain.Noted, payload="x" * size)
            plain.append(p)
        plain_groups.append(plain)
    assert sum(len(p.pending_events) for g in plain_groups for p in g) == n  # the same number of events
    t_bare, _ = timed(lambda: [bare.save(*g) for g in plain_groups])
    assert bare.recorder.max_notification_id() == n
    # baseline 2: raw sqlite3 executemany of our very rows
    rows = [(str(s.originator_id), s.originator_version, s.topic, s.state)
            for s in app.recorder.select_notifications(1, n + 10)]
    con = sqlite3.connect(directory / "raw.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                "state BLOB, PRIMARY KEY (originator_id, originator_version))")

    def raw() -> None:
        for i in range(0, len(rows), BATCH_EVENTS):
            with con:
                con.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows[i:i + BATCH_EVENTS])

    t_raw, _ = timed(raw)
    con.close()
    bare.close()
    # the same histories without snapshots: what the snapshot cache costs an import
    unsnapped = sqlite_app(directory, "bulk-nosnap.sqlite", ETRACK_SNAPSHOT_INTERVAL="1000000")
    again = list(batches(histories(unsnapped.sealer, events)))
    t_nosnap, _ = timed(lambda: [unsnapped.save(*g) for g in again])
    unsnapped.close()
    return [
        row("bulk", f"import {len(aggregates)} histories in batches", n, t_ours, "bare eventsourcing, batched",
            t_bare, ">= 1.0"),
        row("bulk/raw", "same import, against raw sqlite3 executemany", n, t_ours, "raw sqlite3 executemany",
            t_raw, "report"),
        row("bulk/no-snapshots", "same import with snapshots off", n, t_nosnap, "bare eventsourcing, batched",
            t_bare, "report"),
    ], app


def granted(app: EngagementTracker, name: str, role: Role) -> Actor:
    """A party holding ``role`` (the store's first admin grants it): privileged calls check grants."""
    admin_id = next((UUID(p) for p, roles in app.grants().items() if Role.ADMIN.value in roles), None)
    admin = Actor(admin_id or app.initialise("Bench admin"), Role.ADMIN)
    party = app.register_party("person", name)
    app.grant(party, role, admin)
    return Actor(party, role)


def bench_record(directory: Path, commands: int) -> dict[str, Any]:
    app = sqlite_app(directory, "record.sqlite")
    coach = granted(app, "Coach", Role.COACH)
    engagements = []
    for n in range(20):
        coachee = app.register_party("person", f"Coachee {n}")
        sponsor = app.register_party("person", f"Sponsor {n}")
        eid = app.open_engagement(coach, coachee, sponsor, "hr", "Operations")
        app.hold_first_meeting(eid, coach, date(2026, 1, 5))
        app.confirm_will(eid, coach)
        app.confirm_will(eid, Actor(coachee, Role.COACHEE))
        app.record_diagnosis(eid, coach, "stakes")
        app.hold_tripartite_meeting(eid, coach, date(2026, 1, 8), ["a"], ["b"])
        app.validate_coherence(eid, coach)
        app.define_indicator(eid, coach, "O1", "observable_result", "x", 1, 5, "per week")
        app.define_indicator(eid, coach, "O2", "observable_result", "y", 1, 5, "per week")
        app.record_synthesis(eid, coach, "DMS/1", "ab" * 32)
        app.fix_contract(eid, coach, 200, date(2026, 1, 10), date(2027, 12, 31))
        app.start_accompaniment(eid, coach)
        engagements.append(eid)
    note = "The coachee described the escalation with the logistics lead; we explored three options. " * 2

    def ours() -> None:
        for i in range(commands):
            app.record_session(engagements[i % 20], coach, date(2026, 2, 1) + timedelta(days=i % 300), 90,
                               ["delegation", "priorities"], note)

    t_ours, _ = timed(ours)
    size = len(app.recorder.select_notifications(app.recorder.max_notification_id(), 1)[0].state)
    bare = BareApp(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "bare2.db")})
    ids = []
    for _ in range(20):
        p = Plain("x" * size)
        for _ in range(12):
            p.trigger_event(Plain.Noted, payload="x" * size)
        bare.save(p)
        ids.append(p.id)

    def baseline() -> None:
        for i in range(commands):
            p = bare.repository.get(ids[i % 20])
            p.trigger_event(Plain.Noted, payload="x" * size)
            bare.save(p)

    t_bare, _ = timed(baseline)
    app.close()
    bare.close()
    return row("record", "full command path (load, decide, seal, save), one command per save", commands, t_ours,
               "bare eventsourcing: get, trigger, save", t_bare, ">= 0.9")


def bench_verify(app: EngagementTracker, directory: Path, rounds: int) -> dict[str, Any]:
    trail = bootstrap.audit_trail(app)
    trail.catch_up()
    con = sqlite3.connect(directory / "bulk.sqlite")

    def raw() -> None:
        for (state,) in con.execute("SELECT state FROM stored_events ORDER BY rowid"):
            hashlib.sha256(state).digest()

    t_ours, t_raw, report = alternating(trail.verify, raw, rounds)
    assert report.ok
    n = report.checked
    con.close()
    return row("verify", "audit verify: recompute the chain, compare with the trail", n, t_ours,
               "raw sqlite3 scan + SHA-256 per row", t_raw, ">= 0.5")


def bench_rebuild(app: EngagementTracker, rounds: int) -> dict[str, Any]:
    from engagement_tracker.adapters.runner import ProjectionRunner

    n = app.recorder.max_notification_id() or 0

    def decode() -> None:
        start = 1
        while True:
            page = app.recorder.select_notifications(start, 500)
            for note in page:
                app.mapper.to_domain_event(note)
            if len(page) < 500:
                return
            start = page[-1].id + 1

    t_ours, t_base, _ = alternating(ProjectionRunner(app).rebuild, decode, rounds)
    return row("rebuild", "every projection from scratch (audit trail, analytics, directory)", n, t_ours,
               "eventsourcing read + decode of the same events", t_base, ">= 0.7")


def bench_replay(app: EngagementTracker, directory: Path) -> list[dict[str, Any]]:
    longest = max(app.engagement_ids(), key=lambda e: app.engagement(e).version)
    version = app.engagement(longest).version // 2
    reps = 300
    t_snap, _ = timed(lambda: [app.repository.get(longest, version=version) for _ in range(reps)])
    plain = open_tracker(f"sqlite:///{directory / 'bulk.sqlite'}", env={"ETRACK_SNAPSHOT_INTERVAL": "100000"})
    plain.snapshots = None  # replay from the first event
    plain.repository.snapshot_store = None
    t_nosnap, _ = timed(lambda: [plain.repository.get(longest, version=version) for _ in range(reps)])
    t_raw, _ = timed(lambda: [list(app.events.get(longest, lte=version)) for _ in range(reps)])
    plain.close()
    events = reps * version
    return [
        row("replay", f"one engagement at version {version}, with snapshots", events, t_snap,
            "loading the same events raw", t_raw, "report"),
        row("replay/no-snapshots", f"one engagement at version {version}, from its first event", events, t_nosnap,
            "loading the same events raw", t_raw, "report"),
    ]


def bench_query(small: EngagementTracker, large: EngagementTracker, small_n: int, large_n: int) -> list[dict[str, Any]]:
    """A signals summary over a fixed window (the first month: the same cells in both stores), and over
    the whole history (whose answer grows with it)."""
    analysts = {id(app): granted(app, "Analyst", Role.ANALYST) for app in (small, large)}
    shapes = {"query": {"since": "2025-01", "until": "2025-01", "period": "month"},
              "query/all-history": {"period": "quarter"}}
    rows = []
    for name, shape in shapes.items():
        timings, cells = [], []
        for app in (small, large):
            service = bootstrap.analyst_service(app)
            service.analytics.catch_up()
            analyst = analysts[id(app)]
            forget_releases(app)  # each shape on a fresh ledger (query/after-releases measures a long one)
            service.summary(analyst, ["theme", "period"], **shape)  # warm, and the ledger entry
            best = float("inf")
            for _ in range(5):
                t, rel = timed(lambda s=service, q=shape, a=analyst: s.summary(a, ["theme", "period"], **q))
                best = min(best, t)
            timings.append(best)
            cells.append(len(rel.rows))
        window = f"{shape['since']} to {shape['until']}" if "since" in shape else "the whole history"
        rows.append({
            "name": name, "what": f"signals summary by theme and {shape['period']}, {window}",
            "events": large_n, "seconds": round(timings[1], 4), "baseline": f"the same query at {small_n} events",
            "baseline_seconds": round(timings[0], 4), "ratio": round(timings[1] / timings[0], 2),
            "cells": cells, "target": f"<= 1.5 at {large_n}" if name == "query" else "report",
            "peak_rss_mb": round(peak_rss_mb(), 1),
        })
    return rows


def scale_point(events: int, directory: Path) -> dict[str, Any]:
    """One size, in its own process: per-event cost of bulk record and of rebuild, and peak RSS."""
    app = sqlite_app(directory, f"scale-{events}.sqlite")
    t_record = 0.0
    n = 0
    for group in batches(histories(app.sealer, events)):
        n += sum(len(a.pending_events) for a in group)
        t, _ = timed(lambda g=group: app.save(*g))
        t_record += t
    from engagement_tracker.adapters.runner import ProjectionRunner

    t_rebuild, _ = timed(ProjectionRunner(app).rebuild)
    app.close()
    return {"events": n, "record_us_per_event": round(1e6 * t_record / n, 2),
            "rebuild_us_per_event": round(1e6 * t_rebuild / n, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}


def bench_scale(directory: Path, sizes: list[int]) -> list[dict[str, Any]]:
    points = []
    for size in sizes:
        out = subprocess.run([sys.executable, "-m", "bench", "_scale", str(size), str(directory)],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        points.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if not points:
        return []
    base = points[0]
    rows = []
    for p in points:
        rows.append({
            "name": f"scale/{p['events']}", "what": "bulk record and rebuild, per event", "events": p["events"],
            "record_us_per_event": p["record_us_per_event"], "rebuild_us_per_event": p["rebuild_us_per_event"],
            "baseline": f"the {base['events']} figure",
            "record_ratio": round(p["record_us_per_event"] / base["record_us_per_event"], 2),
            "rebuild_ratio": round(p["rebuild_us_per_event"] / base["rebuild_us_per_event"], 2),
            "peak_rss_mb": p["peak_rss_mb"], "target": "cost <= 1.3 of the smallest; RSS <= 1.5 of 100k",
        })
    return rows


# --- entry point ---------------------------------------------------------------------------------


def run(quick: bool, events: int | None, sizes: list[int] | None, json_path: str | None) -> list[dict[str, Any]]:
    events = events or (3_000 if quick else 100_000)
    sizes = sizes if sizes is not None else ([] if quick else [10_000, 100_000])
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="etrack-bench-") as tmp:
        directory = Path(tmp)
        results.append(bench_record(directory, 300 if quick else 3_000))
        bulk_rows, app = bench_bulk(directory, events)
        results.extend(bulk_rows)
        rounds = 1 if quick else 3
        results.append(bench_verify(app, directory, rounds))
        results.append(bench_rebuild(app, rounds))
        results.extend(bench_replay(app, directory))
        small_dir = directory / "small"
        small_dir.mkdir()
        small_rows, small = bench_bulk(small_dir, 1_000 if quick else 10_000)
        results.extend(bench_query(small, app, small_rows[0]["events"], bulk_rows[0]["events"]))
        small.close()
        results.append(bench_releases(small_dir / "bulk.sqlite", small_dir, 200 if quick else 1_000, 5 if quick else 15,
                                      granted, peak_rss_mb))
        app.close()
        results.extend(bench_scale(directory, sizes))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick}
    if json_path:
        Path(json_path).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print_table(results, meta)
    return results


def print_table(results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"python -m bench ({meta['machine']})")
    for col in ("name", "events", "events/s", "baseline", "baseline ev/s", "ratio", "target", "peak RSS MB"):
        table.add_column(col)
    for r in results:
        if r["name"].startswith("scale/"):
            table.add_row(r["name"], str(r["events"]),
                          f"rec {r['record_us_per_event']} µs/ev, rebuild {r['rebuild_us_per_event']} µs/ev",
                          r["baseline"], "", f"{r['record_ratio']} / {r['rebuild_ratio']}", r["target"],
                          str(r["peak_rss_mb"]))
        elif r["name"].startswith("query"):
            table.add_row(r["name"], str(r["events"]), f"{r['seconds']} s", r["baseline"],
                          f"{r['baseline_seconds']} s", str(r["ratio"]), r["target"], str(r["peak_rss_mb"]))
        else:
            table.add_row(r["name"], str(r["events"]), str(r["events_per_s"]), r["baseline"],
                          str(r["baseline_events_per_s"]), str(r["ratio"]), r["target"], str(r["peak_rss_mb"]))
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_scale":
        print(json.dumps(scale_point(int(argv[1]), Path(argv[2]))))
        return
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run in under a minute")
    parser.add_argument("--events", type=int, default=None, help="events for bulk/verify/rebuild/query")
    parser.add_argument("--scale", default=None, help="sizes for the scale run, e.g. 10000,100000,1000000")
    parser.add_argument("--json", dest="json_path", default=None, help="write every figure to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.scale.split(",")] if args.scale else None
    run(args.quick, args.events, sizes, args.json_path)


if __name__ == "__main__":
    main()
