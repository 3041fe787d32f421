"""Load and faults, bounded and on loopback: ``etrack serve --workers 2`` on PostgreSQL, concurrent
clients sending step commands, each with an Idempotency-Key and retried on 503 or a lost answer;
meanwhile the server's database connections are cut twice and one worker is killed with SIGKILL.
Afterwards: every acknowledged command is stored exactly once (none lost, none twice), and no
answer was a 5xx other than the declared 503."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain.command_ids import command_id_of
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from tests.conftest import POSTGRES_URL, _drop_schema
from tests.http_support import free_port
from tests.integration.test_cli_and_demo import ROOT

pytest.importorskip("fastapi")
pytestmark = pytest.mark.postgres

CLIENTS = int(os.environ.get("ETRACK_LOAD_CLIENTS", "8"))
SECONDS = float(os.environ.get("ETRACK_LOAD_SECONDS", "12"))
WORKERS = int(os.environ.get("ETRACK_LOAD_WORKERS", "2"))


APP_NAME = "etrack-load-test"


def cut_connections(url: str) -> int:
    """Terminate the server's sessions (named by PGAPPNAME): its pools lose them; nobody else's are touched."""
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    with psycopg.connect(postgres_conninfo(parse_url(url)), autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND application_name = %s", (APP_NAME,)).fetchall()
    return len(rows)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


@pytest.fixture
def postgres_store(postgres_available: None) -> Iterator[str]:
    """A PostgreSQL store in a schema of its own (N workers serve PostgreSQL; SQLite is one process)."""
    import uuid

    schema = f"t_load_{uuid.uuid4().hex[:10]}"
    yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    _drop_schema(schema)


def test_acknowledged_commands_survive_cuts_and_a_killed_worker(postgres_store: str, tmp_path: Path) -> None:
    url = postgres_store
    app = open_tracker(url)
    admin = Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)
    coach = app.parties.register("person", "Claire Coach").value
    app.access.grant(coach, Role.COACH, admin)
    token = str(app.access.issue_token(coach, admin).value.secret)
    engagements = []
    for n in range(CLIENTS):
        coachee = app.parties.register("person", f"Coachee {n}").value
        sponsor = app.parties.register("person", f"Sponsor {n}").value
        engagements.append(app.engagements.open(Actor(coach, Role.COACH), coachee, sponsor, "hr", "Ops").value)
    app.close()

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", url, "serve", "--port", str(port),
         "--workers", str(WORKERS)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PGAPPNAME": APP_NAME})
    base = f"http://127.0.0.1:{port}"
    acked: list[tuple[str, str]] = []  # (engagement, command id)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    today = str(datetime.now(UTC).date())
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "etrack serve did not become ready"
            time.sleep(0.2)
        stop = time.monotonic() + SECONDS

        def client(n: int) -> None:
            eid = engagements[n]
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
                i = 0
                while time.monotonic() < stop:
                    key = f"load-{n}-{i}"
                    for _attempt in range(60):
                        try:
                            r = c.post(f"/engagements/{eid}/steps/record_signal", headers={"Idempotency-Key": key},
                                       json={"theme": "turnover", "context": "tech", "polarity": "drains",
                                             "intensity": 2, "unit": "Ops", "observed_on": today})
                        except httpx.TransportError:
                            time.sleep(0.2)  # the answer was lost (a killed worker): retry with the same key
                            continue
                        with lock:
                            statuses[r.status_code] += 1
                        if r.status_code == 200:
                            with lock:
                                acked.append((str(eid), key))
                            break
                        assert r.status_code == 503, r.text  # the only failure declared for an outage
                        time.sleep(float(r.headers.get("retry-after", "1")) / 4)
                    i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(SECONDS / 4)
        assert cut_connections(url) >= 1
        time.sleep(SECONDS / 4)
        victims = children(proc.pid)
        assert victims, "no worker process found"
        os.kill(victims[0], signal.SIGKILL)
        time.sleep(SECONDS / 4)
        cut_connections(url)
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.communicate()

    assert acked, "no command was acknowledged"
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    check = open_tracker(url)
    try:
        stored: Counter[tuple[str, str]] = Counter()
        for eid in engagements:
            for event in check.events.get(eid):
                cid = command_id_of(event)
                if cid is not None and cid.startswith("load-"):
                    stored[(str(eid), cid)] += 1
    finally:
        check.close()
    lost = [k for k in acked if stored[k] == 0]
    twice = [k for k, n in stored.items() if n > 1]
    assert lost == [] and twice == []
    assert set(stored) >= set(acked)
    print(f"load: {len(acked)} commands acknowledged, statuses {dict(statuses)}")  # the figures, with -s
