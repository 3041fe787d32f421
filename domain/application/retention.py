"""The retention policy applied: ``app.retention.apply(now)``, run by ``tick``.

For each engagement that ended long enough ago (``domain/retention.py`` holds the rule and the
policy's meaning; the deployment sets ``ETRACK_RETENTION_SESSION_CONTENT_YEARS``), it records an
``Engagement.SessionContentErased`` event (by the system: the policy, when the engagement ended,
when the erasure fell due, the key) and then destroys the engagement's session key in the vault,
as ``parties.erase`` destroys a person's: recorded first, destroyed second, so a crash in between
leaves a recorded erasure whose key the next run destroys (never a destroyed key without its
record). Running it again records nothing and destroys nothing twice.

Session notes recorded before this policy existed were sealed under the coachee's own key, which
cannot be destroyed alone: the erasure is recorded for them too and the views show them as
"[erased]", but their ciphertext stays decryptable until the coachee is erased (``legacy_notes``
in :meth:`RetentionService.pending` counts them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engagement_tracker.domain.access import require_admin
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.retention import RetentionPolicy, session_content_due, session_subject
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role

#: Who records the policy's erasures: the deadline clock.
SYSTEM = Actor(SYSTEM_PARTY, Role.SYSTEM)


class RetentionService:
    """``app.retention``: the policy in force, what it will erase, and applying it (``tick``)."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    @property
    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(self.path.settings.retention_session_content_years)

    def pending(self, admin: Actor, now: datetime | None = None) -> list[dict[str, Any]]:
        """For admins: each ended engagement whose session content the policy will erase, and when
        (the due ones first); no content, no name."""
        require_admin(admin, "read the retention schedule", self.path.held_grants)
        now = self.path.now() if now is None else _aware(now)
        rows = []
        for eid in self.path.ids_of(Engagement.Created.TOPIC):
            e = self.path.load(Engagement, eid, "engagement")
            due = session_content_due(e, self.policy)
            if due is None:
                continue
            record = EngagementRecord.of(self.path.history(Engagement, e.id, "engagement", version=e.version))
            subject = session_subject(e.coachee, e.id)
            legacy = sum(1 for s in record.sessions if s.notes is not None and s.notes.subject != subject)
            rows.append({"engagement": str(eid), "ended_at": e.ended_at.isoformat() if e.ended_at else None,
                         "due_at": due.isoformat(), "due_now": due <= now, "sessions": e.sessions_held,
                         "legacy_notes": legacy})
        return sorted(rows, key=lambda r: (r["due_at"], r["engagement"]))

    def apply(self, now: datetime) -> list[dict[str, Any]]:
        """Record and carry out every erasure due by ``now`` (see the module); returns what was erased now."""
        now = _aware(now)
        if self.policy.session_content_years is None:
            return []
        erased: list[dict[str, Any]] = []
        for eid in self.path.ids_of(Engagement.Created.TOPIC):
            erased.extend(self.apply_to(self.path.load(Engagement, eid, "engagement"), now))
        return erased

    def apply_to(self, e: Engagement, now: datetime) -> list[dict[str, Any]]:
        """The policy for one engagement already loaded (``tick`` reads each once for every rule)."""
        policy = self.policy
        if policy.session_content_years is None:
            return []
        subject = session_subject(e.coachee, e.id)
        due = session_content_due(e, policy)
        rows: list[dict[str, Any]] = []
        if due is not None and due <= now:

            def record(agg: Engagement, _at: datetime) -> dict[str, Any]:
                agg_due = session_content_due(agg, policy)
                if agg_due is None or agg_due > now:  # another run recorded it meanwhile
                    return {}
                agg.erase_session_content(SYSTEM, now, policy.describe(), agg_due, subject)
                return {"kind": "engagement", "id": str(agg.id), "deadline": "retention:session_content",
                        "due_at": agg_due.isoformat()}

            row = self.path.update(Engagement, e.id, "engagement", record).value
            rows = [row] if row else []
            e = self.path.load(Engagement, e.id, "engagement")
        if e.session_content_erased_at is not None and not self.path.sealer.is_erased(subject):
            self.path.sealer.create_subject(subject)  # a subject never used has no key row: make one to erase
            self.path.sealer.erase_subject(subject)
        return rows


def _aware(now: object) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput("now", "expected a timezone-aware datetime")
    return now


__all__ = ["RetentionService"]
