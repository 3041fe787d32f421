"""``etrack serve`` as an operator runs it (a subprocess on loopback), a store outage as clients see
it (503 with Retry-After; the command retried with its Idempotency-Key is stored once), and SIGTERM
draining a request in flight."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.demo import ScriptedClock, access_actor, demo_id, seed
from tests.http_support import free_port, start_server
from tests.integration.test_cli_and_demo import ROOT

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo's store on a file, and tokens for its admin and the shown engagement's coach."""
    path = tmp_path_factory.mktemp("served") / "etrack.sqlite"
    clock = ScriptedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = open_tracker(f"sqlite:///{path}", clock=clock)
    try:
        seed(app, clock)
        admin = access_actor("admin")
        tokens = {"admin": str(app.access.issue_token(admin.party, admin).value.secret),
                  "coach": str(app.access.issue_token(demo_id("coach-1"), admin).value.secret)}
    finally:
        app.close()
    return path, tokens


def serve(path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", str(path), "serve", "--port", str(port), *args],
        cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(path.parent)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "etrack serve exited") from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("etrack serve did not answer")


def exclusive_lock(path: Path) -> sqlite3.Connection:
    """Another session holding the SQLite file's write lock (a busy store): writes wait, reads go on."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_etrack_serve_answers_and_sigterm_drains_a_request_in_flight(demo_store: tuple[Path, dict[str, str]]) -> None:
    path, tokens = demo_store
    proc, url = serve(path)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['coach']}"}, timeout=60) as c:
            assert c.get("/me").json()["party"] == str(demo_id("coach-1"))
            eid = next(p["id"] for p in c.get("/me").json()["places"] if p["state"] == "accompaniment.in_progress")
            holder = exclusive_lock(path)
            answer: dict[str, Any] = {}

            def request() -> None:
                answer["r"] = c.post(f"/engagements/{eid}/steps/request_review", headers={"Idempotency-Key": "drain-1"})

            thread = threading.Thread(target=request)
            thread.start()
            time.sleep(1.0)  # the write is waiting for the lock: in flight
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            holder.execute("ROLLBACK")
            holder.close()
            thread.join(60)
        assert answer["r"].status_code == 200, answer["r"].text
        assert answer["r"].json()["status"] == "recorded"
        assert proc.wait(60) in (0, -signal.SIGTERM)  # drained, then ended by the signal (uvicorn re-raises it)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _out, err = proc.communicate()
    assert all(token not in err for token in tokens.values())  # tokens never appear in logs


def test_workers_are_for_postgresql(demo_store: tuple[Path, dict[str, str]]) -> None:
    path, _tokens = demo_store
    refused = subprocess.run(
        [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", str(path), "serve", "--workers", "2"],
        capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert refused.returncode == 2 and "one process" in refused.stderr


def test_a_store_outage_is_503_with_retry_after_and_the_retried_command_is_stored_once(
        tmp_path: Path, demo_store: tuple[Path, dict[str, str]]) -> None:
    from engagement_tracker.adapters.http import create_app

    source, tokens = demo_store
    path = tmp_path / "etrack.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    for extra in source.parent.glob(f"{source.name}?*"):  # the key vault and record key beside the store
        if not extra.name.endswith(("-wal", "-shm")):
            (tmp_path / extra.name).write_bytes(extra.read_bytes())
    app = open_tracker(f"sqlite:///{path}", env={"SQLITE_LOCK_TIMEOUT": "1"}, create=False)
    server, thread = start_server(create_app(app), port := free_port())
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {tokens['coach']}"},
                          timeout=60) as c:
            eid = next(p["id"] for p in c.get("/me").json()["places"] if p["state"] == "accompaniment.in_progress")
            before = app.recorder.max_notification_id()
            holder = exclusive_lock(path)
            try:
                down = c.post(f"/engagements/{eid}/steps/request_review", headers={"Idempotency-Key": "outage-1"})
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "1"
            assert down.headers["content-type"].startswith("application/problem+json")
            assert json.loads(down.text)["status"] == 503
            assert app.recorder.max_notification_id() == before
            retried = c.post(f"/engagements/{eid}/steps/request_review", headers={"Idempotency-Key": "outage-1"})
            assert retried.status_code == 200 and retried.json()["status"] == "recorded"
            again = c.post(f"/engagements/{eid}/steps/request_review", headers={"Idempotency-Key": "outage-1"})
            assert again.headers["idempotent-replayed"] == "true"
            assert app.recorder.max_notification_id() == before + 1
            assert c.get("/readyz").status_code == 200
    finally:
        server.should_exit = True
        thread.join(30)
        app.close()
    assert os.path.exists(path)
