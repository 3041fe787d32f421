"""What a cohort's reads show beyond its decisions, folded from its events.

The aggregate (``cohort_history.py``) keeps counts where its history grows (rituals held,
decisions and readings recorded) and, per ritual, only its metrics keeper; the rituals with their
artefacts, the decisions and the readings stay in their events and reach the views through this
record, folded by each event's ``keep`` (next to its ``evolve``). See ``engagement_record.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.values import Decision, MetricReading, Ritual


@attrs.define
class CohortRecord:
    """A cohort as its reads see it: ``cohort`` (the decision state) and what its events carry."""

    cohort: Cohort
    rituals: list[Ritual] = attrs.Factory(list)
    decisions: list[Decision] = attrs.Factory(list)
    readings: list[MetricReading] = attrs.Factory(list)  # every metric's readings, as recorded

    @classmethod
    def of(cls, events: Sequence[Any]) -> CohortRecord:
        """Fold a cohort's events, from its first (``Created``; no snapshot), in order."""
        record = cls(events[0].mutate(None))
        for event in events[1:]:
            event.mutate(record.cohort)
            event.keep(record)
        return record
