"""History reads forwards (issue #14): a command timed before its aggregate's last event is refused,
typed, and records nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engagement_tracker.domain.errors import EtrackError, RecordedOutOfOrder
from tests.support import Cast, FakeClock, event_count, new_tracker, open_engagement


def test_an_event_before_the_previous_one_is_refused_and_writes_nothing() -> None:
    clock = FakeClock()
    app = new_tracker("memory:", clock)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    opened_at = app.engagements.get(eid).modified_on
    before = event_count(app)
    clock.now = opened_at - timedelta(days=3)  # the host's clock was set back
    with pytest.raises(RecordedOutOfOrder, match="before its previous event") as refused:
        app.engagements.hold_first_meeting(eid, cast.coach, (opened_at - timedelta(days=3)).date())
    assert isinstance(refused.value, EtrackError) and isinstance(refused.value, ValueError)
    assert event_count(app) == before
    clock.now = opened_at  # the same instant is in order
    app.engagements.hold_first_meeting(eid, cast.coach, opened_at.date())
    assert app.engagements.get(eid).version == 2
