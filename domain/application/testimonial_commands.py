"""The testimonial steps of the application and the analysts' quotes (rules: ``testimonials.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engagement_tracker.domain.access import require_analyst
from engagement_tracker.domain.application.command_path import ERASED, CommandPath
from engagement_tracker.domain.checks import require_optional_int
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.testimonials import make_testimonial
from engagement_tracker.domain.values import Actor

if TYPE_CHECKING:
    from engagement_tracker.domain.application.command_path import CommandPath


def _quarter(at: datetime) -> str:
    return f"{at.year:04d}-Q{(at.month - 1) // 3 + 1}"


class EngagementTestimonials(CommandPath):
    """``app.leave_testimonial(engagement_id, coachee, ratings, text=None, quote_consent=False)``."""

    def leave_testimonial(
        self,
        engagement_id: object,
        actor: Actor,
        ratings: Mapping[str, int],
        text: str | None = None,
        quote_consent: bool = False,
        anonymous: bool = True,
        *,
        command_id: object = None,
    ) -> None:
        """The coachee leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
        make_testimonial(ratings, None, False, anonymous)  # the ratings are checked before anything is read

        def command(e: Engagement, at: datetime) -> None:
            e.check_testimonial(actor)  # who and when, before the text is sealed
            sealed = self._seal_optional(actor.party, text, "text")  # under the author's own key
            e.leave_testimonial(actor, at, make_testimonial(ratings, sealed, quote_consent, anonymous))

        self._update(Engagement, engagement_id, "engagement", command, command_id=command_id)

    def testimonial_quotes(self, viewer: Actor, k: int | None = None) -> list[dict[str, Any]]:
        """For analysts: the texts their authors consented to have quoted, with the quarter only.

        No name, no identifier, no finer date. A quarter's quotes are listed only when at least
        ``k`` distinct people (default ``ETRACK_K_MIN``) left a testimonial in it; otherwise the
        quarter is listed as suppressed. An erased author's text is unreadable and never quoted.
        """
        require_analyst(viewer, "read testimonial quotes", self.held_grants)
        k_min = require_optional_int(k, "k", self.settings.k_min, self.settings.k_min, 10_000)
        reads: Any = self
        authors: dict[str, set[str]] = {}
        quotes: dict[str, list[str]] = {}
        for ids in (reads.engagement_ids(), reads.cohort_ids()):
            for agg_id in ids:
                for event in self.events.get(agg_id):
                    if not isinstance(event, (Engagement.TestimonialLeft, Cohort.TestimonialLeft)):
                        continue
                    quarter = _quarter(event.timestamp)
                    authors.setdefault(quarter, set()).add(str(event.actor.party))
                    t = event.testimonial
                    if t.quote_consent and t.text is not None and not self.sealer.is_erased(t.text.subject):
                        text = self.unseal(t.text)
                        if text is not None and text != ERASED:
                            quotes.setdefault(quarter, []).append(text)
        rows: list[dict[str, Any]] = []
        for quarter in sorted(authors):
            if len(authors[quarter]) < k_min:
                rows.append({"period": quarter, "quote": None, "status": "suppressed"})
                continue
            # in an order that says nothing about who wrote first: by the text's digest
            for text in sorted(quotes.get(quarter, []), key=lambda q: hashlib.sha256(q.encode()).hexdigest()):
                rows.append({"period": quarter, "quote": text, "status": "released"})
        return rows


class CohortTestimonials:
    """``app.cohorts.leave_testimonial(cohort_id, member, ratings, text=None, quote_consent=False)``."""

    app: CommandPath

    def leave_testimonial(
        self,
        cohort_id: object,
        actor: Actor,
        ratings: Mapping[str, int],
        text: str | None = None,
        quote_consent: bool = False,
        anonymous: bool = True,
        *,
        command_id: object = None,
    ) -> None:
        """A member leaves a voluntary testimonial at closing: ratings 1-5, an optional text (sealed)."""
        make_testimonial(ratings, None, False, anonymous)

        def command(c: Cohort, at: datetime) -> None:
            c.check_testimonial(actor)
            sealed = self.app._seal_optional(actor.party, text, "text")
            c.leave_testimonial(actor, at, make_testimonial(ratings, sealed, quote_consent, anonymous))

        self.app._update(Cohort, cohort_id, "cohort", command, command_id=command_id)
