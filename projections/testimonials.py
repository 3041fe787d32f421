"""Testimonial facts: one fact per rating of a testimonial, with its author as the person behind it.

A rating becomes a fact of the ``testimonial`` family whose metric is ``item=score``
(``would_recommend=5``), in the unit of the engagement or cohort it was left through and the
month it was left. Released only through ``AnalystService.testimonials`` under the same rules as
signals (k distinct persons per cell, complementary suppression, dominance, the region rule);
the text never becomes a fact.
"""

from __future__ import annotations

from typing import Any

from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.projections.anonymity import Fact
from engagement_tracker.projections.weak_signals import Sources, month_of

TESTIMONIALS = frozenset({Engagement.TestimonialLeft.TOPIC, Cohort.TestimonialLeft.TOPIC})


def testimonial_facts(event: Any, sources: Sources) -> list[Fact]:
    if getattr(type(event), "TOPIC", "") not in TESTIMONIALS:
        return []
    sid = str(event.originator_id)
    source = sources.get(sid)
    unit = source.unit if source else "unknown"
    author = frozenset({str(event.actor.party)})
    month = month_of(event.timestamp)
    return [Fact("testimonial", f"{item}={score}", unit, month, sid, author)
            for item, score in sorted(event.testimonial.ratings.items())]
