"""The projection runner keeps following through a lost store, and stops typed only when the outage lasts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from engagement_tracker.adapters.bootstrap import read_model_backend, read_models
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import StoreError
from engagement_tracker.projections.audit_trail import AuditTrail
from tests.support import START, FakeClock, in_accompaniment, new_tracker


class Flaky:
    """The store as projections read it, failing its first ``failures`` pages (then for good if None)."""

    def __init__(self, events: Any, failures: int | None) -> None:
        self.events, self.failures, self.calls = events, failures, 0

    def page(self, start: int, limit: int) -> Sequence[Any]:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise OperationalError("server closed the connection unexpectedly")
        return self.events.page(start, limit)


def trail_size(app: Any) -> int:
    return next(p for p in read_models(app) if isinstance(p, AuditTrail)).position()


def test_a_runner_rides_out_a_short_outage_and_catches_up(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    in_accompaniment(app)
    stored = app.recorder.max_notification_id()
    flaky = Flaky(read_model_backend(app).records, failures=3)
    runner = ProjectionRunner(app, 0.01, events=flaky, max_outage=60)
    runner.run(until=lambda: trail_size(app) >= stored)
    assert runner.outages == 1 and flaky.calls > 3
    assert trail_size(app) == stored  # resumed from its positions: nothing lost, nothing twice
    app.close()


def test_a_persistent_outage_stops_the_runner_with_a_store_error(durable_store_url: str) -> None:
    app = new_tracker(durable_store_url, FakeClock())
    runner = ProjectionRunner(app, 0.01, events=Flaky(read_model_backend(app).records, failures=None), max_outage=1.0)
    began = time.monotonic()
    with pytest.raises(StoreError, match="ETRACK_RUNNER_MAX_OUTAGE=1") as err:
        runner.run()
    assert 1.0 <= time.monotonic() - began < 10
    assert "server closed the connection" in str(err.value)
    app.close()


def test_the_outage_bound_is_a_checked_setting() -> None:
    from engagement_tracker.domain import InvalidInput

    with pytest.raises(InvalidInput, match="ETRACK_RUNNER_MAX_OUTAGE"):
        new_tracker("memory:", ETRACK_RUNNER_MAX_OUTAGE="soon")
    app = new_tracker("memory:", ETRACK_RUNNER_MAX_OUTAGE="45")
    assert ProjectionRunner(app).max_outage == 45.0
    app.close()


def test_a_runner_follows_through_server_terminated_sessions(durable_store_url: str) -> None:
    if not durable_store_url.startswith("postgresql"):
        pytest.skip("a server session to terminate exists on PostgreSQL only")
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    app = new_tracker(durable_store_url, FakeClock())
    cast, eid = in_accompaniment(app)
    follower = new_tracker(durable_store_url)
    runner = ProjectionRunner(follower, 0.05, max_outage=120)
    failure: list[BaseException] = []

    def follow() -> None:
        try:
            runner.run()
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=follow)
    thread.start()
    with psycopg.connect(postgres_conninfo(parse_url(durable_store_url)), autocommit=True) as admin:
        for n in range(3):
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            for attempt in range(20):  # the writer's own session was cut too: it retries (StoreError says so)
                try:
                    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20 + n), 30, ["career"],
                                       command_id=f"after-cut-{n}")
                    break
                except StoreError:
                    time.sleep(0.2 * (attempt + 1))
    stored = app.recorder.max_notification_id()
    deadline = time.monotonic() + 90
    while trail_size(app) < stored and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.1)
    runner.stop()
    thread.join(30)
    assert not failure, failure
    assert trail_size(app) == stored  # every event projected once, after three cuts
    app.close()
    follower.close()
