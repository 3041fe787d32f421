"""iCalendar feeds (RFC 5545) through the ``icalendar`` library (the ``[calendar]`` extra).

``ics_of(entries, now)`` turns ``app.calendars.entries(...)`` into the bytes of one calendar: a
VEVENT per entry with its stable UID (an update replaces the event a calendar app holds), its
SEQUENCE, STATUS (a cancelled session stays, as CANCELLED), and nothing confidential: the
summaries are fixed phrases; no location, description, attendee or organiser is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engagement_tracker.domain.errors import MissingDependency

PRODID = "-//engagement-tracker//etrack calendar//EN"


def ics_of(entries: list[dict[str, Any]], now: datetime, name: str = "Coaching") -> bytes:
    """One calendar holding every entry; DTSTAMP is when it was made (``now``) or an entry's last change."""
    try:
        from icalendar import Calendar, Event
    except ImportError as exc:
        raise MissingDependency(f"calendars need the [calendar] extra ({exc.name} is missing): "
                                "pip install 'engagement-tracker[calendar]'") from None
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for entry in entries:
        event = Event()
        event.add("uid", entry["uid"])
        stamp = entry["changed_at"] or now
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", entry["start"])
        event.add("dtend", entry["end"])
        event.add("summary", entry["summary"])
        event.add("status", entry["status"])
        event.add("sequence", entry["sequence"])
        event.add("transp", "TRANSPARENT" if entry["all_day"] else "OPAQUE")
        event.add("class", "PRIVATE")
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
