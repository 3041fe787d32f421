"""An engagement's intersession actions: the coachee commits to one, then completes or drops it.

Each command is a method of :class:`engagement.Engagement`, written here as a function of the
aggregate (``self``) and assigned to the class there: it checks, then raises, then records one
event, as every command of the aggregate does.
"""

from __future__ import annotations

from datetime import date, datetime

from engagement_tracker.domain.checks import require_date
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Action, Actor, Sealed
from engagement_tracker.domain.vocabulary import ActionStatus
from engagement_tracker.domain.workflow_aggregate import require_sealed


def commit_action(self: EngagementHistory, actor: Actor, at: datetime, description: Sealed, due: date | None = None) -> str:
    """An intersession action the coachee commits to; returns its key (A1, A2, ...)."""
    to = self._step("commit_action", actor, at)
    key = f"A{self.actions_committed + 1}"
    action = Action(
        key, require_sealed(description, "description"),
        None if due is None else require_date(due, "due"), ActionStatus.COMMITTED,
    )
    self._record(self.ActionCommitted, actor, at, to, action=action)
    return key


def _open_action(self: EngagementHistory, key: str) -> None:
    known = [f"A{n}" for n in range(1, self.actions_committed + 1)]
    if key not in known:
        raise InvalidInput("action", f"unknown action {key!r}; known: {', '.join(known) or 'none'}")
    if key not in self.open_actions:
        raise InvalidInput("action", f"action {key} is already done or dropped; only committed actions change")


def complete_action(self: EngagementHistory, actor: Actor, at: datetime, key: str) -> None:
    to = self._step("complete_action", actor, at)
    _open_action(self, key)
    self._record(self.ActionCompleted, actor, at, to, key=key)


def drop_action(self: EngagementHistory, actor: Actor, at: datetime, key: str) -> None:
    to = self._step("drop_action", actor, at)
    _open_action(self, key)
    self._record(self.ActionDropped, actor, at, to, key=key)
