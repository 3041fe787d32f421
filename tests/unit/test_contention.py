"""Projections beside writers: a clash or a busy database is retried; anything else is not."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from engagement_tracker.domain import StoreError
from engagement_tracker.projections import tracking
from engagement_tracker.projections.tracking import BUSY_PATIENCE, Contention


def test_a_tracking_clash_is_absorbed_without_limit() -> None:
    contention = Contention()
    for _ in range(1000):
        contention.absorb(IntegrityError("UNIQUE constraint failed: tracking"))
    assert contention.busy == 0


def test_a_busy_database_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"now": 100.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds + 1.0  # each attempt also waited a second for the lock

    monkeypatch.setattr(tracking.time, "sleep", sleep)
    monkeypatch.setattr(tracking.time, "monotonic", lambda: clock["now"])
    contention = Contention()
    with pytest.raises(StoreError, match="stayed busy"):
        for _ in range(1000):
            contention.absorb(OperationalError("database is locked"))
    assert clock["now"] - 100.0 > BUSY_PATIENCE and len(slept) < 100  # patience is time, not a count
    assert max(slept) <= 0.25 and slept == sorted(slept)


def test_any_other_store_error_is_not_retried() -> None:
    with pytest.raises(StoreError, match="no such table") as info:  # typed (issue #11), not retried
        Contention().absorb(OperationalError("no such table: audit_trail"))
    assert isinstance(info.value.__cause__, OperationalError)


def test_patience_starts_afresh_once_a_page_goes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"now": 0.0}
    monkeypatch.setattr(tracking.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(tracking.time, "monotonic", lambda: clock["now"])
    contention = Contention()
    for _ in range(5):  # a busy moment now and then, over a long catch-up: never reported
        contention.absorb(OperationalError("database is locked"))
        contention.ok()
        clock["now"] += BUSY_PATIENCE
    contention.absorb(OperationalError("database is locked"))
    assert contention.busy == 1
