"""Retention: how long an engagement's session content is kept once the engagement has ended.

The rule, in one place. A deployment's policy (``ETRACK_RETENTION_SESSION_CONTENT_YEARS``, read
in ``checks.py``; unset keeps content for ever) says how many years after an engagement ends
(closed, declined or abandoned) the notes of its sessions are erased. Those notes are sealed
under a key of their own per engagement (:func:`session_subject`), so erasing them destroys that
one key, as a GDPR erasure destroys a person's: everything else about the engagement (its
objectives, indicators, dates, the coachee's name) stays, and the history and its audit chain
still verify. ``tick`` records each erasure as an ``Engagement.SessionContentErased`` event (the
policy, when it fell due, the key destroyed) and then destroys the key, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

if TYPE_CHECKING:
    from engagement_tracker.domain.engagement_history import EngagementHistory

#: The most years a policy may keep content (a typo such as 500 is refused, not obeyed).
MAX_YEARS = 100


@attrs.frozen
class RetentionPolicy:
    """``session_content_years``: years after an engagement ends before its session notes are erased
    (None: kept for ever)."""

    session_content_years: int | None = None

    def describe(self) -> str:
        """The policy as recorded in each erasure event."""
        return f"session content erased {self.session_content_years} years after the engagement ended"


def session_subject(coachee: UUID, engagement_id: UUID) -> str:
    """The key that seals one engagement's session notes. It names the coachee first, so their subject
    access export finds it, and erasing the coachee destroys it too (``parties.erase``)."""
    return f"{coachee}/sessions/{engagement_id}"


def years_after(when: datetime, years: int) -> datetime:
    """The same instant ``years`` calendar years later (29 February falls on 28 February)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


def session_content_due(e: EngagementHistory, policy: RetentionPolicy) -> datetime | None:
    """When the policy erases ``e``'s session content: None while it runs, when no policy is set, or once
    the erasure was recorded."""
    if policy.session_content_years is None or e.ended_at is None or e.session_content_erased_at is not None:
        return None
    return years_after(e.ended_at, policy.session_content_years)


__all__ = ["MAX_YEARS", "RetentionPolicy", "session_content_due", "session_subject", "years_after"]
