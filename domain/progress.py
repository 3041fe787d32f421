"""How progress is read: each indicator measurement classed as progress, learning dip or reached.

Seed 000: performance commonly drops while new practices are learnt. A measurement that falls
back from the previous one during accompaniment is a *learning dip*, shown as such and never
called a failure; failure exists only as a closing evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the rule reads an engagement's recorded indicators and measurements
    from engagement_tracker.domain.engagement_record import EngagementRecord


def indicator_progress(e: EngagementRecord, key: str) -> list[dict[str, Any]]:
    """Each measurement of an indicator, classed as progress, learning dip or reached.

    A measurement that falls back from the previous one during accompaniment is a
    *learning dip* (seed 000: performance commonly drops while new practices are learnt),
    never a failure; failure exists only as a closing evaluation.
    """
    indicator = e.indicators[key]
    span = indicator.target - indicator.baseline
    direction = 1.0 if span > 0 else -1.0
    previous = 0.0
    rows = []
    for m in (m for m in e.measurements if m.indicator == key):
        progress = (m.value - indicator.baseline) * direction
        if progress >= abs(span):
            status = "reached"
        elif progress < previous:
            status = "learning_dip"
        else:
            status = "progress"
        rows.append({"value": m.value, "measured_on": m.measured_on.isoformat(), "status": status,
                     "progress": round(progress / abs(span), 3)})
        previous = progress
    return rows
