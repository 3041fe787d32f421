"""High availability (issue #26): a multi-host store URL finds the primary by itself after a failover.

Two PostgreSQL 15 clusters of the test's own (a primary and a synchronous streaming standby). Writers
in threads, each with its own tracker on ``postgresql://primary,standby/...?target_session_attrs=
read-write``, register parties, each command with a command id, retrying the same id on a StoreError;
a projection runner follows the store. Mid-run the primary is stopped (``pg_ctl stop -m immediate``)
and the standby promoted. Afterwards every acknowledged command is in the new primary exactly once
and none is stored twice, the projections equal a rebuild, and the log verifies against a checkpoint
taken before. The seconds without service are printed (and bounded: 60 s).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters.bootstrap import open_tracker
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.errors import EtrackError
from engagement_tracker.projections.audit_trail import AuditTrail
from engagement_tracker.projections.directory import Directory
from tests.integration import pg_clusters

WRITERS = 4
BEFORE, AFTER, BOUND = 1.5, 1.5, 60.0


@pytest.fixture
def pair() -> Any:
    reason = pg_clusters.missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the failover test must run under CI: {reason}")
        pytest.skip(reason)
    with pg_clusters.primary_and_standby() as made:
        yield made


def _projected(app: Any) -> tuple[Any, ...]:
    runner = ProjectionRunner(app)
    runner.catch_up()
    trail = next(p for p in runner.projections if isinstance(p, AuditTrail)).view.head()
    listing = next(p for p in runner.projections if isinstance(p, Directory)).view.listing()
    return (trail.position, trail.entry_hash) if trail else None, sorted(map(repr, listing))


def test_a_failover_under_load_loses_and_doubles_nothing(pair: pg_clusters.Pair) -> None:
    env = {"ETRACK_RECORD_KEY": os.urandom(32).hex(), "ETRACK_RETRY_SECONDS": "5"}
    url = pair.url(query="target_session_attrs=read-write&schema=ha&connect_timeout=2")
    setup = open_tracker(url, env=env)
    admin = Actor(setup.access.initialise("Ada Admin").value, Role.ADMIN)
    auditor = Actor(setup.parties.register("person", "Aude Auditor").value, Role.AUDITOR)
    setup.access.grant(auditor.party, Role.AUDITOR, admin)
    key = Ed25519PrivateKey.generate()
    checkpoint = setup.audit.checkpoint(auditor, key)
    created_before = _party_count(setup)
    setup.close()

    acked: list[tuple[str, uuid.UUID, float]] = []
    untyped: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        app = open_tracker(url, env=env)
        try:
            i = 0
            while not stop.is_set():
                i += 1
                cid = str(uuid.uuid4())
                deadline = time.monotonic() + BOUND + 30
                while True:  # the same command id until acknowledged: recorded at most once
                    try:
                        pid = app.parties.register("person", f"Writer {n} #{i}", command_id=cid).value
                    except EtrackError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                        continue
                    with lock:
                        acked.append((cid, pid, time.monotonic()))
                    break
        except BaseException as exc:  # a raw driver error is a bug: commands raise typed errors
            untyped.append(exc)
        finally:
            app.close()

    runner_app = open_tracker(url, env=env)
    runner = ProjectionRunner(runner_app, poll_interval=0.1, max_outage=BOUND + 30)
    runner_thread = threading.Thread(target=runner.run, daemon=True)
    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    runner_thread.start()
    for t in threads:
        t.start()
    time.sleep(BEFORE)
    stopped_at = time.monotonic()
    acked_before = len(acked)
    pair.stop_primary_immediately()
    pair.promote_standby()
    promoted_at = time.monotonic()
    deadline = stopped_at + BOUND
    while time.monotonic() < deadline and not [a for a in acked if a[2] > promoted_at]:
        time.sleep(0.05)
    resumed = [a[2] for a in acked if a[2] > stopped_at]
    time.sleep(AFTER)
    stop.set()
    for t in threads:
        t.join(timeout=BOUND + 40)
    times = sorted(a[2] for a in acked)
    # the longest time no command was acknowledged, around the failover (what clients saw)
    without_service = max((b - a for a, b in itertools.pairwise(times) if b > stopped_at), default=BOUND + 1)
    print(f"\nfailover: {acked_before} commands acknowledged before, {len(acked) - acked_before} after; "
          f"{without_service:.2f} s without service (promotion took {promoted_at - stopped_at:.2f} s)")
    assert not untyped, untyped
    assert acked_before > 0 and resumed, "writes did not resume on the new primary"
    assert without_service <= BOUND

    app = open_tracker(url, env=env)  # the old primary is down: libpq goes on to the new one
    try:
        assert app.recorder is not None
        pids = [pid for _cid, pid, _at in acked]
        assert len(set(pids)) == len(pids)
        for pid in pids:
            app.parties.get(pid)  # every acknowledged command is there
        assert _party_count(app) == created_before + len(acked)  # and none is stored twice
        for cid, pid, _at in acked[:20]:  # a retry now finds what the first attempt recorded
            again = app.parties.register("person", "again", command_id=cid)
            assert again.value == pid and again.status == "already recorded"
        assert _party_count(app) == created_before + len(acked)

        deadline = time.monotonic() + 30  # the runner followed the store through the failover
        while runner.projections[0].position() < (app.recorder.max_notification_id() or 0):
            assert time.monotonic() < deadline, "the runner did not follow the new primary"
            time.sleep(0.1)
        runner.stop()
        runner_thread.join(timeout=30)
        followed = _projected(app)
        ProjectionRunner(app).rebuild()
        assert _projected(app) == followed  # the projections equal a rebuild

        report = app.audit.verify(auditor, checkpoint, key.public_key())
        assert report.ok, report.to_dict()
        assert report.checked == _count(app)  # every record (positions may skip: sequences jump at promotion)
    finally:
        app.close()
        runner_app.close()


def _party_count(app: Any) -> int:
    return _count(app, "etrack:Party.Created")


def _count(app: Any, topic: str | None = None) -> int:
    from psycopg.sql import SQL, Identifier

    where = SQL(" WHERE topic = %s") if topic else SQL("")
    with app.recorder.datastore.get_connection() as conn:
        row = conn.execute(SQL("SELECT count(*) AS n FROM {}.etrack_events").format(Identifier("ha")) + where,
                           (topic,) if topic else ()).fetchone()
    return int(row["n"])
