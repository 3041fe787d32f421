"""A person's calendar: their planned sessions and the deadlines they face, with nothing confidential.

``app.calendars.entries(party_id, viewer)`` lists what a calendar feed shows one party (a person
reads their own): for each engagement they coach or are coached in, its planned sessions (held,
moved or cancelled ones too, so a calendar app updates its copy); and the deadlines the rules
derive (``deadlines.py``), each as the party's role may know of it: the coach every deadline, the
coachee their actions and the contract's end, the sponsor that a quarterly review is due and when
the contract ends, never what about. For cohorts, the coach and the members see the first cycle's
weekly checkpoints and the 72-hour experiment feedback. A summary is a fixed phrase: no name, no
place, no note, no objective, no action's text. Each entry has a stable ``uid`` (the engagement or
cohort id and the plan's or the deadline's key), so a calendar app replaces an event it already
has; ``sequence`` counts a plan's changes. The iCalendar form is made by ``adapters/calendar_feed.py``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from engagement_tracker.domain.access import require_reader
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.deadlines import cohort_deadlines, engagement_deadlines
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import NotPermitted, RuleViolation

#: How far ahead deadlines are shown.
HORIZON = timedelta(days=400)

#: The fixed phrase of each deadline kind (the part of its key before ":"), and who sees it.
DEADLINES: dict[str, tuple[str, frozenset[str]]] = {
    "contract_end": ("Coaching contract ends", frozenset({"coach", "coachee", "sponsor"})),
    "action": ("Coaching action due", frozenset({"coach", "coachee"})),
    "quarterly_review": ("Quarterly coaching review due", frozenset({"coach", "sponsor"})),
    "off_track": ("No coaching session for a while: plan one", frozenset({"coach"})),
    "feedback": ("Experiment feedback due (72 hours)", frozenset({"coach", "member"})),
    "cycle_week": ("Cohort cycle checkpoint", frozenset({"coach", "member"})),
}
SESSION = "Coaching session"


class CalendarService:
    """``app.calendars.entries(party_id, viewer)``: one party's calendar entries, read by that party."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def entries(self, party_id: object, viewer: object, now: datetime | None = None) -> list[dict[str, Any]]:
        """The party's planned sessions and deadlines (see the module), sorted by start."""
        reader = require_reader(viewer)
        pid = as_uuid(party_id, "party_id")
        if reader.party != pid:
            raise NotPermitted("read a calendar", f"party {reader.party} reads its own calendar, not {pid}'s")
        party = self.path.party(pid)
        if party.erased:
            raise RuleViolation("read a calendar", "erased", [f"party {pid} was erased"])
        now = self.path.now() if now is None else now
        found: list[dict[str, Any]] = []
        for eid in self.path.ids_of(Engagement.Created.TOPIC):
            e = self.path.load(Engagement, eid, "engagement")
            roles = [r for r, p in (("coach", e.coach), ("coachee", e.coachee), ("sponsor", e.sponsor)) if p == pid]
            if not roles:
                continue
            if {"coach", "coachee"} & set(roles) and e.scheduled:
                found.extend(self._sessions(e))
            found.extend(self._deadlines(e.id, roles, e.missed, engagement_deadlines(e, now + HORIZON)))
        for cid in self.path.ids_of(Cohort.Created.TOPIC):
            c = self.path.load(Cohort, cid, "cohort")
            roles = ["coach"] if c.coach == pid else ["member"] if str(pid) in c.members else []
            if roles:
                found.extend(self._deadlines(c.id, roles, c.missed, cohort_deadlines(c, now + HORIZON)))
        return sorted(found, key=lambda entry: (str(entry["start"]), entry["uid"]))

    def _sessions(self, e: Engagement) -> list[dict[str, Any]]:
        record = EngagementRecord.of(self.path.history(Engagement, e.id, "engagement", version=e.version))
        changes: dict[str, int] = {}
        for event in self.path.history(Engagement, e.id, "engagement", version=e.version):
            key = getattr(event, "key", None)
            if isinstance(event, Engagement.SessionRescheduled | Engagement.SessionCancelled) and key is not None:
                changes[key] = changes.get(key, 0) + 1
        return [
            {
                "uid": f"{e.id}-{key}@etrack",
                "summary": SESSION if plan["status"] != "cancelled" else f"{SESSION} (cancelled)",
                "start": plan["starts_at"],
                "end": plan["starts_at"] + timedelta(minutes=plan["duration_minutes"]),
                "all_day": False,
                "status": "CANCELLED" if plan["status"] == "cancelled" else "CONFIRMED",
                "sequence": changes.get(key, 0),
                "changed_at": plan["changed_at"],
                "kind": "session",
            }
            for key, plan in record.schedule.items()
        ]

    @staticmethod
    def _deadlines(ident: UUID, roles: list[str], missed: Any, due: list[tuple[str, datetime]]) -> list[dict[str, Any]]:
        entries = []
        for key, due_at in [*due, *missed.items()]:
            kind = key.split(":", 1)[0]
            summary, seen_by = DEADLINES.get(kind, ("Coaching deadline", frozenset({"coach"})))
            if not seen_by & set(roles):
                continue
            day: date = due_at.date()
            entries.append({
                "uid": f"{ident}-{key}@etrack",
                "summary": summary,
                "start": day,
                "end": day + timedelta(days=1),
                "all_day": True,
                "status": "CONFIRMED",
                "sequence": 0,
                "changed_at": None,
                "kind": "deadline",
            })
        return list({entry["uid"]: entry for entry in entries}.values())


__all__ = ["DEADLINES", "HORIZON", "SESSION", "CalendarService"]
