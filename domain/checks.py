"""Input checks shared by value objects and both workflow aggregates: one place for every limit.

Each check returns the accepted value or raises :class:`InvalidInput` naming the field and what
would be accepted. No clock, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

from engagement_tracker.domain.errors import InvalidInput

# Limits, stated in every refusal that applies them.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_SESSION_MINUTES = 8 * 60
MAX_CONTRACT_SESSIONS = 200
MAX_OBJECTIVES_PER_LEVEL = 10
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

# The only text kept in clear: short labels analysts group by or auditors match on. Their
# patterns keep free text (sentences, notes) out; they must never hold a person's name.
CLEAR_LABELS = {
    "org_unit": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9 &/_.-]{0,79}$"),
                 "letters, digits, spaces and & / _ . - (at most 80), e.g. 'Operations/Lyon'"),
    "reference": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,199}$"),
                  "a document reference without spaces (at most 200), e.g. 'DMS/2026/0042'"),
    "unit": (re.compile(r"^[A-Za-z%€$#][A-Za-z0-9 %/€$#.-]{0,39}$"),
             "a unit of measure (at most 40), e.g. 'hours', '%', 'tickets/week'"),
}


def require_label(text: object, field: str) -> str:
    """A clear-text label (org unit, document reference, unit of measure) matching its pattern."""
    pattern, accepted = CLEAR_LABELS[field]
    if not isinstance(text, str) or not pattern.match(text.strip()):
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "…"
        raise InvalidInput(field, f"{shown!r} is not {accepted}")
    return text.strip()


def require_text(text: object, field: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return ``text`` stripped, or raise InvalidInput naming the field and the limit."""
    if not isinstance(text, str):
        raise InvalidInput(field, f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(field, "must not be empty")
    if len(stripped) > max_chars:
        raise InvalidInput(field, f"{len(stripped)} characters; the limit is {max_chars}")
    return stripped


def require_int(number: object, field: str, low: int, high: int) -> int:
    """Return ``number`` if it is an int in [low, high], else raise InvalidInput."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidInput(field, f"expected a whole number, got {type(number).__name__}")
    if not low <= number <= high:
        raise InvalidInput(field, f"{number} is outside {low}..{high}")
    return number


def require_number(number: object, field: str) -> float:
    """Return ``number`` as a finite float, else raise InvalidInput."""
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InvalidInput(field, f"expected a number, got {type(number).__name__}")
    result = float(number)
    if not math.isfinite(result):
        raise InvalidInput(field, "must be a finite number")
    return result


def require_date(day: object, field: str) -> date:
    """Return ``day`` if it is a date (not a datetime), else raise InvalidInput."""
    if not isinstance(day, date) or hasattr(day, "hour"):
        raise InvalidInput(field, f"expected a date, got {type(day).__name__}")
    return day


def require_key(key: object, field: str) -> str:
    """Return ``key`` if it is a short identifier (letters, digits, '_', '.', '-'; 1-32)."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInput(field, f"{key!r} is not a key of 1-32 letters, digits, '_', '.', '-'")
    return key


E = TypeVar("E", bound=StrEnum)


def require_member(enum: type[E], raw: object, field: str) -> E:
    """Return ``raw`` as a member of ``enum``, or raise InvalidInput listing the accepted values."""
    try:
        if not isinstance(raw, str):
            raise ValueError(raw)
        return enum(raw)
    except ValueError:
        accepted = ", ".join(m.value for m in enum)
        raise InvalidInput(field, f"{raw!r} is not one of: {accepted}") from None


def tuple_of_members(enum: type[E], raw: object) -> tuple[E, ...]:
    """``raw`` (a list of values, not a string) as a tuple of ``enum`` members."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        raise InvalidInput(enum.__name__, f"expected a list of values, got {type(raw).__name__}")
    return tuple(require_member(enum, item, enum.__name__) for item in raw)


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC): when a deadline that falls on ``day`` has passed."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def require_time(at: object, field: str = "at") -> datetime:
    """The recorded time of a command: a timezone-aware datetime from the injected clock."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(field, "expected a timezone-aware datetime from the injected clock")
    return at


def not_before(day: date, earliest: date | None, field: str, what: str) -> date:
    """``day`` unless it falls before ``earliest`` (the date of ``what``): dates follow the workflow."""
    if earliest is not None and day < earliest:
        raise InvalidInput(field, f"{day} is before {what} ({earliest}); dates follow the engagement's order")
    return day
