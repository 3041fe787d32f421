"""The release calendar of the application (``app.release_calendar``): an admin declares the shapes a
programme publishes each period; analysts read it; the analyst service keeps each period's
calendar releases in it once recorded (``AnalystService.calendar_sections``).

The calendar itself (``domain/release_calendar.py``) decides; this service checks grants and
saves through the command path (a clash re-reads and re-decides: two first notes of a period
racing keep one record, the first).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from engagement_tracker.domain.access import grant_checked, require_analyst, require_grant
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import InvalidInput, NotPermitted
from engagement_tracker.domain.release_calendar import (
    CALENDAR_ID,
    DEFAULT_PERIOD_KIND,
    DEFAULT_SHAPES,
    ReleaseCalendar,
    require_period_kind,
    require_shapes,
)
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role


class ReleaseCalendarService:
    """``app.release_calendar.show / set``, and what the analyst service reads and records of it."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def _calendar(self) -> ReleaseCalendar | None:
        try:
            calendar: ReleaseCalendar = self.path.repository.get(CALENDAR_ID)
        except AggregateNotFoundError:
            return None
        return calendar

    def spec(self) -> tuple[str, tuple[str, ...]]:
        """The calendar's kind of period and its shapes (the default until an admin declares one)."""
        calendar = self._calendar()
        if calendar is None:
            return DEFAULT_PERIOD_KIND, DEFAULT_SHAPES
        return calendar.period, tuple(calendar.shapes)

    def released(self, period: str) -> dict[str, str] | None:
        """What the calendar releases of ``period`` published (shape -> section JSON), once recorded."""
        calendar = self._calendar()
        return None if calendar is None else calendar.released.get(period)

    def released_periods(self) -> frozenset[str]:
        calendar = self._calendar()
        return frozenset() if calendar is None else frozenset(calendar.released)

    def record(self, actor: Actor, period: str, sections: dict[str, str]) -> dict[str, str]:
        """Keep a period's calendar sections (the first record of a period stays: returned)."""
        return self.path.update(ReleaseCalendar, CALENDAR_ID, "release calendar",
                                lambda calendar, at: calendar.record_period(actor, period, sections, at),
                                start=ReleaseCalendar.start).value

    @grant_checked
    def set(self, shapes: object, admin: Actor, period: object = DEFAULT_PERIOD_KIND, *,
            command_id: object = None) -> CommandResult[None]:
        """An admin (holding the admin grant now, checked again at commit) declares the shapes released
        for each ``period`` (month, quarter or year): ``'signal:theme,period; signal:context'`` or a list.
        Periods whose calendar releases are recorded keep them; the new calendar applies to the others."""
        if not isinstance(admin, Actor):
            raise InvalidInput("admin", f"expected Actor(party, role), got {type(admin).__name__}")
        names, kind = require_shapes(shapes), require_period_kind(period)
        if admin.role is not Role.ADMIN:
            raise NotPermitted("set the release calendar", f"a {admin.role.value} may not: only an admin does",
                               ["admin"])
        require_grant(admin, Role.ADMIN, self.path.held_grants, "set the release calendar")
        return self.path.update(ReleaseCalendar, CALENDAR_ID, "release calendar",
                                lambda calendar, at: calendar.declare(admin, kind, names, at),
                                command_id=command_id, start=ReleaseCalendar.start)

    def show(self, viewer: Actor) -> dict[str, Any]:
        """The calendar as analysts and admins read it: its period, its shapes, whether an admin declared
        it (else it is the default: the synthesis note's shapes per quarter) and the periods recorded."""
        require_analyst(viewer, "read the release calendar", self.path.held_grants)
        calendar = self._calendar()
        kind, shapes = self.spec()
        return {"period": kind, "shapes": list(shapes), "declared": bool(calendar and calendar.declared),
                "recorded": sorted(calendar.released) if calendar else []}


__all__ = ["ReleaseCalendarService"]
