"""Reminders: ``tick`` queues what is due in the outbox, once each; a sender delivers them.

``app.reminders.queue_due(now)`` (``app.tick`` calls it) looks at every engagement and cohort and
queues, in one transaction, each reminder not queued before: a planned session starting within
24 hours (its coach and coachee), each deadline falling due within 24 hours or already due and
not yet recorded (72-hour experiment feedback, a cycle checkpoint, an action, a quarterly review,
off-track, the contract's end), to whom the calendar shows it (``calendars.DEADLINES``). A
reminder's text is a fixed phrase and a date: no name, no place, no content
(:meth:`ReminderService.message`). ``adapters/reminder_mail.py`` delivers them by SMTP. A person
opts out (``opt_out``) and is skipped from then on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from engagement_tracker.domain.access import grant_checked, require_admin, require_reader
from engagement_tracker.domain.application.calendars import DEADLINES
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.checks import as_uuid
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.deadlines import cohort_deadlines, engagement_deadlines
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import NotFound, NotPermitted
from engagement_tracker.domain.outbox import REMINDER_KINDS, Outbox
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, Role

#: How far ahead a reminder is queued.
AHEAD = timedelta(hours=24)

Candidate = tuple[str, UUID, str, UUID, datetime]  # reminder id, recipient, kind, about, due at


class ReminderService:
    """``app.reminders.queue_due / pending / message / mark_sent / skip / opt_out / opt_in``."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def outbox(self) -> Outbox | None:
        try:
            return self.path.load(Outbox, Outbox.ID, "outbox")
        except NotFound:
            return None

    # --- queueing (tick) -------------------------------------------------------------------------

    def candidates(self, now: datetime) -> list[Candidate]:
        """Every reminder due by ``now`` + 24 hours, queued or not."""
        found: list[Candidate] = []
        horizon = now + AHEAD
        for eid in self.path.ids_of(Engagement.Created.TOPIC):
            e = self.path.load(Engagement, eid, "engagement")
            if e.is_ended:
                continue
            parties = {"coach": e.coach, "coachee": e.coachee, "sponsor": e.sponsor}
            if "scheduled" in e.scheduled.values():
                record = EngagementRecord.of(self.path.history(Engagement, e.id, "engagement", version=e.version))
                for key, plan in record.schedule.items():
                    if plan["status"] == "scheduled" and now < plan["starts_at"] <= horizon:
                        for role in ("coach", "coachee"):
                            found.append((f"session:{e.id}:{key}:{plan['starts_at'].isoformat()}:{parties[role]}",
                                          parties[role], "session", e.id, plan["starts_at"]))
            for key, due_at in engagement_deadlines(e, horizon):
                found.extend(self._deadline(e.id, key, due_at, parties))
        for cid in self.path.ids_of(Cohort.Created.TOPIC):
            c = self.path.load(Cohort, cid, "cohort")
            if c.is_ended:
                continue
            members = {"coach": [c.coach], "member": [UUID(m) for m in c.members]}
            for key, due_at in cohort_deadlines(c, horizon):
                found.extend(self._deadline(c.id, key, due_at, members))
        return found

    @staticmethod
    def _deadline(about: UUID, key: str, due_at: datetime, parties: dict[str, Any]) -> list[Candidate]:
        kind = key.split(":", 1)[0]
        if kind not in REMINDER_KINDS or kind not in DEADLINES:
            return []
        out: list[Candidate] = []
        for role in sorted(DEADLINES[kind][1] & set(parties)):
            people = parties[role] if isinstance(parties[role], list) else [parties[role]]
            out.extend((f"{kind}:{about}:{key}:{p}", p, kind, about, due_at) for p in people)
        return out

    def queue_due(self, now: datetime) -> list[dict[str, Any]]:
        """Queue every reminder due within 24 hours that was never queued; what was queued now."""
        found = self.candidates(now)
        outbox = self.outbox()
        if not found or (outbox is not None and all(c[0] in outbox.known for c in found)):
            return []

        def queue(box: Outbox, at: datetime) -> list[dict[str, Any]]:
            system = Actor(SYSTEM_PARTY, Role.SYSTEM)
            return [{"reminder": rid, "recipient": str(who), "kind": kind, "due_at": due.isoformat()}
                    for rid, who, kind, about, due in found if box.queue(at, system, rid, who, kind, about, due)]

        result = self.path.update(Outbox, Outbox.ID, "outbox", queue, start=Outbox.start)
        return result.value or []

    # --- sending (adapters/reminder_mail.py) -----------------------------------------------------

    def pending(self, actor: Actor) -> list[dict[str, str]]:
        """The reminders queued and not yet sent or skipped, oldest due first (admins)."""
        require_admin(actor, "send reminders", self.path.held_grants)
        outbox = self.outbox()
        if outbox is None:
            return []
        rows = [{"reminder": rid, **row} for rid, row in outbox.pending.items()]
        return sorted(rows, key=lambda r: (r["due_at"], r["reminder"]))

    def message(self, reminder: dict[str, str]) -> tuple[str, str] | str:
        """(address, text) to send, or why it is skipped: opted out, erased, no e-mail address."""
        outbox = self.outbox()
        if outbox is not None and reminder["recipient"] in outbox.opted_out:
            return "opted out"
        party = self.path.party(reminder["recipient"])
        if party.erased or self.path.sealer.is_erased(str(party.id)):
            return "erased"
        contact = self.path.sealing.unseal(party.contact)
        if contact is None or "@" not in contact or " " in contact.strip():
            return "no e-mail address"
        due = datetime.fromisoformat(reminder["due_at"])
        when = (f"on {due:%A %d %B %Y at %H:%M} (UTC{due:%z})" if reminder["kind"] == "session"
                else f"on {due:%A %d %B %Y}")
        text = (f"{REMINDER_KINDS[reminder['kind']].removeprefix('Reminder: ').capitalize()}: {when}.\n\n"
                "You receive this reminder because you take part in a coaching engagement or cohort.\n"
                "Nothing of its content is written here: open your coaching space for the details.\n"
                "To stop these reminders, ask your programme admin (etrack reminders opt-out).\n")
        return contact.strip(), text

    def mark_sent(self, reminder: str, actor: Actor) -> CommandResult[None]:
        """Record that the mail server accepted ``reminder`` (nothing if it is no longer pending); the
        admin who runs the sender acts."""
        return self.path.update(Outbox, Outbox.ID, "outbox", lambda box, at: box.sent(at, actor, reminder))

    def skip(self, reminder: str, reason: str, actor: Actor) -> CommandResult[None]:
        return self.path.update(Outbox, Outbox.ID, "outbox", lambda box, at: box.skip(at, actor, reminder, reason))

    # --- opting out ------------------------------------------------------------------------------

    @grant_checked
    def opt_out(self, party_id: object, actor: Actor, out: bool = True) -> CommandResult[None]:
        """A person stops (or, ``out=False``, resumes) their reminders: themselves, or an admin for them."""
        pid = as_uuid(party_id, "party_id")
        reader = require_reader(actor, "actor")
        if reader.party != pid:
            if reader.role is not Role.ADMIN:
                raise NotPermitted("opt out of reminders", "a person opts out for themselves, or an admin for them",
                                   ["the person", "admin"])
            require_admin(reader, "opt out of reminders", self.path.held_grants)
        self.path.party(pid)  # NotFound for an unknown party
        return self.path.update(Outbox, Outbox.ID, "outbox", lambda box, at: box.opt(at, reader, pid, out),
                                start=Outbox.start)


__all__ = ["AHEAD", "ReminderService"]
