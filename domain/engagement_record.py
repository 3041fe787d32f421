"""What an engagement's reads show beyond its decisions, folded from its events.

The aggregate (``engagement_history.py``) keeps only what its commands decide on: counts, last
dates, keys, statuses. Its snapshot therefore no longer grows with the history. Everything else
an engagement's events carry (sealed content, every session, measurement and date) stays in the
events, and reaches the views through this record: the events of one engagement, read from the
store and folded by each event's ``keep`` (next to its ``evolve``, in ``engagement_history.py``).
A read replays the engagement's events once; a command never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import attrs

from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.values import (
    Action,
    Evaluation,
    Indicator,
    Measurement,
    Objective,
    Sealed,
    Session,
    Testimonial,
)
from engagement_tracker.domain.vocabulary import Billing


@attrs.define
class EngagementRecord:
    """An engagement as its reads see it: ``engagement`` (the decision state, at the version the
    events reach) and the content its events carry, in the order they were recorded."""

    engagement: Engagement
    diagnosis: Sealed | None = None
    objectives: dict[str, Objective] = attrs.Factory(dict)
    indicators: dict[str, Indicator] = attrs.Factory(dict)
    sessions: list[Session] = attrs.Factory(list)
    session_billing: dict[str, str] = attrs.Factory(dict)  # session number -> paid | pro_bono
    session_group_size: dict[str, int] = attrs.Factory(dict)  # session number -> people coached (teams)
    actions: dict[str, Action] = attrs.Factory(dict)
    measurements: list[Measurement] = attrs.Factory(list)
    reviews_held: list[date] = attrs.Factory(list)
    quarterly_reviews: list[date] = attrs.Factory(list)
    evaluations: dict[str, Evaluation] = attrs.Factory(dict)
    closing_synthesis: Sealed | None = None
    recommendations: Sealed | None = None
    end_detail: Sealed | None = None
    testimonials: dict[str, Testimonial] = attrs.Factory(dict)  # author -> their testimonial
    #: Planned sessions, by key: starts_at, duration_minutes, place (sealed), status, session (when held).
    schedule: dict[str, dict[str, Any]] = attrs.Factory(dict)

    @classmethod
    def of(cls, events: Sequence[Any]) -> EngagementRecord:
        """Fold an engagement's events, from its first (``Created``; no snapshot), in order."""
        record = cls(events[0].mutate(None))
        for event in events[1:]:
            event.mutate(record.engagement)
            event.keep(record)
        return record

    def billing_of(self, number: int) -> str:
        """Whether session ``number`` was paid or pro bono (sessions before 0.3 were paid)."""
        return self.session_billing.get(str(number), Billing.PAID.value)
