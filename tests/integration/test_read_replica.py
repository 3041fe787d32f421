"""Read replicas (issue #26): ETRACK_READ_URL sends the read path to a PostgreSQL standby of the test's
own, with the replica's lag printed beside each answer; nothing is written there (the standby refuses
writes anyway), writes still go to the primary, and reads keep working while the primary is down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters.bootstrap import open_tracker
from engagement_tracker.adapters.replicas import replica_lag
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.errors import StoreError
from tests.integration import pg_clusters
from tests.integration.test_cli_failures import run
from tests.support import Cast, FakeClock, drive, event_count, open_engagement


@pytest.fixture
def pair() -> Any:
    reason = pg_clusters.missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the read-replica test must run under CI: {reason}")
        pytest.skip(reason)
    with pg_clusters.primary_and_standby() as made:
        yield made


def test_reads_go_to_the_standby_and_nothing_is_written_there(pair: pg_clusters.Pair, tmp_path: Path) -> None:
    primary = pair.url(query="schema=rr", both=False)
    standby = pair.standby_url("schema=rr")
    app = open_tracker(primary, clock=FakeClock())
    admin = Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)
    auditor = Actor(app.parties.register("person", "Aude Auditor").value, Role.AUDITOR)
    app.access.grant(auditor.party, Role.AUDITOR, admin)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "framing.tripartite")
    ProjectionRunner(app).catch_up()  # the primary's runner keeps the views; replication brings them
    stored = event_count(app)
    app.close()

    replica = open_tracker(standby, replica=True)
    try:
        lag = replica_lag(replica)
        assert lag is not None and 0 <= lag < 5  # a standby, synchronous: nothing left to replay
        assert event_count(replica) == stored
        with pytest.raises(StoreError, match=r"replica.*nothing was recorded"):  # refused before the standby
            replica.parties.register("person", "Nobody")
        with pytest.raises(StoreError, match=r"replica.*nothing was recorded"):  # a command with no new key
            replica.access.grant(cast.sponsor.party, Role.ANALYST, admin)
        with replica.recorder.datastore.get_connection() as conn, pytest.raises(Exception, match="read-only"):
            conn.execute("CREATE TABLE rr.nothing (x int)")  # and the standby refuses any write anyway
        assert replica.audit.verify(auditor).ok
    finally:
        replica.close()

    env = {"ETRACK_DATABASE_URL": primary, "ETRACK_READ_URL": standby}
    reads = [["audit", "verify", "--as", f"auditor:{auditor.party}"],
             ["audit", "export", "--as", f"auditor:{auditor.party}"],
             ["engagements", "--as", f"auditor:{auditor.party}"],
             ["show", str(eid), "--as", f"coach:{cast.coach.party}"],
             ["timeline", str(eid), "--as", f"coach:{cast.coach.party}"],
             ["replay", str(eid), "--as", f"auditor:{auditor.party}"]]
    for line in reads:
        proc = run(*line, cwd=tmp_path, env=env)
        assert proc.returncode == 0, (line, proc.stderr)
        assert f"read from the replica at 127.0.0.1:{pair.standby_port}: 0.00 s behind the primary" in proc.stderr, (
            line, proc.stderr)
    grant = run("grant", "coach", str(cast.other_coachee.party), "--as", f"admin:{admin.party}", cwd=tmp_path, env=env)
    assert grant.returncode == 0 and "replica" not in grant.stderr, grant.stderr  # a write: the primary

    pair.stop_primary_immediately()  # the reads never needed it
    for line in reads[:3]:
        proc = run(*line, cwd=tmp_path, env=env)
        assert proc.returncode == 0, (line, proc.stderr)
    after = open_tracker(standby, replica=True)
    try:
        assert event_count(after) == stored + 1  # the grant, replicated; nothing else
    finally:
        after.close()

    proc = run(*reads[0], cwd=tmp_path, env={**env, "ETRACK_READ_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    assert proc.returncode == 4 and "a read replica is a PostgreSQL standby" in proc.stderr
