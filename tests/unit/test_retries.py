"""A clash is another writer's progress: retried until the command goes through, its decision
fails on the new state, or the time bound passes."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from engagement_tracker.domain import ConcurrencyConflict, EngagementTracker, InvalidInput
from tests.support import Cast, FakeClock, event_count, new_tracker, open_engagement


def clashing_save(app: EngagementTracker, clashes: int) -> list[int]:
    """Make the next ``clashes`` saves fail as if another writer had committed first."""
    seen = [0]
    real_save = app.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] <= clashes:
            raise IntegrityError("another writer committed this version first")
        return real_save(*aggregates, **kwargs)

    app.save = save  # type: ignore[method-assign]
    return seen


def test_a_command_that_clashes_a_few_times_goes_through_once() -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    before = event_count(app)
    seen = clashing_save(app, clashes=5)
    app.engagements.hold_first_meeting(eid, cast.coach, date(2026, 1, 5))
    assert seen[0] == 6 and event_count(app) == before + 1


def test_clashes_without_end_stop_at_the_time_bound_and_record_nothing() -> None:
    app = new_tracker("memory:", FakeClock(), ETRACK_RETRY_SECONDS="0.3")
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    before = event_count(app)
    clashing_save(app, clashes=10**9)
    started = time.monotonic()
    with pytest.raises(ConcurrencyConflict, match=r"for 0\.3 s; nothing was recorded"):
        app.engagements.hold_first_meeting(eid, cast.coach, date(2026, 1, 5))
    assert 0.3 <= time.monotonic() - started < 5
    assert event_count(app) == before


def test_an_optional_cap_on_retries_still_holds() -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    app.max_retries = 2
    seen = clashing_save(app, clashes=10**9)
    with pytest.raises(ConcurrencyConflict, match="3 times in a row"):
        app.engagements.hold_first_meeting(eid, cast.coach, date(2026, 1, 5))
    assert seen[0] == 3


@pytest.mark.parametrize("value", ["abc", "0", "-1", "99999"])
def test_a_bad_retry_bound_names_the_setting(value: str) -> None:
    with pytest.raises(InvalidInput, match="ETRACK_RETRY_SECONDS"):
        new_tracker("memory:", FakeClock(), ETRACK_RETRY_SECONDS=value)
