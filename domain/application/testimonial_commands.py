"""The testimonial steps of the application and the analysts' quotes (rules: ``testimonials.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engagement_tracker.domain.access import require_analyst
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.confidential import ERASED
from engagement_tracker.domain.checks import require_optional_int
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.testimonials import make_testimonial
from engagement_tracker.domain.values import Actor


def _quarter(at: datetime) -> str:
    return f"{at.year:04d}-Q{(at.month - 1) // 3 + 1}"


def leave_testimonial(
    path: CommandPath,
    cls: type[Engagement] | type[Cohort],
    agg_id: object,
    actor: Actor,
    ratings: Mapping[str, int],
    text: str | None,
    quote_consent: bool,
    anonymous: bool,
    command_id: object,
) -> CommandResult[None]:
    """A coachee (of an engagement) or a member (of a cohort) leaves a voluntary testimonial at
    closing: ratings 1-5 (checked before anything is read), an optional text sealed under the
    author's own key once who and when were checked."""
    make_testimonial(ratings, None, False, anonymous)

    def command(agg: Engagement | Cohort, at: datetime) -> None:
        agg.check_testimonial(actor)
        sealed = path.sealing.seal_optional(actor.party, text, "text")
        agg.leave_testimonial(actor, at, make_testimonial(ratings, sealed, quote_consent, anonymous))

    kind = "engagement" if cls is Engagement else "cohort"
    return path.update(cls, agg_id, kind, command, command_id=command_id)


def quotes(path: CommandPath, viewer: Actor, k: int | None = None) -> list[dict[str, Any]]:
    """For analysts: the texts their authors consented to have quoted, with the quarter only.

    No name, no identifier, no finer date. A quarter's quotes are listed only when at least
    ``k`` distinct people (default ``ETRACK_K_MIN``) left a testimonial in it; otherwise the
    quarter is listed as suppressed. An erased author's text is unreadable and never quoted.
    """
    require_analyst(viewer, "read testimonial quotes", path.held_grants)
    k_min = require_optional_int(k, "k", path.settings.k_min, path.settings.k_min, 10_000)
    authors: dict[str, set[str]] = {}
    found: dict[str, list[str]] = {}
    for topic in (Engagement.Created.TOPIC, Cohort.Created.TOPIC):
        for agg_id in list(path.ids_of(topic)):
            for event in path.events.get(agg_id):
                if not isinstance(event, (Engagement.TestimonialLeft, Cohort.TestimonialLeft)):
                    continue
                quarter = _quarter(event.timestamp)
                authors.setdefault(quarter, set()).add(str(event.actor.party))
                t = event.testimonial
                if t.quote_consent and t.text is not None and not path.sealer.is_erased(t.text.subject):
                    text = path.sealing.unseal(t.text)
                    if text is not None and text != ERASED:
                        found.setdefault(quarter, []).append(text)
    rows: list[dict[str, Any]] = []
    for quarter in sorted(authors):
        if len(authors[quarter]) < k_min:
            rows.append({"period": quarter, "quote": None, "status": "suppressed"})
            continue
        # in an order that says nothing about who wrote first: by the text's digest
        for text in sorted(found.get(quarter, []), key=lambda q: hashlib.sha256(q.encode()).hexdigest()):
            rows.append({"period": quarter, "quote": text, "status": "released"})
    return rows
