"""HTTP figures (``--only http``): one step command and one view through ``etrack serve``, against a
bare FastAPI endpoint doing one SQLite insert (or one select) in the same process, same uvicorn,
same client, at 1, 10 and 50 concurrent clients. The arms alternate round by round (ours, bare;
then bare, ours). Targets: a step's p99 at 10 clients within 3x the bare insert's; a view's
within 2x the bare select's. Reported: p50 and p99 of each, commands per second on SQLite.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import Role
from engagement_tracker.domain.values import Actor


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def bare_app(path: Path) -> Any:
    """The baseline: FastAPI, one table, one insert per POST and one select per GET (WAL, like ours)."""
    from fastapi import FastAPI

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, at TEXT, body TEXT)")
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "c"):
            local.c = sqlite3.connect(path, timeout=30, isolation_level=None)
        c: sqlite3.Connection = local.c
        return c

    app = FastAPI()

    @app.post("/bare")
    def insert(body: dict[str, Any]) -> dict[str, str]:
        ident = str(uuid.uuid4())
        conn().execute("INSERT INTO t VALUES (?, ?, ?)", (ident, datetime.now(UTC).isoformat(), str(body)))
        return {"id": ident}

    @app.get("/bare")
    def select() -> dict[str, int]:
        row = conn().execute("SELECT count(*) FROM t").fetchone()
        return {"n": int(row[0])}

    return app


def _latencies(url: str, clients: int, per_client: int, call: Callable[[Any, int], Any]) -> tuple[list[float], float]:
    import httpx

    samples: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            mine = []
            for i in range(per_client):
                t0 = time.perf_counter()
                r = call(c, n * per_client + i)
                mine.append(time.perf_counter() - t0)
                if r.status_code >= 300:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
            with lock:
                samples.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.perf_counter() - t0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_http(directory: Path, quick: bool) -> list[dict[str, Any]]:
    from engagement_tracker.adapters.http import create_app

    app = open_tracker(f"sqlite:///{directory / 'http.sqlite'}")
    admin = Actor(app.access.initialise("Bench Admin").value, Role.ADMIN)
    coach = app.parties.register("person", "Bench Coach").value
    app.access.grant(coach, Role.COACH, admin)
    token = str(app.access.issue_token(coach, admin).value.secret)
    coach_actor = Actor(coach, Role.COACH)
    engagements = []
    for n in range(50):  # one engagement per client: a step clashes only with its own client's
        coachee = app.parties.register("person", f"Coachee {n}").value
        sponsor = app.parties.register("person", f"Sponsor {n}").value
        engagements.append(str(app.engagements.open(coach_actor, coachee, sponsor, "hr", "Bench").value))
    ours_server, ours_thread, ours_url = _serve(create_app(app))
    bare_server, bare_thread, bare_url = _serve(bare_app(directory / "bare.sqlite"))
    auth = {"Authorization": f"Bearer {token}"}
    today = datetime.now(UTC).date()
    levels = [1, 10] if quick else [1, 10, 50]
    per_client = 10 if quick else 40
    rounds = 2 if quick else 4
    rows: list[dict[str, Any]] = []
    try:
        for clients in levels:
            per = max(5, per_client // max(1, clients // 10))

            def step(c: Any, i: int, clients: int = clients, per: int = per) -> Any:
                eid = engagements[i // per % clients]
                return c.post(f"/engagements/{eid}/steps/record_signal", headers=auth, json={
                    "theme": "turnover", "context": "tech", "polarity": "drains", "intensity": 2, "unit": "Bench",
                    "observed_on": str(today)})

            def view(c: Any, i: int, clients: int = clients, per: int = per) -> Any:
                return c.get(f"/engagements/{engagements[i // per % clients]}", headers=auth)

            arms = {"step": (ours_url, step), "insert": (bare_url, lambda c, i: c.post("/bare", json={"i": i})),
                    "view": (ours_url, view), "select": (bare_url, lambda c, _i: c.get("/bare"))}
            samples: dict[str, list[float]] = {k: [] for k in arms}
            elapsed: dict[str, float] = dict.fromkeys(arms, 0.0)
            for r in range(rounds):
                for name in arms if r % 2 == 0 else reversed(list(arms)):
                    url, call = arms[name]
                    got, took = _latencies(url, clients, per, call)
                    samples[name] += got
                    elapsed[name] += took
            for ours, bare, target in (("step", "insert", 3.0), ("view", "select", 2.0)):
                p99, base99 = _pct(samples[ours], 0.99), _pct(samples[bare], 0.99)
                ratio = round(p99 / base99, 2)
                judged = clients == 10
                rows.append({
                    "name": f"http/{ours}/{clients}-clients", "what": f"p99 of one {ours} through etrack serve, "
                    f"{clients} concurrent clients, against a bare FastAPI {bare} (SQLite)",
                    "ours": f"p50 {statistics.median(samples[ours]) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                            f"{len(samples[ours]) / elapsed[ours]:.0f}/s",
                    "baseline": f"bare {bare}", "base": f"p50 {statistics.median(samples[bare]) * 1000:.1f} ms, "
                                                      f"p99 {base99 * 1000:.1f} ms",
                    "ratio": ratio, "target": f"<= {target:g}" if judged else "report",
                    "met": (ratio <= target) if judged else None,
                })
    finally:
        for server in (ours_server, bare_server):
            server.should_exit = True
        ours_thread.join(30)
        bare_thread.join(30)
        app.close()
    return rows


def bench_http_postgres(url: str, directory: Path, quick: bool) -> list[dict[str, Any]]:
    """Commands per second through ``etrack serve --workers 4`` on PostgreSQL (a process of its own, as
    an operator runs it), 10 clients each recording signals on its own engagement for a fixed time;
    reported beside the same clients against the in-process SQLite server's figure (``http/step``)."""
    import os
    import subprocess
    import sys

    import httpx
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    schema = f"bench_http_{uuid.uuid4().hex[:8]}"
    scoped = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    clients, seconds, workers = 10, (3.0 if quick else 20.0), 4
    app = open_tracker(scoped)
    proc = None
    try:
        admin = Actor(app.access.initialise("Bench Admin").value, Role.ADMIN)
        coach = app.parties.register("person", "Bench Coach").value
        app.access.grant(coach, Role.COACH, admin)
        token = str(app.access.issue_token(coach, admin).value.secret)
        engagements = []
        for n in range(clients):
            coachee = app.parties.register("person", f"Coachee {n}").value
            sponsor = app.parties.register("person", f"Sponsor {n}").value
            engagements.append(str(app.engagements.open(Actor(coach, Role.COACH), coachee, sponsor, "hr", "Bench").value))
        app.close()
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.Popen(
            [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", scoped, "serve", "--port", str(port),
             "--workers", str(workers)], cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(root)})
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("etrack serve on PostgreSQL did not become ready")
            time.sleep(0.2)
        today = str(datetime.now(UTC).date())
        done: list[float] = []
        lock = threading.Lock()

        def client(n: int, stop: float, record: bool = True) -> None:
            mine = []
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    r = c.post(f"/engagements/{engagements[n]}/steps/record_signal", json={
                        "theme": "turnover", "context": "tech", "polarity": "drains", "intensity": 2, "unit": "Bench",
                        "observed_on": today})
                    if r.status_code != 200:
                        raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
                    mine.append(time.perf_counter() - t0)
            if record:
                with lock:
                    done.extend(mine)

        def run(duration: float, record: bool) -> float:
            t0 = time.perf_counter()
            stop = time.monotonic() + duration
            threads = [threading.Thread(target=client, args=(n, stop, record)) for n in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0

        run(3.0, record=False)  # each worker's first requests (imports, connections, caches) are not measured
        took = run(seconds, record=True)
        return [{
            "name": "http/postgresql/4-workers", "what": f"commands per second through etrack serve --workers "
            f"{workers} on PostgreSQL, {clients} clients recording signals for {seconds:g} s",
            "ours": f"{len(done) / took:.0f}/s, p50 {statistics.median(done) * 1000:.1f} ms, "
                    f"p99 {_pct(done, 0.99) * 1000:.1f} ms",
            "baseline": "-", "base": "-", "ratio": round(len(done) / took, 1), "target": "report (commands/s)",
            "met": None,
        }]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(postgres_conninfo(parse_url(url)), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
