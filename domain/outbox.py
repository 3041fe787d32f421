"""The reminders outbox: what ``tick`` queued for whom, what was sent or skipped, who opted out.

One aggregate per store. A reminder's id names what it is about and for whom (``feedback``,
``session``, ``quarterly_review``, ``off_track``: the engagement or cohort, the plan's or the
deadline's key, the recipient), so ``tick`` queues it once however often it runs; the sender
records each delivery right after the mail server accepted it, so a batch cut short is finished
by the next run. Nothing here is confidential: a kind, ids and times. Every event names who acted:
the deadline clock (the system) queues; the admin who ran the sender records what was sent.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor

#: The kinds of reminder, and the fixed phrase each mail's subject carries.
REMINDER_KINDS = {
    "session": "Reminder: a coaching session tomorrow",
    "action": "Reminder: a coaching action is due",
    "quarterly_review": "Reminder: a quarterly coaching review is due",
    "off_track": "Reminder: no coaching session for a while",
    "feedback": "Reminder: experiment feedback is due within 24 hours",
    "cycle_week": "Reminder: a cohort cycle checkpoint is due",
    "contract_end": "Reminder: the coaching contract ends",
}


class Outbox(Aggregate):
    TOPIC = "etrack:Outbox"
    ID = uuid5(NAMESPACE_URL, "etrack:outbox")

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:Outbox.Created"

    class ReminderQueued(Event):
        TOPIC = "etrack:Outbox.ReminderQueued"
        actor: Actor
        reminder: str
        recipient: UUID
        kind: str
        about: UUID
        due_at: datetime

        def apply(self, outbox: Outbox) -> None:
            outbox.pending[self.reminder] = {"recipient": str(self.recipient), "kind": self.kind,
                                             "about": str(self.about), "due_at": self.due_at.isoformat()}
            outbox.known[self.reminder] = "queued"

    class ReminderSent(Event):
        TOPIC = "etrack:Outbox.ReminderSent"
        actor: Actor
        reminder: str

        def apply(self, outbox: Outbox) -> None:
            outbox.pending.pop(self.reminder, None)
            outbox.known[self.reminder] = "sent"

    class ReminderSkipped(Event):
        """Not sent: the recipient opted out, was erased, or has no e-mail address."""

        TOPIC = "etrack:Outbox.ReminderSkipped"
        actor: Actor
        reminder: str
        reason: str

        def apply(self, outbox: Outbox) -> None:
            outbox.pending.pop(self.reminder, None)
            outbox.known[self.reminder] = "skipped"

    class OptedOut(Event):
        TOPIC = "etrack:Outbox.OptedOut"
        actor: Actor
        party: UUID

        def apply(self, outbox: Outbox) -> None:
            outbox.opted_out[str(self.party)] = self.timestamp.isoformat()

    class OptedIn(Event):
        TOPIC = "etrack:Outbox.OptedIn"
        actor: Actor
        party: UUID

        def apply(self, outbox: Outbox) -> None:
            outbox.opted_out.pop(str(self.party), None)

    def __init__(self) -> None:
        self.pending: dict[str, dict[str, str]] = {}  # reminder id -> recipient, kind, about, due_at
        self.known: dict[str, str] = {}  # every reminder ever queued -> queued | sent | skipped
        self.opted_out: dict[str, str] = {}  # party -> since when

    @classmethod
    def start(cls, at: datetime) -> Outbox:
        return cls._create(cls.Created, id=cls.ID, timestamp=require_time(at))

    def queue(self, at: datetime, actor: Actor, reminder: str, recipient: UUID, kind: str, about: UUID,
              due_at: datetime) -> bool:
        """Queue a reminder unless it was queued before (then nothing); True if queued now."""
        if kind not in REMINDER_KINDS:
            raise InvalidInput("kind", f"{kind!r}: expected one of {', '.join(REMINDER_KINDS)}")
        if reminder in self.known:
            return False
        self.trigger_event(self.ReminderQueued, timestamp=at, actor=actor, reminder=reminder, recipient=recipient, kind=kind,
                           about=about, due_at=require_time(due_at, "due_at"))
        return True

    def sent(self, at: datetime, actor: Actor, reminder: str) -> None:
        if reminder in self.pending:
            self.trigger_event(self.ReminderSent, timestamp=at, actor=actor, reminder=reminder)

    def skip(self, at: datetime, actor: Actor, reminder: str, reason: str) -> None:
        if reminder in self.pending:
            self.trigger_event(self.ReminderSkipped, timestamp=at, actor=actor, reminder=reminder, reason=reason)

    def opt(self, at: datetime, actor: Actor, party: UUID, out: bool) -> None:
        if out and str(party) not in self.opted_out:
            self.trigger_event(self.OptedOut, timestamp=at, actor=actor, party=party)
        elif not out and str(party) in self.opted_out:
            self.trigger_event(self.OptedIn, timestamp=at, actor=actor, party=party)
