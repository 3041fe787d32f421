"""The directory's rows as they are listed: one engagement or cohort, non-personal metadata only.

What ``etrack engagements`` and ``etrack cohorts`` print, apart from how the rows are kept
(``directory.py``, which imports both aggregates to know their topics): a read that only lists
the rows (``adapters/view_reads.py``) imports this module alone.
"""

from __future__ import annotations

from typing import Any

import attrs

NAME = "directory"
ENGAGEMENT, COHORT = "engagement", "cohort"


@attrs.frozen
class Entry:
    """One engagement or cohort as the directory lists it.

    ``position`` is the store position of its Created event (rows are listed in that order, the
    order opened); ``opened_at`` the date it was opened (ISO), ``updated_at`` the time of its
    last event (ISO 8601). ``coachee_kind`` is ``None`` for a cohort.
    """

    id: str
    kind: str
    position: int
    state: str
    org_unit: str
    coachee_kind: str | None
    sessions: int
    members: int
    rituals: int
    decisions: int
    missed_deadlines: int
    opened_at: str
    updated_at: str


#: The directory's columns: Entry's fields, in order.
COLUMNS: tuple[str, ...] = tuple(f.name for f in attrs.fields(Entry))


#: The columns of ``etrack engagements`` and ``etrack cohorts`` (an empty CSV still has its header).
ENGAGEMENT_COLUMNS = ("id", "state", "coachee_kind", "org_unit", "sessions", "opened_at")
COHORT_COLUMNS = ("id", "state", "org_unit", "members", "rituals", "decisions", "missed_deadlines")


def engagement_row(e: Entry) -> dict[str, Any]:
    """An engagement as ``etrack engagements`` prints it (no names, no content)."""
    return {"id": e.id, "state": e.state, "coachee_kind": e.coachee_kind, "org_unit": e.org_unit,
            "sessions": e.sessions, "opened_at": e.opened_at}


def cohort_row(c: Entry) -> dict[str, Any]:
    """A cohort as ``etrack cohorts`` prints it (no names, no content)."""
    return {"id": c.id, "state": c.state, "org_unit": c.org_unit, "members": c.members, "rituals": c.rituals,
            "decisions": c.decisions, "missed_deadlines": c.missed_deadlines}


__all__ = ["COHORT", "COHORT_COLUMNS", "COLUMNS", "ENGAGEMENT", "ENGAGEMENT_COLUMNS", "NAME", "Entry", "cohort_row",
           "engagement_row"]
