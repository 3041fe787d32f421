"""Aggregate ids as the audit trail and the record seals name them, from the forms the store writes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engagement_tracker.projections.audit_chain import ODD_ID


def dashed(hexa: str) -> str:
    """A UUID's 36-character form from its 32 hex digits (as ``UUID.hex`` writes them)."""
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


def canonical_id(originator_id: Any) -> str:
    """A UUID's 36-character form, from a UUID or from SQLite's stored form (32 lowercase hex digits).

    Any other stored text (even a UUID's dashed or uppercase spelling, which eventsourcing would
    parse, but under which the event no longer loads with its aggregate) is never a record the
    store wrote: it is named ``[stored as '...']`` so that it matches no trail entry.
    """
    if isinstance(originator_id, UUID):
        return str(originator_id)
    text = str(originator_id)
    if len(text) == 32 and not text.strip("0123456789abcdef"):
        return dashed(text)
    return f"{ODD_ID}{text!r}]"


def hex_id(stored: Any) -> str | None:
    """The canonical form of an id as SQLite's store writes it (32 lowercase hex digits); None for any
    other value, which the store never writes (the streaming verification pass then defers to the
    full comparison, where :func:`canonical_id` names it)."""
    if type(stored) is str and len(stored) == 32 and not stored.strip("0123456789abcdef"):
        return dashed(stored)
    return None


def uuid_text(stored: Any) -> str | None:
    """The canonical form of a PostgreSQL uuid read as text (``originator_id::text``): itself."""
    return stored if type(stored) is str else None
