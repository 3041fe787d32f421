"""Grant guards in the recording transactions: what every backend reads to check that the grants a
command relied on still hold when it commits (``domain/access.py``: ``GrantGuard``, ``GrantsMoved``).

The recorders (``sealed_recorders.py``, ``sealed_recorders_pg.py``, ``memory_store.py``) and the
release views (``views/``) read the access register's version here, inside their transaction, once
they hold the lock that orders them against any change to the register.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from engagement_tracker.domain.access import GrantGuard
from engagement_tracker.domain.grants import AccessRegister

#: The advisory lock a change to the access register holds (exclusive) and a release re-checking
#: its grants holds (shared) in their transactions (PostgreSQL).
REGISTER_LOCK = 0x65747261636B01


def register_version_before(stored_events: Sequence[StoredEvent], stored_max: int | None) -> int:
    """The access register's committed version before this batch: read in the transaction
    (``stored_max``, None when it has no event), or, when the batch itself changes the register, the
    version its first event follows (a batch inserted after another writer's would have clashed)."""
    own = [s.originator_version for s in stored_events if s.originator_id == AccessRegister.ID]
    return min(own) - 1 if own else int(stored_max or 0)


def guard_of(kwargs: dict[str, Any]) -> GrantGuard | None:
    """The grant guard a command's save hands its recording transaction (``CommandPath.write_guard``)."""
    guard = kwargs.get("grant_guard")
    return guard if isinstance(guard, GrantGuard) else None


def sqlite_register_version(c: Any, events_table: str) -> int | None:
    """The access register's latest version in an SQLite store, read with cursor ``c`` (its transaction)."""
    rid = AccessRegister.ID
    c.execute(f"SELECT MAX(originator_version) FROM {events_table} WHERE originator_id IN (?, ?)", (rid.hex, str(rid)))
    row = c.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def postgres_register_version(curs: Any, schema: str, events_table: str) -> int | None:
    """The access register's latest version in a PostgreSQL store, read with ``curs`` (its transaction;
    a fetch waits for what the pipeline sent before, the table's lock included)."""
    from psycopg.sql import SQL, Identifier  # psycopg is the postgres extra

    curs.execute(SQL("SELECT MAX(originator_version) AS v FROM {}.{} WHERE originator_id = %s").format(
        Identifier(schema), Identifier(events_table)), (AccessRegister.ID,))
    row = curs.fetchone()
    value = None if row is None else (row["v"] if isinstance(row, dict) else row[0])
    return None if value is None else int(value)
