"""Projections beside writers: a clash or a busy database is retried; anything else is not."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from adapters import projection
from adapters.projection import BUSY_RETRIES, Contention
from domain import StoreError


def test_a_tracking_clash_is_absorbed_without_limit() -> None:
    contention = Contention()
    for _ in range(BUSY_RETRIES * 2):
        contention.absorb(IntegrityError("UNIQUE constraint failed: tracking"))
    assert contention.busy == 0


def test_a_busy_database_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(projection.time, "sleep", slept.append)
    contention = Contention()
    for _ in range(BUSY_RETRIES):
        contention.absorb(OperationalError("database is locked"))
    assert len(slept) == BUSY_RETRIES and max(slept) <= 0.25 and slept == sorted(slept)
    with pytest.raises(StoreError, match="stayed busy"):
        contention.absorb(OperationalError("database is locked"))


def test_any_other_store_error_is_not_retried() -> None:
    with pytest.raises(OperationalError, match="no such table"):
        Contention().absorb(OperationalError("no such table: audit_trail"))
