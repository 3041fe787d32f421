"""Input checks shared by value objects and both workflow aggregates: one place for every limit.

Each check returns the accepted value or raises :class:`InvalidInput` naming the field and what
would be accepted. No clock, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from engagement_tracker.domain.errors import InvalidInput

# Limits, stated in every refusal that applies them.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_SESSION_MINUTES = 8 * 60
MAX_CONTRACT_SESSIONS = 200
MAX_GROUP_SIZE = 500  # people coached in one team session (ICF hours log)
MAX_OBJECTIVES_PER_LEVEL = 10
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

# The only text kept in clear: short labels analysts group by or auditors match on. Their
# patterns keep free text (sentences, notes) out; they must never hold a person's name.
# A label is a few words, never a sentence: an org unit is at most four levels joined by '/', each
# of at most three words ('Customer Service/Lyon'); a unit of measure at most three words. (No
# pattern can tell a name from a unit's name: 'Marc Petit' has the shape of 'Digital Factory'.)
# Letters are any script's (``[^\W_]``: 'Opérations/Zürich'), compared in NFC (see require_label).
_WORD = r"(?:[^\W_]|&)[\w&.-]*"
_LEVEL = rf"{_WORD}(?: {_WORD}){{0,2}}"
CLEAR_LABELS = {
    "org_unit": (re.compile(rf"^(?=.{{1,80}}$){_LEVEL}(?: ?/ ?{_LEVEL}){{0,3}}$"),
                 "an org unit: up to four levels joined by '/', each of at most three words of letters (accents "
                 "too), digits and & _ . - (at most 80 characters, no sentence), e.g. 'Operations/Lyon', "
                 "'Opérations/Zürich'"),
    "reference": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,199}$"),
                  "a document reference without spaces (at most 200), e.g. 'DMS/2026/0042'"),
    "unit": (re.compile(r"^(?=.{1,40}$)(?:[^\W\d_]|[%€$#])[\w%/€$#.-]*(?: [\w%/€$#.-]+){0,2}$"),
             "a unit of measure of at most three words (at most 40 characters), e.g. 'hours', '%', "
             "'tickets/week', 'tickets per week'"),
}


def as_uuid(value: object, field: str) -> UUID:
    """Accept a UUID or its string form; anything else is InvalidInput."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidInput(field, f"{value!r} is not an id (a UUID)")


def require_label(text: object, field: str, name: str | None = None) -> str:
    """A clear-text label (org unit, document reference, unit of measure) matching its pattern.

    ``name`` is the argument's name in the refusal when it is not the label's kind.
    """
    pattern, accepted = CLEAR_LABELS[field]
    label = unicodedata.normalize("NFC", text.strip()) if isinstance(text, str) else None
    if label is None or not pattern.match(label):
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "…"
        raise InvalidInput(name or field, f"{shown!r} is not {accepted}")
    return label


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


# --- settings: every ETRACK_* value read from the environment, parsed in one place --------------

#: The fewest distinct persons behind a released cell, whatever is asked (ETRACK_K_MIN cannot go lower).
MIN_K = 3
CIPHER_KEY_BYTES = (16, 24, 32)
#: A signal theme: a lowercase word, or words joined by '_' (the grid's and ETRACK_SIGNAL_THEMES').
THEME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def require_setting_int(raw: object, key: str, default: int, low: int) -> int:
    """A whole-number setting (its text from the environment), ``default`` when unset or empty."""
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or int(text) < low:
        raise InvalidInput(key, f"{raw!r} is not accepted; expected a whole number >= {low} (default {default})")
    return int(text)


def require_cipher_key(raw: object, key: str = "ETRACK_CIPHER_KEY") -> str | None:
    """An AES key for whole-store encryption: base64 of 16, 24 or 32 bytes (``etrack new-cipher-key``)."""
    if raw is None or raw == "":
        return None
    accepted = "expected the base64 of a 16, 24 or 32-byte AES key, as `etrack new-cipher-key` prints"
    if not isinstance(raw, str):
        raise InvalidInput(key, f"{accepted}, got {type(raw).__name__}")
    try:
        size = len(base64.b64decode(raw.strip(), validate=True))
    except (ValueError, binascii.Error):
        raise InvalidInput(key, f"not base64; {accepted}") from None
    if size not in CIPHER_KEY_BYTES:
        raise InvalidInput(key, f"decodes to {size} bytes; {accepted}")
    return raw.strip()


