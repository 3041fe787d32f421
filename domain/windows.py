"""Windows of months for analysts' queries: 'YYYY-MM' to 'YYYY-MM', holding whole periods."""

from __future__ import annotations

import re

from engagement_tracker.domain.errors import InvalidInput, PeriodCut

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def require_window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """A window of months, 'YYYY-MM' to 'YYYY-MM' inclusive, either end open."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, str) or not _MONTH.fullmatch(value)):
            raise InvalidInput(name, f"{value!r} is not a month written YYYY-MM")
    if since and until and since > until:
        raise InvalidInput("since", f"the window starts ({since}) after it ends ({until})")
    return since or None, until or None


_FIRST_MONTHS = {"month": range(1, 13), "quarter": (1, 4, 7, 10), "year": (1,)}


def require_whole_periods(since: str | None, until: str | None, grain: str) -> None:
    """A window must hold whole periods of the release's grain (asked for, or coarsened to).

    Otherwise a cell labelled '2026-Q1' would count only February and March. Refused before
    anything is recorded, with the nearest window that fits.
    """
    firsts = _FIRST_MONTHS.get(grain, range(1, 13))
    span = 12 // len(firsts)
    if since is not None and int(since[5:]) not in firsts:
        start = max(m for m in firsts if m <= int(since[5:]))
        raise PeriodCut("since", f"{since} falls inside a {grain}, and this release is by {grain}: "
                                 f"start the window at {since[:4]}-{start:02d}", grain)
    if until is not None and int(until[5:]) % span:
        end = (int(until[5:]) // span + 1) * span
        raise PeriodCut("until", f"{until} falls inside a {grain}, and this release is by {grain}: "
                                 f"end the window at {until[:4]}-{end:02d}", grain)


_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


def period_window(text: object) -> tuple[str, str, str]:
    """'2026-Q1' (a quarter), '2026-03' (a month) or '2026' (a year) as a window of months (since,
    until, both 'YYYY-MM', inclusive) and its kind (quarter, month, year); InvalidInput otherwise."""
    m = _PERIOD.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput("period", f"{text!r}: a quarter (2026-Q1), a month (2026-03) or a year (2026)")
    year, quarter, month = m.groups()
    if quarter:
        first = (int(quarter) - 1) * 3 + 1
        return f"{year}-{first:02d}", f"{year}-{first + 2:02d}", "quarter"
    if month:
        return f"{year}-{month}", f"{year}-{month}", "month"
    return f"{year}-01", f"{year}-12", "year"


_SPAN = {"month": 1, "quarter": 3, "year": 12}


def widened(since: str, until: str, grain: str) -> tuple[str, str]:
    """The smallest window of whole ``grain`` periods holding months ``since``..``until``."""
    span = _SPAN[grain]
    first = (int(since[5:]) - 1) // span * span + 1
    last = ((int(until[5:]) - 1) // span + 1) * span
    return f"{since[:4]}-{first:02d}", f"{until[:4]}-{last:02d}"


def period_label(month: str, kind: str) -> str:
    """The period of kind ``kind`` (month, quarter, year) holding ``month`` ('YYYY-MM'): '2026-03', '2026-Q1', '2026'."""
    if kind == "month":
        return month
    if kind == "quarter":
        return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    return month[:4]
