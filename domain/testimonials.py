"""Voluntary testimonials at closing (seed 004), the rules both aggregates share.

A coachee (of an engagement in closing or closed) or a cohort member (of a cohort in closing or
closed) may leave one testimonial: ratings on the fixed items (``TESTIMONIAL_ITEMS``, each 1 to
5, at least one) and an optional text, sealed under the author's own key (erasing the author
makes it unreadable for good). Anonymous by default. A step outside the workflow: it never
changes the state. Ratings reach analysts only as released aggregates (the ``testimonial``
family of ``projections/analytics.py``, under the same release rules as signals); a text is
quoted only with ``quote_consent``, never with a name, an identifier or a date finer than a
quarter (``testimonial_quotes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engagement_tracker.domain.checks import require_int
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Sealed, Testimonial
from engagement_tracker.domain.vocabulary import TESTIMONIAL_ITEMS

#: The states a testimonial may be left in (both workflows).
AT_CLOSING = ("closing", "closed")


def make_testimonial(ratings: object, text: Sealed | None, quote_consent: object, anonymous: object) -> Testimonial:
    """A checked testimonial, or InvalidInput naming what is accepted."""
    if not isinstance(ratings, Mapping) or not ratings:
        raise InvalidInput("ratings", f"expected item -> 1..5 for one or more of: {', '.join(TESTIMONIAL_ITEMS)}")
    checked: dict[str, int] = {}
    for item, score in ratings.items():
        if item not in TESTIMONIAL_ITEMS:
            raise InvalidInput("ratings", f"unknown item {item!r}; the items are: {', '.join(TESTIMONIAL_ITEMS)}")
        checked[str(item)] = require_int(score, f"ratings.{item}", 1, 5)
    for name, flag in (("quote_consent", quote_consent), ("anonymous", anonymous)):
        if not isinstance(flag, bool):
            raise InvalidInput(name, f"expected true or false, got {type(flag).__name__}")
    if quote_consent and text is None:
        raise InvalidInput("quote_consent", "there is no text to quote; leave a text or no consent")
    return Testimonial(checked, text, bool(quote_consent), bool(anonymous))


def require_first(authors: Any, author: str) -> None:
    if author in authors:
        raise InvalidInput("testimonial", "this author already left a testimonial here; one each")
