"""What a programme adds to an engagement beside its workflow: the template it was opened with, and
the retention policy's erasure of its session notes. Neither changes the engagement's state.

Each command is a method of :class:`engagement.Engagement`, written here as a function of the
aggregate (``self``) and assigned to the class there, as ``engagement_endings.py`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.engagement_history import EngagementHistory
from engagement_tracker.domain.errors import NotPermitted, RuleViolation
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from engagement_tracker.domain.workflow_aggregate import require_actor


def apply_template(
    self: EngagementHistory, actor: Actor, at: datetime, name: str, version: int, content: dict[str, Any]
) -> None:
    """Record the programme template this engagement was opened with (``templates.py``): at opening only,
    in the same transaction, once. Not a workflow step: the state does not change."""
    require_time(at)
    require_actor(actor)
    if self.template is not None:
        raise RuleViolation("apply a template", self.state, [f"template {self.template['name']} was applied at opening"])
    if self.version != 1:
        raise RuleViolation("apply a template", self.state, ["a template is applied when the engagement opens, not later"])
    self._record(self.TemplateApplied, actor, at, self.state, template=name, version=version, content=content)


def erase_session_content(
    self: EngagementHistory, actor: Actor, at: datetime, policy: str, due_at: datetime, subject: str
) -> None:
    """The retention policy's erasure of the session notes (``retention.py``), recorded by the deadline
    clock once the engagement has ended and the policy's time has come; once only. Not a workflow step:
    the state does not change."""
    require_time(at)
    if require_actor(actor).role is not Role.SYSTEM:
        raise NotPermitted("erase session content", "recorded by the retention policy (etrack tick) only",
                           [Role.SYSTEM.value])
    if self.ended_at is None:
        raise RuleViolation("erase session content", self.state,
                            ["the engagement has not ended: content is kept while it runs"])
    if self.session_content_erased_at is not None:
        raise RuleViolation("erase session content", self.state,
                            [f"already erased on {self.session_content_erased_at.isoformat()}"])
    due_at = require_time(due_at, "due_at")
    if due_at > at:
        raise RuleViolation("erase session content", self.state,
                            [f"the policy erases it on {due_at.isoformat()}, not before"])
    self._record(self.SessionContentErased, actor, at, self.state, policy=str(policy),
                 ended_at=self.ended_at, due_at=due_at, subject=subject, sessions=self.sessions_held)