RECORD_KEY_BYTES = 32


def require_record_key(raw: object, key: str = "ETRACK_RECORD_KEY") -> bytes | None:
    """The record key that seals every stored event: 64 hex characters or the base64 of 32 bytes."""
    if raw is None or raw == "":
        return None
    accepted = "expected a 32-byte key as 64 hex characters or base64 (`etrack new-record-key` prints one)"
    if not isinstance(raw, str):
        raise InvalidInput(key, f"{accepted}, got {type(raw).__name__}")
    text = raw.strip()
    try:
        data = bytes.fromhex(text) if len(text) == 2 * RECORD_KEY_BYTES else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput(key, f"neither hex nor base64; {accepted}") from None
    if len(data) != RECORD_KEY_BYTES:
        raise InvalidInput(key, f"decodes to {len(data)} bytes; {accepted}")
    return data


@dataclass(frozen=True)
class Settings:
    """The deployment's settings, checked when the tracker opens (never at first use)."""

    k_min: int = 5
    snapshot_interval: int | None = None
    teams_warn_above: int = 3
    teams_refuse_above: int = 4
    signal_themes: tuple[str, ...] = ()
    cipher_key: str | None = None
    retry_seconds: float = 10.0
    record_key: bytes | None = None
    runner_max_outage: float = 300.0
    off_track_weeks: int = 4
    drift_window: int = 5
    drift_z: float = 2.0
    #: Years after an engagement ends before its session notes are erased (None: kept; ``retention.py``).
    retention_session_content_years: int | None = None
    #: The delta of every differentially private release, and at which budgets' epsilon is reported.
    dp_delta: float = 1e-6


#: Every ETRACK_* setting a deployment may give (environment variables, or the CLI's TOML file);
#: :func:`read_settings` parses the tracker's own, the adapters read the others.
SETTING_NAMES = (
    "ETRACK_DATABASE_URL", "ETRACK_K_MIN", "ETRACK_SNAPSHOT_INTERVAL", "ETRACK_TEAMS_WARN_ABOVE",
    "ETRACK_TEAMS_REFUSE_ABOVE", "ETRACK_SIGNAL_THEMES", "ETRACK_CIPHER_KEY", "ETRACK_RETRY_SECONDS",
    "ETRACK_RECORD_KEY", "ETRACK_RUNNER_MAX_OUTAGE", "ETRACK_VAULT_PATH", "ETRACK_AUDIT_SIGNING_KEY",
    "ETRACK_AUDIT_PUBLIC_KEY", "ETRACK_AS", "ETRACK_LOG_LEVEL", "ETRACK_JSON_ERRORS",
    "ETRACK_OFF_TRACK_WEEKS", "ETRACK_DRIFT_WINDOW", "ETRACK_DRIFT_Z", "ETRACK_RETENTION_SESSION_CONTENT_YEARS",
    "ETRACK_DP_DELTA",
    "ETRACK_SMTP_HOST", "ETRACK_SMTP_PORT", "ETRACK_SMTP_FROM", "ETRACK_SMTP_STARTTLS",
    "ETRACK_TENANT", "ETRACK_TENANT_KEYS",
    "ETRACK_MAX_OPEN_TENANTS",  # set by etrack serve --all-tenants --max-open-tenants for its workers
    "ETRACK_READ_URL",
    "ETRACK_LOG_DIR", "ETRACK_WITNESS_KEY", "ETRACK_WITNESS_STATE", "ETRACK_INSECURE_COOKIE",
)


