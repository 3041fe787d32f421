"""bulk, verify, rebuild and replay on one SQLite store, each alternated with its baseline and limit."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import JSONTranscoder, Mapper

from bench.measure import rounds_of, throughput_row, timed
from bench.record import BareApp, Plain
from bench.workload import histories
from engagement_tracker.adapters import bootstrap, open_tracker
from engagement_tracker.domain import EngagementTracker

BATCH_EVENTS = 900  # keep saves under ~1,000 events per transaction


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


def build_store(directory: Path, events: int) -> EngagementTracker:
    """The store the read paths are measured on (its import is not timed here: bench_bulk is)."""
    app = sqlite_app(directory, "store.sqlite")
    for group in batches(histories(app.sealer, events)):
        app.save(*group)
    return app


def bench_bulk(directory: Path, events: int, rounds: int) -> list[dict[str, Any]]:
    """Fresh stores every round: ours, bare eventsourcing batched the same way, raw executemany."""
    made = {"n": 0}
    shape: list[list[int]] = []
    pending: dict[str, Any] = {}

    def prepare_ours() -> None:
        made["n"] += 1
        app = sqlite_app(directory, f"bulk-{made['n']}.sqlite")
        groups = list(batches(histories(app.sealer, events)))
        shape[:] = [[len(a.pending_events) for a in g] for g in groups]
        pending["ours"] = (app, groups)

    prepare_ours()
    app, groups = pending.pop("ours")
    app.save(*groups[0])  # the payload size of our stored events, from a first batch
    notes = app.recorder.select_notifications(1, 500)
    size = max(1, sum(len(n.state) for n in notes) // max(1, len(notes)))
    app.close()
    total = sum(sum(s) for s in shape)
    flat = [c for counts in shape for c in counts]
    rows = [(str(uuid4()), v, "topic", b"x" * size) for c in flat for v in range(c)]

    def plain_groups() -> list[list[Plain]]:
        out = []
        for counts in shape:
            group = []
            for count in counts:
                p = Plain("x" * size)
                for _ in range(count - 1):
                    p.trigger_event(Plain.Noted, payload="x" * size)
                group.append(p)
            out.append(group)
        return out

    def before() -> None:  # untimed: a fresh store and fresh in-memory histories for the arm about to run
        if "ours" not in pending:
            prepare_ours()
        made["n"] += 1
        if "bare" not in pending:
            bare = BareApp(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "SQLITE_DBNAME": str(directory / f"bare-{made['n']}.db")})
            pending["bare"] = (bare, plain_groups())
        if "raw" not in pending:
            con = sqlite3.connect(directory / f"raw-{made['n']}.db")
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                        "state BLOB, PRIMARY KEY (originator_id, originator_version))")
            pending["raw"] = con

    def ours() -> None:
        target, gs = pending.pop("ours")
        for g in gs:
            target.save(*g)
        target.close()

    def bare() -> None:
        target, gs = pending.pop("bare")
        for g in gs:
            target.save(*g)
        target.close()

    def raw() -> None:
        con = pending.pop("raw")
        for i in range(0, len(rows), BATCH_EVENTS):
            with con:
                con.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows[i:i + BATCH_EVENTS])
        con.close()

    t = rounds_of({"ours": ours, "bare": bare, "raw": raw}, rounds, before)
    for leftover in pending.values():  # each arm consumed its own; close what the last round prepared
        closer = leftover[0].close if isinstance(leftover, tuple) else leftover.close
        closer()
    what = f"import {total} events of histories in batches of < {BATCH_EVENTS} events"
    return [
        throughput_row("bulk", what, total, t["ours"], t["bare"], "bare eventsourcing, batched the same way, "
                       "events of the same size", ">= 1.0"),
        throughput_row("bulk/limit", "fraction of the limit: the same import against raw sqlite3 executemany "
                       "of as many rows of the same size", total, t["ours"], t["raw"], "raw sqlite3 executemany",
                       None),
    ]


def _join_sql(app: EngagementTracker, trail_table: str) -> str:
    from engagement_tracker.adapters.sealed_recorders import SQLITE_SEALS

    key = getattr(app.recorder, "record_key", None)
    seals = "x.aggregate_id, x.version, x.prev_position, x.record_tag, x.tag" if key is not None else \
        "NULL, NULL, NULL, NULL, NULL"
    return ("SELECT s.rowid, s.originator_id, s.originator_version, s.topic, s.state, a.aggregate_id, a.version, "
            "a.topic, a.state_sha256, a.actor, a.role, a.recorded_at, a.prev_hash, a.entry_hash, " + seals
            + f" FROM stored_events s LEFT JOIN {trail_table} a ON a.position = s.rowid"
            + (f" LEFT JOIN {SQLITE_SEALS} x ON x.position = s.rowid" if key is not None else "")
            + " ORDER BY s.rowid")


def bench_verify(app: EngagementTracker, path: Path, rounds: int) -> list[dict[str, Any]]:
    trail = bootstrap.audit_trail(app)
    trail.catch_up()
    records: Any = trail.events
    sql = _join_sql(app, records.trail_table)
    con = sqlite3.connect(path)
    states = [s for (s,) in con.execute("SELECT state FROM stored_events ORDER BY rowid")]

    def join_two_hashes() -> None:
        sha = hashlib.sha256
        cur = con.execute(sql)
        while rows := cur.fetchmany(2_000):
            for row in rows:
                sha(sha(row[4]).digest() + (row[12] or "").encode()).digest()

    def scan_one_hash() -> None:
        sha = hashlib.sha256
        for (state,) in con.execute("SELECT state FROM stored_events ORDER BY rowid"):
            sha(state).digest()

    def hashes_only() -> None:
        sha = hashlib.sha256
        for state in states:
            sha(state).digest()

    reports = []

    def ours() -> None:
        reports.append(trail.verify())

    def ours_jobs() -> None:
        reports.append(trail.verify(jobs=2))

    t = rounds_of({"ours": ours, "jobs": ours_jobs, "join": join_two_hashes, "scan": scan_one_hash,
                   "sha": hashes_only}, rounds)
    con.close()
    assert all(r.ok and r.sealed == r.checked for r in reports)
    n = reports[0].checked
    return [
        throughput_row("verify", "audit verify, one process: recompute the chain, the seals, compare with the trail",
                       n, t["ours"], t["join"], "the same joined SELECT + two SHA-256 per row, nothing else", ">= 0.85"),
        throughput_row("verify/jobs-2", "audit verify --jobs 2: two processes, each a range of the log", n,
                       t["jobs"], t["scan"], "raw scan + one SHA-256 per row (one process)", ">= 0.4"),
        throughput_row("verify/jobs-2-speedup", "audit verify --jobs 2 against one process", n, t["jobs"], t["ours"],
                       "audit verify, one process", None),
        throughput_row("verify/limit", "fraction of the limit: verify against SHA-256 of every stored row "
                       "already in memory", n, t["ours"], t["sha"], "SHA-256 per row, in memory", None),
    ]


def bench_rebuild(app: EngagementTracker, path: Path | None, rounds: int) -> list[dict[str, Any]]:
    from engagement_tracker.adapters.runner import ProjectionRunner

    n = app.recorder.max_notification_id() or 0
    # the baseline decodes as bare eventsourcing does: its JSONTranscoder (ours encodes the same
    # bytes through msgspec, adapters/transcoder.py), the same transcodings, cipher and compressor
    transcoder = JSONTranscoder()
    app.register_transcodings(transcoder)
    mapper = Mapper(transcoder=transcoder, compressor=app.mapper.compressor, cipher=app.mapper.cipher)

    def decode() -> None:
        start = 1
        while True:
            page = app.recorder.select_notifications(start, 500)
            for note in page:
                mapper.to_domain_event(note)
            if len(page) < 500:
                return
            start = page[-1].id + 1

    con = sqlite3.connect(path or ":memory:")

    def scan() -> None:
        if path is None:  # not an SQLite store: no raw scan limit here
            return
        cur = con.execute("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                          "ORDER BY rowid")
        while cur.fetchmany(2_000):
            pass

    t = rounds_of({"ours": ProjectionRunner(app).rebuild, "decode": decode, "scan": scan}, rounds)
    con.close()
    return [
        throughput_row("rebuild", "every projection from scratch (audit trail, tree, analytics, directory)", n,
                       t["ours"], t["decode"], "eventsourcing read + decode of the same events", ">= 0.7"),
        throughput_row("rebuild/limit", "fraction of the limit: rebuild against a raw scan of the same rows", n,
                       t["ours"], t["scan"], "raw sqlite3 scan of every row", None),
    ]


def bench_replay(app: EngagementTracker, directory: Path, rounds: int) -> list[dict[str, Any]]:
    longest = max(app.engagements.ids(), key=lambda e: app.engagements.get(e).version)
    version = app.engagements.get(longest).version // 2
    reps = 100
    plain = open_tracker(f"sqlite:///{directory / 'store.sqlite'}", env={"ETRACK_SNAPSHOT_INTERVAL": "100000"})
    plain.snapshots = None  # replay from the first event
    plain.repository.snapshot_store = None
    arms: dict[str, Callable[[], Any]] = {
        "snap": lambda: [app.repository.get(longest, version=version) for _ in range(reps)],
        "nosnap": lambda: [plain.repository.get(longest, version=version) for _ in range(reps)],
        "raw": lambda: [list(app.events.get(longest, lte=version)) for _ in range(reps)],
    }
    timed(arms["snap"])
    t = rounds_of(arms, rounds)
    plain.close()
    events = reps * version
    return [
        throughput_row("replay", f"one engagement at version {version}, with snapshots", events, t["snap"], t["raw"],
                       "loading the same events raw", None),
        throughput_row("replay/no-snapshots", f"one engagement at version {version}, from its first event", events,
                       t["nosnap"], t["raw"], "loading the same events raw", None),
    ]
