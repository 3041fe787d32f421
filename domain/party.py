"""Party: a person or a team that takes part in engagements and cohorts.

Names and contact details never enter an event in clear: they are sealed under the party's
own key, so erasing that key (GDPR) makes them unreadable while history still verifies.
Everywhere else a party appears only as its pseudonymous id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import require_erasure_role
from engagement_tracker.domain.checks import require_member, require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.copying import aggregate_copy
from engagement_tracker.domain.errors import RuleViolation
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import PartyKind
from engagement_tracker.domain.workflow_aggregate import optional_sealed, require_sealed


class Party(Aggregate):
    TOPIC = "etrack:Party"

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """The copy each load gets from the cache: containers copied, frozen values shared (``copying.py``)."""
        return aggregate_copy(self, memo)

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:Party.Created"
        actor: Actor | None
        kind: PartyKind
        name: Sealed
        contact: Sealed | None

    class Erased(Aggregate.Event):
        """GDPR erasure: the party's key was destroyed. Carries no personal data."""

        TOPIC = "etrack:Party.Erased"
        actor: Actor

        def apply(self, party: Party) -> None:
            party.erased = True

    class Rectified(Event):
        """GDPR article 16: the name or the contact corrected (an admin acts); the new values sealed
        under the party's own key, like the first ones."""

        TOPIC = "etrack:Party.Rectified"
        actor: Actor
        name: Sealed | None
        contact: Sealed | None

        def apply(self, party: Party) -> None:
            if self.name is not None:
                party.name = self.name
            if self.contact is not None:
                party.contact = self.contact

    def __init__(self, actor: Actor | None, kind: PartyKind, name: Sealed, contact: Sealed | None) -> None:
        self.kind = PartyKind(kind)
        self.name = name
        self.contact = contact
        self.erased = False

    @classmethod
    def register(
        cls,
        party_id: UUID,
        kind: PartyKind,
        name: Sealed,
        contact: Sealed | None,
        at: datetime,
        actor: Actor | None = None,
    ) -> Party:
        return cls._create(
            cls.Created,
            id=party_id,
            timestamp=require_time(at),
            actor=actor,
            kind=require_member(PartyKind, kind, "kind"),
            name=require_sealed(name, "name"),
            contact=optional_sealed(contact, "contact"),
        )

    def erase(self, actor: Actor, at: datetime) -> None:
        """Record the erasure (an admin acts); refused if already recorded."""
        require_erasure_role(actor)
        if self.erased:
            raise RuleViolation("erase", "erased", [f"party {self.id} was already erased"])
        self.trigger_event(self.Erased, timestamp=at, actor=actor)

    def rectify(self, actor: Actor, at: datetime, name: Sealed | None, contact: Sealed | None) -> None:
        """Record a corrected name and/or contact (an admin acts); refused once erased or with nothing to correct."""
        require_erasure_role(actor, "rectify")
        if self.erased:
            raise RuleViolation("rectify", "erased", [f"party {self.id} was erased: nothing of it can be corrected"])
        if name is None and contact is None:
            raise RuleViolation("rectify", "registered", ["give a corrected name, a corrected contact, or both"])
        self.trigger_event(self.Rectified, timestamp=at, actor=actor, name=optional_sealed(name, "name"),
                           contact=optional_sealed(contact, "contact"))
