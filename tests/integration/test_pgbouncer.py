"""The served API through pgbouncer in **transaction** pooling mode (``?pooler=transaction``):
a private pgbouncer (tests/integration/pgbouncer.py) in front of the test's PostgreSQL, the demo
seeded and served by a real uvicorn through it, and the served API's main flows run unchanged
(commands with Idempotency-Key, role-filtered views, the audit trail, tokens). Then ``etrack serve``
as a process with ``--db`` through pgbouncer, under concurrent commands: nothing is stored twice.

What pooling in transaction mode breaks, and what these tests hold: a session advisory lock
taken through pgbouncer stays on a server connection its unlock never reaches (the store opens
under a transaction-level lock instead: no advisory lock is left behind); a statement prepared
in one transaction is unknown to the next server connection (``prepare_threshold=None``)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.bootstrap import ddl_lock_key
from engagement_tracker.adapters.demo import access_actor, demo_id
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _drop_schema
from tests.http_support import Live, free_port, serve_demo
from tests.integration import pgbouncer
from tests.integration.test_cli_and_demo import ROOT

# The served API's main flows, run here against the server behind pgbouncer (this module's ``live``).
from tests.integration.test_http_api import (  # noqa: F401  (collected here too)
    test_a_sponsor_reads_the_contract_scope_and_never_session_content,
    test_a_step_by_the_engagements_coach_is_recorded_once_per_idempotency_key,
    test_admins_issue_and_revoke_tokens_over_http,
    test_lists_page_by_cursor,
    test_me_names_the_party_and_its_places_only,
    test_the_auditor_pages_the_trail_streams_the_export_and_replays,
)

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def bouncer(postgres_available: None) -> Iterator[pgbouncer.Bouncer]:
    reason = pgbouncer.missing()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"pgbouncer is required here (ETRACK_REQUIRE_POSTGRES=1): {reason}")
        pytest.skip(reason)
    with pgbouncer.running(POSTGRES_URL) as running:
        yield running


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"t_bouncer_{uuid.uuid4().hex[:10]}"
    yield name
    _drop_schema(name)


@pytest.fixture(scope="module", name="live")
def live_fixture(bouncer: pgbouncer.Bouncer, schema: str) -> Iterator[Live]:
    """The demo, seeded and served through pgbouncer (every connection of the tracker goes through it)."""
    with serve_demo(bouncer.url(f"schema={schema}")) as running:
        yield running


def direct(query: str, *params: object) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL)), autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())


def test_the_served_store_went_through_pgbouncer_and_left_no_lock(live: Live, bouncer: pgbouncer.Bouncer,
                                                                   schema: str) -> None:
    assert live.app.env["POSTGRES_POOLER"] == "transaction"
    assert live.app.env["POSTGRES_PORT"] == str(bouncer.port)
    dbname = parse_url(POSTGRES_URL).postgres["POSTGRES_DBNAME"]  # type: ignore[index]
    assert bouncer.stats()[dbname]["total_xact_count"] > 100  # the seed's and the flows' transactions
    # the store opened (twice: seeding, serving) under a transaction-level lock: none is held now
    assert direct("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                  "WHERE d.datname = current_database() AND l.locktype = 'advisory' "
                  "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s", ddl_lock_key(schema)) == [(0,)]


def test_stores_open_together_through_pgbouncer(bouncer: pgbouncer.Bouncer) -> None:
    """Processes starting together on an empty schema (the DDL lock's case): all open, none waits on a
    lock leaked to a pooled server connection."""
    schema = f"t_bouncer_{uuid.uuid4().hex[:10]}"
    url = bouncer.url(f"schema={schema}")

    def open_and_close(_: int) -> int:
        app = open_tracker(url)
        try:
            return int(app.recorder.max_notification_id() or 0)
        finally:
            app.close()

    try:
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(open_and_close, range(8), timeout=120)) == [0] * 8
        assert {row[0] for row in direct("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                                         schema)} != {0}
    finally:
        _drop_schema(schema)


def test_more_stores_opening_at_once_than_pgbouncer_has_server_connections() -> None:
    """Six opens at once on an empty schema through a pool of two server connections: an open waiting for
    the DDL lock holds no server connection while it waits (each try is a transaction that ends), so the
    holder's second session always finds one. Waiting inside ``pg_advisory_xact_lock`` pinned one per
    waiter: the holder then waited for a connection the waiters held, and every open hung."""
    reason = pgbouncer.missing()
    if reason:
        pytest.skip(reason)
    schema = f"t_bouncer_{uuid.uuid4().hex[:10]}"
    with pgbouncer.running(POSTGRES_URL, pool_size=2) as small:
        url = small.url(f"schema={schema}&pool_size=1&max_overflow=0")

        def open_and_close(_: int) -> int:
            app = open_tracker(url)
            try:
                return int(app.recorder.max_notification_id() or 0)
            finally:
                app.close()

        try:
            with ThreadPoolExecutor(6) as pool:
                assert list(pool.map(open_and_close, range(6), timeout=90)) == [0] * 6
        finally:
            _drop_schema(schema)


def test_a_chatty_pgbouncer_never_blocks_on_its_log() -> None:
    """pgbouncer logs each connection to its stderr as well as its logfile: 600 connections write far
    more than a pipe holds (64 KiB). The helper sends stderr to a file, so pgbouncer still answers (an
    unread pipe blocked it in write(), and every client with it: the 60-tenant stall)."""
    import psycopg

    reason = pgbouncer.missing()
    if reason:
        pytest.skip(reason)
    with pgbouncer.running(POSTGRES_URL, pool_size=2) as chatty:
        info = postgres_conninfo(parse_url(chatty.url().replace("pooler=transaction", "")))
        for _ in range(600):
            with psycopg.connect(info, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        assert (chatty.root / "stderr.txt").stat().st_size > 65_536  # more than a pipe would have held
        with psycopg.connect(info, autocommit=True, connect_timeout=10) as conn:
            assert conn.execute("SELECT 42").fetchone() == (42,)


def etrack_serve(url: str, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """``etrack --db URL serve`` as an operator runs it, answering on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engagement_tracker.adapters.cli", "--db", url, "serve", "--port", str(port)],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "etrack serve exited") from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("etrack serve did not answer")


def test_etrack_serve_through_pgbouncer_stores_concurrent_commands_once(
        live: Live, bouncer: pgbouncer.Bouncer, schema: str, tmp_path: Path) -> None:
    """Eight clients at once, each sending the same command (one Idempotency-Key) and one of its own:
    the shared command is stored once and answered alike to all, each own command once."""
    admin = access_actor("admin")
    coach_token = str(live.app.access.issue_token(demo_id("coach-1"), admin).value.secret)
    proc, base = etrack_serve(bouncer.url(f"schema={schema}"), tmp_path)
    body = {"coachee": str(demo_id("coachee-3")), "sponsor": str(demo_id("sponsor-1")),
            "sponsor_function": "line_manager", "org_unit": "Finance"}
    try:
        before = live.events()
        start = threading.Barrier(8)

        def client(i: int) -> tuple[str, str]:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {coach_token}"}, timeout=60) as c:
                start.wait()
                shared = c.post("/engagements", json=body, headers={"Idempotency-Key": "bouncer-shared"})
                own = c.post("/engagements", json=body, headers={"Idempotency-Key": f"bouncer-own-{i}"})
            assert shared.status_code in (200, 201), shared.text
            assert own.status_code == 201, own.text
            return shared.json()["value"], own.json()["value"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(client, range(8), timeout=180))
        assert len({shared for shared, _ in answers}) == 1  # one engagement for the shared key
        assert len({own for _, own in answers}) == 8
        # one event per engagement opened, nothing twice (notification ids may skip: a sequence
        # value taken by a transaction that then lost a clash is not given back)
        stored = direct(f'SELECT originator_id, originator_version FROM "{schema}".etrack_events '
                        "WHERE notification_id > %s", before)
        assert sorted(str(oid) for oid, _ in stored) == sorted([answers[0][0], *(own for _, own in answers)])
        assert {version for _, version in stored} == {1}
    finally:
        proc.terminate()
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert "prepared statement" not in err and "Traceback" not in err, err