def read_settings(get: Callable[[str], object]) -> Settings:
    """Every ETRACK_* setting from ``get`` (the environment), or InvalidInput naming the variable
    and what it accepts."""
    interval = get("ETRACK_SNAPSHOT_INTERVAL")
    extra = [t.strip() for t in str(get("ETRACK_SIGNAL_THEMES") or "").split(",") if t.strip()]
    bad = [t for t in extra if not THEME_PATTERN.match(t)]
    if bad:
        raise InvalidInput("ETRACK_SIGNAL_THEMES", f"{bad}: themes are lowercase words joined by '_'")
    return Settings(
        k_min=require_setting_int(get("ETRACK_K_MIN"), "ETRACK_K_MIN", 5, MIN_K),
        snapshot_interval=None if interval in (None, "") else require_setting_int(
            interval, "ETRACK_SNAPSHOT_INTERVAL", 20, 1),
        teams_warn_above=require_setting_int(get("ETRACK_TEAMS_WARN_ABOVE"), "ETRACK_TEAMS_WARN_ABOVE", 3, 1),
        teams_refuse_above=require_setting_int(get("ETRACK_TEAMS_REFUSE_ABOVE"), "ETRACK_TEAMS_REFUSE_ABOVE", 4, 1),
        signal_themes=tuple(extra),
        cipher_key=require_cipher_key(get("ETRACK_CIPHER_KEY")),
        retry_seconds=require_setting_seconds(get("ETRACK_RETRY_SECONDS"), "ETRACK_RETRY_SECONDS", 10.0, 3600.0),
        record_key=require_record_key(get("ETRACK_RECORD_KEY")),
        runner_max_outage=require_setting_seconds(
            get("ETRACK_RUNNER_MAX_OUTAGE"), "ETRACK_RUNNER_MAX_OUTAGE", 300.0, 86400.0),
        off_track_weeks=require_setting_int(get("ETRACK_OFF_TRACK_WEEKS"), "ETRACK_OFF_TRACK_WEEKS", 4, 1),
        drift_window=require_setting_int(get("ETRACK_DRIFT_WINDOW"), "ETRACK_DRIFT_WINDOW", 5, 2),
        drift_z=require_setting_float(get("ETRACK_DRIFT_Z"), "ETRACK_DRIFT_Z", 2.0, 100.0),
        retention_session_content_years=_retention_years(get("ETRACK_RETENTION_SESSION_CONTENT_YEARS")),
        dp_delta=require_setting_float(get("ETRACK_DP_DELTA"), "ETRACK_DP_DELTA", 1e-6, 1e-3),
    )


def _retention_years(raw: object) -> int | None:
    """Years of the retention policy (1 to 100), or None (unset or empty: content is kept)."""
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise InvalidInput("ETRACK_RETENTION_SESSION_CONTENT_YEARS",
                           f"{raw!r} is not accepted; expected whole years from 1 to 100, or unset to keep content")
    return int(text)


def require_setting_float(raw: object, name: str, default: float, most: float) -> float:
    """A number setting above 0 and at most ``most``; unset is ``default``."""
    if raw in (None, ""):
        return default
    try:
        number = float(str(raw))
    except ValueError:
        number = -1.0
    if not 0 < number <= most:
        raise InvalidInput(name, f"{raw!r}: expected a number above 0 and at most {most:g} (default {default:g})")
    return number


def require_setting_seconds(raw: object, name: str, default: float, most: float) -> float:
    """A duration setting in seconds, above 0 and at most ``most``; unset is ``default``."""
    if raw in (None, ""):
        return default
    try:
        seconds = float(str(raw))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= most:
        raise InvalidInput(name, f"{raw!r}: expected a number of seconds, above 0 and at most {most:g}")
    return seconds


# --- arguments of the read services ---------------------------------------------------------------


def require_dimensions(by: object, field: str, default: Sequence[str]) -> tuple[str, ...]:
    """Dimensions to group by: a list of names, or one string of names joined by ',' ('theme' or
    'theme,period'); None is ``default``."""
    if by is None:
        return tuple(default)
    if isinstance(by, str):
        by = by.split(",")
    if isinstance(by, bytes) or not isinstance(by, Iterable):
        raise InvalidInput(field, f"expected a list of dimension names (or 'a,b'), got {type(by).__name__}")
    names = list(by)
    if not names or not all(isinstance(d, str) and d.strip() for d in names):
        raise InvalidInput(field, f"{names!r}: expected one or more dimension names as text")
    return tuple(d.strip() for d in names)


def require_optional_int(number: object, field: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high]; None is ``default``."""
    return default if number is None else require_int(number, field, low, high)


def require_optional_choice(value: object, field: str, default: str, accepted: Sequence[str]) -> str:
    """One of ``accepted``; None is ``default``."""
    if value is None:
        return default
    if not isinstance(value, str) or value not in accepted:
        raise InvalidInput(field, f"{value!r} is not one of: {', '.join(accepted)}")
    return value


def require_writer(out: object, field: str) -> object:
    """A text stream to write to (anything with a ``write`` method)."""
    if not callable(getattr(out, "write", None)):
        raise InvalidInput(field, f"expected a text stream with a write() method, got {type(out).__name__}")
    return out
