"""ReleaseCalendar: the shapes a programme publishes each period, and the periods published so far.

One aggregate per store. An admin declares the calendar (``CalendarSet``): the kind of period
(month, quarter or year) and the shapes released for each, written ``family:dim,dim``
(``signal:theme,period``). With no declaration the calendar is :data:`DEFAULT_SHAPES` per
quarter: the synthesis note's sections, so the demo works with no setup. When a period's
calendar releases are recorded in the release ledger (at tick once the period closed, or at
the first note of a closed period), ``PeriodReleased`` keeps what they published (released
values only, the documents analysts receive): every later note of that period reads them, so
re-running it, or running it after any exploration, gives the same note. Events only assign
state; the commands decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.dimensions import FAMILY_DIMENSIONS, PERIODS
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/release-calendar")
#: The one calendar of a store.
CALENDAR_ID = uuid5(_NAMESPACE, "calendar")
#: The synthesis note's shapes: activity by metric, signals by theme and period and by context, ratings.
DEFAULT_SHAPES = ("activity:metric", "signal:theme,period", "signal:context", "testimonial:metric,period")
DEFAULT_PERIOD_KIND = "quarter"
#: The most shapes one calendar reserves (each is released, and checked, for every period).
MAX_SHAPES = 12

Shape = tuple[str, tuple[str, ...]]


def parse_shape(text: object) -> Shape:
    """``'signal:theme,period'`` as (family, dimensions); InvalidInput naming the accepted form."""
    accepted = "; ".join(f"{f}: {', '.join(dims)}" for f, dims in FAMILY_DIMENSIONS.items())
    if not isinstance(text, str) or ":" not in text:
        raise InvalidInput("shape", f"{text!r}: write a shape FAMILY:DIM[,DIM...] (signal:theme,period), "
                                    f"with dimensions among {accepted}")
    family, _, dims = text.strip().partition(":")
    by = tuple(d.strip() for d in dims.split(",") if d.strip())
    allowed = FAMILY_DIMENSIONS.get(family.strip())
    if allowed is None or not by or len(set(by)) != len(by) or any(d not in allowed for d in by):
        raise InvalidInput("shape", f"{text!r}: a family and distinct dimensions of it ({accepted})")
    return family.strip(), by


def shape_name(shape: Shape) -> str:
    return f"{shape[0]}:{','.join(shape[1])}"


def require_shapes(shapes: object) -> tuple[str, ...]:
    """A calendar's shapes: 1 to :data:`MAX_SHAPES` distinct ones, each as :func:`parse_shape` reads it."""
    if isinstance(shapes, str):
        shapes = [s for s in shapes.split(";") if s.strip()]
    if not isinstance(shapes, Sequence) or not shapes or len(shapes) > MAX_SHAPES:
        raise InvalidInput("shapes", f"1 to {MAX_SHAPES} shapes, each FAMILY:DIM[,DIM...] "
                                     "(signal:theme,period), separated by ';'")
    names = tuple(shape_name(parse_shape(s)) for s in shapes)
    if len(set(names)) != len(names):
        raise InvalidInput("shapes", f"{list(names)}: each shape once")
    return names


def require_period_kind(kind: object) -> str:
    if kind not in PERIODS:
        raise InvalidInput("period", f"{kind!r}: the calendar's period is one of {', '.join(PERIODS)}")
    return str(kind)


class ReleaseCalendar(Aggregate):
    TOPIC = "etrack:ReleaseCalendar"

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:ReleaseCalendar.Created"

    class CalendarSet(Aggregate.Event):
        TOPIC = "etrack:ReleaseCalendar.CalendarSet"
        actor: Actor
        period: str  # month, quarter or year
        shapes: list[str]  # 'family:dim,dim'

        def apply(self, calendar: ReleaseCalendar) -> None:
            calendar.period = self.period
            calendar.shapes = list(self.shapes)
            calendar.declared = True

    class PeriodReleased(Aggregate.Event):
        TOPIC = "etrack:ReleaseCalendar.PeriodReleased"
        actor: Actor
        period: str  # '2026-Q1', '2026-03' or '2026'
        #: Per shape, the release as analysts receive it (JSON: released values and the policy), or why not.
        sections: dict[str, str]

        def apply(self, calendar: ReleaseCalendar) -> None:
            calendar.released[self.period] = dict(self.sections)

    def __init__(self) -> None:
        self.period = DEFAULT_PERIOD_KIND
        self.shapes: list[str] = list(DEFAULT_SHAPES)
        self.declared = False
        #: Period label -> shape -> its recorded section (JSON).
        self.released: dict[str, dict[str, str]] = {}

    @classmethod
    def start(cls, at: datetime) -> ReleaseCalendar:
        return cls._create(cls.Created, id=CALENDAR_ID, timestamp=require_time(at))

    def declare(self, admin: Actor, period: str, shapes: Sequence[str], at: datetime) -> None:
        self.trigger_event(self.CalendarSet, timestamp=require_time(at), actor=admin,
                           period=require_period_kind(period), shapes=list(require_shapes(shapes)))

    def record_period(self, actor: Actor, period: str, sections: dict[str, str], at: datetime) -> dict[str, str]:
        """Keep what a period's calendar releases published; a period recorded already keeps its first
        record (returned; nothing recorded)."""
        if period in self.released:
            return self.released[period]
        self.trigger_event(self.PeriodReleased, timestamp=require_time(at), actor=actor, period=period,
                           sections=dict(sections))
        return self.released[period]


__all__ = ["CALENDAR_ID", "DEFAULT_PERIOD_KIND", "DEFAULT_SHAPES", "MAX_SHAPES", "ReleaseCalendar", "Shape",
           "parse_shape", "require_period_kind", "require_shapes", "shape_name"]
