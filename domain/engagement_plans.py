"""An engagement's scheduled sessions: plan, move, cancel, and link a planned session to the one held.

Beside the workflow: these change no state and set no deadline (``PLANNING_STATES`` says when
each is taken).

Each command is a method of :class:`engagement.Engagement`, written here as a function of the
aggregate (``self``) and assigned to the class there: it checks, then raises, then records one
event, as every command of the aggregate does.
"""

from __future__ import annotations

from datetime import datetime

from engagement_tracker.domain.checks import (
    MAX_SESSION_MINUTES,
    require_int,
    require_time,
)
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import InvalidInput, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.workflow_aggregate import optional_sealed, require_actor, require_sealed


def precheck_plan(self: EngagementHistory, step: str, actor: Actor) -> None:
    """Refuse early (before the place is sealed) a planning step this actor may not take now.

    Planning steps are beside the workflow (no state machine lists them: they change no state, and
    the views' ``allowed_steps`` stay the workflow's): taken while sessions are (in accompaniment)."""
    self.require_party(step, require_actor(actor))
    if self.state not in PLANNING_STATES[step]:
        raise StepNotAllowed(self.WORKFLOW.name, self.state, step, self.offered_steps())


def _plan_step(self: EngagementHistory, step: str, actor: Actor, at: datetime) -> str:
    require_time(at)
    precheck_plan(self, step, actor)
    return self.state


def schedule_session(self: EngagementHistory, actor: Actor, at: datetime, starts_at: datetime, duration_minutes: int,
                     place: Sealed) -> str:
    """Plan a session (when, how long, where: sealed); returns its key (P1, P2, ...)."""
    to = _plan_step(self, "schedule_session", actor, at)
    starts_at = _starts(starts_at)
    require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
    key = f"P{len(self.scheduled) + 1}"
    self._record(self.SessionScheduled, actor, at, to, key=key, starts_at=starts_at,
                 duration_minutes=duration_minutes, place=require_sealed(place, "place"))
    return key


def require_planned(self: EngagementHistory, step: str, key: object) -> str:
    """``key`` if it names a session scheduled and neither held nor cancelled; else refused."""
    if not isinstance(key, str) or key not in self.scheduled:
        raise InvalidInput("key", f"{key!r} is not a scheduled session of this engagement "
                                  f"({', '.join(self.scheduled) or 'none scheduled'})")
    if self.scheduled[key] != "scheduled":
        raise RuleViolation(step, self.state, [f"session {key} was {self.scheduled[key]}"])
    return key


def reschedule_session(self: EngagementHistory, actor: Actor, at: datetime, key: str, starts_at: datetime, duration_minutes: int,
                       place: Sealed | None) -> None:
    """Move a scheduled session (and its place, when a new one is given)."""
    to = _plan_step(self, "reschedule_session", actor, at)
    key = require_planned(self, "reschedule_session", key)
    starts_at = _starts(starts_at)
    require_int(duration_minutes, "duration_minutes", 1, MAX_SESSION_MINUTES)
    self._record(self.SessionRescheduled, actor, at, to, key=key, starts_at=starts_at,
                 duration_minutes=duration_minutes, place=optional_sealed(place, "place"))


def cancel_session(self: EngagementHistory, actor: Actor, at: datetime, key: str) -> None:
    to = _plan_step(self, "cancel_session", actor, at)
    self._record(self.SessionCancelled, actor, at, to, key=require_planned(self, "cancel_session", key))


def link_held_session(self: EngagementHistory, actor: Actor, at: datetime, key: str, session: int) -> None:
    """After :meth:`record_session` in the same command: the session held was the scheduled ``key``."""
    _plan_step(self, "hold_scheduled_session", actor, at)
    key = require_planned(self, "hold_scheduled_session", key)
    self.trigger_event(self.ScheduledSessionHeld, timestamp=at, actor=actor, to_state=self.state, key=key,
                       session=session)


_ACTIVE = frozenset({"accompaniment.in_progress", "accompaniment.review_pending"})
#: Where each planning step may be taken: sessions are scheduled and held while accompaniment is
#: active; a plan is moved or cancelled during a suspension too.
PLANNING_STATES: dict[str, frozenset[str]] = {
    "schedule_session": _ACTIVE,
    "hold_scheduled_session": _ACTIVE,
    "reschedule_session": _ACTIVE | {"accompaniment.suspended"},
    "cancel_session": _ACTIVE | {"accompaniment.suspended"},
}


def _starts(starts_at: object) -> datetime:
    """When a planned session starts: a date and time with its offset (``2026-03-02T14:00+01:00``)."""
    if not isinstance(starts_at, datetime) or starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise InvalidInput("starts_at", f"{starts_at!r}: expected a date and time with its UTC offset, "
                                        "e.g. 2026-03-02T14:00+01:00")
    return starts_at
