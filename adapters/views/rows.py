"""How the SQL views (SQLite, PostgreSQL) write read-model values as rows, and read them back."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import attrs

from engagement_tracker.domain.dimensions import DIMENSIONS
from engagement_tracker.projections.directory import COLUMNS, Entry

#: The directory's columns: Entry's fields, in order.
DIRECTORY_COLUMNS = COLUMNS

#: The audit trail's columns: AuditEntry's fields, in order.
AUDIT_COLUMNS = ("position", "aggregate_id", "aggregate_type", "version", "topic", "event_type", "actor", "role",
                 "recorded_at", "state_sha256", "prev_hash", "entry_hash")
FACT_COLUMNS = ("family", "metric", "unit", "month", "source", "persons", "theme", "context", "polarity",
                "intensity")
TALLY_COLUMNS = ("key", "family", "metric", "unit", "month", "theme", "context", "polarity", "intensity", "facts",
                 "persons", "sources")
#: The directory's columns (Entry's fields, in order) and its table, as SQL declares them.
DIRECTORY_TABLE_COLUMNS = (
    "id TEXT PRIMARY KEY, kind TEXT NOT NULL, position BIGINT NOT NULL, state TEXT NOT NULL, org_unit TEXT NOT NULL, "
    "coachee_kind TEXT, sessions INTEGER NOT NULL, members INTEGER NOT NULL, rituals INTEGER NOT NULL, "
    "decisions INTEGER NOT NULL, missed_deadlines INTEGER NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL"
)
#: A released row's dimensions, in the order of the released_rows table.
RELEASED_DIMENSIONS = DIMENSIONS  # the release tables' columns, in their order (domain/dimensions.py)


@functools.lru_cache(maxsize=4096)
def persons_json(persons: frozenset[str]) -> str:
    """A fact's persons as stored (sorted JSON), once per distinct set: a source's facts share it."""
    return json.dumps(sorted(persons))


def directory_row(e: Entry) -> tuple[Any, ...]:
    return attrs.astuple(e)


def entry_of(row: Sequence[Any]) -> Entry:
    return Entry(*(row[i] for i in range(len(DIRECTORY_COLUMNS))))
