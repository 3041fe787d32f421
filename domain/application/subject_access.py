"""A person's rights over their data (GDPR articles 15, 16 and 20): export and rectification.

``app.subjects.export(party_id, admin)`` gathers everything recorded about one party: every event
of the store that names it (as an actor, a coach, coachee, sponsor or member, a grant's holder,
or content sealed under its key), with what is sealed under its own key opened for it; who may
read each of its engagements (and the sponsor's agreed disclosure); its grants. Content sealed
under another person's key stays sealed. The coach's own notes (session notes, quarterly review
notes) are withheld as the coachee's view withholds them (article 15(4): the rights of others),
and the export says where. Once the party is erased, the export says so and opens nothing.

``app.subjects.rectify(party_id, admin, name=..., contact=...)`` records the corrected name or
contact as an event (``Party.Rectified``), sealed under the party's key; erasure stays
``app.parties.erase``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import attrs
from eventsourcing.persistence import MapperDeserialisationError

from engagement_tracker.domain.access import READ_SCOPES, grant_checked, hides_steps, require_admin
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.confidential import ERASED
from engagement_tracker.domain.checks import MAX_NAME_CHARS, as_uuid, require_text
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import StoreError, SubjectErased
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import Role

#: The export's format version (a public format: a field may be added, none renamed or removed).
EXPORT_FORMAT = "etrack-subject-export/1"

#: Content the coachee's own view withholds (the coach's notes): (event topic, field path).
WITHHELD = {
    ("etrack:Engagement.SessionHeld", "session.notes"),
    ("etrack:Engagement.QuarterlyReviewHeld", "notes"),
}
WITHHELD_TEXT = "[withheld: the coach's notes, as in the coachee's own view (GDPR article 15(4))]"
OTHERS_TEXT = "[sealed under another person's key]"
#: An event's own bookkeeping, not what it says.
_OWN_FIELDS = {"originator_id", "originator_version", "timestamp", "command_id"}


def sealed_for(sealed: Sealed, party: UUID) -> bool:
    """Content sealed under ``party``'s key, or a key of theirs (their engagements' session notes:
    ``retention.session_subject``)."""
    return sealed.subject == str(party) or sealed.subject.startswith(f"{party}/")


def mentions(value: Any, party: UUID) -> bool:
    """True if ``value`` (an event's field, however nested) names ``party`` or holds content sealed
    under its key."""
    if isinstance(value, UUID):
        return value == party
    if isinstance(value, str):
        return value == str(party)
    if isinstance(value, Actor):
        return value.party == party
    if isinstance(value, Sealed):
        return sealed_for(value, party)
    if isinstance(value, dict):
        return any(mentions(k, party) or mentions(v, party) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(mentions(v, party) for v in value)
    if attrs.has(type(value)):
        return any(mentions(getattr(value, f.name), party) for f in attrs.fields(type(value)))
    return False


class SubjectService:
    """``app.subjects.export / rectify``: a person's data, for them (admins act)."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    @grant_checked
    def rectify(
        self,
        party_id: object,
        actor: Actor,
        name: str | None = None,
        contact: str | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[None]:
        """Record a corrected name and/or contact (GDPR article 16), sealed under the party's key."""
        require_admin(actor, "rectify a party", self.path.held_grants)
        ident = as_uuid(party_id, "party_id")
        new_name = None if name is None else require_text(name, "name", MAX_NAME_CHARS)
        new_contact = None if contact is None else require_text(contact, "contact", MAX_NAME_CHARS)

        def rectify(party: Party, at: datetime) -> None:
            if party.erased:  # checked before anything is sealed (its key is gone)
                party.rectify(actor, at, None, None)
            seal = self.path.sealer.seal
            party.rectify(actor, at, None if new_name is None else seal(str(party.id), new_name),
                          None if new_contact is None else seal(str(party.id), new_contact))

        return self.path.update(Party, ident, "party", rectify, command_id=command_id)

    def export(self, party_id: object, actor: Actor) -> dict[str, Any]:
        """Everything recorded about one party, opened for them (GDPR articles 15 and 20), as JSON data."""
        require_admin(actor, "export a person's data", self.path.held_grants)
        party = self.path.party(party_id)
        pid = party.id
        erased = party.erased or self.path.sealer.is_erased(str(pid))
        events = list(self._events_naming(pid))
        engagements = [self._engagement(e, pid) for e in self._engagements_of(events)]
        grants = self.path.held_grants()
        return {
            "format": EXPORT_FORMAT,
            "subject": str(pid),
            "exported_at": self.path.now().isoformat(),
            "exported_by": {"party": str(actor.party), "role": actor.role.value},
            "erased": erased,
            "erased_at": next((e["at"] for e in events if e["event"] == "Party.Erased"), None),
            "kind": party.kind.value,
            "name": ERASED if erased else self.path.sealing.unseal(party.name),
            "contact": ERASED if erased else self.path.sealing.unseal(party.contact),
            "registered_at": party.created_on.isoformat(),
            "grants": sorted(grants.get(str(pid), frozenset())),
            "engagements": engagements,
            "disclosures": [d for e in engagements for d in self._disclosures(e["id"], pid)],
            "events": events,
            "withheld": sorted(f"{topic.removeprefix('etrack:')}.{field}" for topic, field in WITHHELD),
        }

    # --- the events that name the party --------------------------------------------------------

    def _events_naming(self, pid: UUID) -> Iterator[dict[str, Any]]:
        start = 1
        while True:
            page = self.path.recorder.select_notifications(start, 500)
            for n in page:
                try:
                    event = self.path.mapper.to_domain_event(n)
                except MapperDeserialisationError:
                    raise StoreError(f"cannot decode event {n.id}: ETRACK_CIPHER_KEY is missing or wrong") from None
                fields = {k: v for k, v in vars(event).items() if k not in _OWN_FIELDS}
                if event.originator_id == pid or mentions(fields, pid):
                    yield self._shown(event, n.topic, fields, pid)
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def _shown(self, event: Any, topic: str, fields: dict[str, Any], pid: UUID) -> dict[str, Any]:
        return {
            "event": topic.removeprefix("etrack:"),
            "id": str(event.originator_id),
            "version": event.originator_version,
            "at": event.timestamp.isoformat(),
            "command_id": getattr(event, "command_id", None),
            "data": {k: self._open(v, pid, topic, k) for k, v in sorted(fields.items())},
        }

    def _open(self, value: Any, pid: UUID, topic: str, where: str) -> Any:
        """JSON data, with content sealed under ``pid``'s key opened (unless withheld), others' left sealed."""
        if isinstance(value, Sealed):
            if not sealed_for(value, pid):
                return OTHERS_TEXT
            if (topic, where) in WITHHELD:
                return WITHHELD_TEXT
            try:
                return self.path.sealer.unseal(value)
            except SubjectErased:
                return ERASED
        if isinstance(value, Actor):
            return {"party": str(value.party), "role": value.role.value}
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, dict):
            return {str(k): self._open(v, pid, topic, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            items = [self._open(v, pid, topic, where) for v in value]
            return sorted(items, key=str) if isinstance(value, set | frozenset) else items
        if attrs.has(type(value)):
            return {f.name: self._open(getattr(value, f.name), pid, topic, f"{where}.{f.name}")
                    for f in attrs.fields(type(value))}
        if isinstance(value, bytes):
            return value.hex()
        return value

    # --- their engagements: who may read each, what the sponsor was shown ---------------------------

    @staticmethod
    def _engagements_of(events: list[dict[str, Any]]) -> list[str]:
        return list(dict.fromkeys(e["id"] for e in events if e["event"] == "Engagement.Created"))

    def _disclosures(self, eid: str, pid: UUID) -> list[dict[str, Any]]:
        """Every disclosure proposed and agreed in one engagement (whoever took the step)."""
        return [
            {"engagement": eid, **self._shown(event, event.TOPIC, {k: v for k, v in vars(event).items()
                                                                    if k not in _OWN_FIELDS}, pid)}
            for event in self.path.history(Engagement, eid, "engagement")
            if isinstance(event, Engagement.DisclosureProposed | Engagement.DisclosureAgreed)
        ]

    def _engagement(self, eid: str, pid: UUID) -> dict[str, Any]:
        engagement = self.path.load(Engagement, eid, "engagement")
        roles = {"coach": engagement.coach, "coachee": engagement.coachee, "sponsor": engagement.sponsor}
        grants = self.path.held_grants()
        org = {role.value: sorted(p for p, held in grants.items() if role.value in held)
               for role in (Role.ADMIN, Role.AUDITOR)}
        held = [role for role, party in roles.items() if party == pid]
        # a person who reads this engagement in the contract scope only (its sponsor) is told its phase, not its step
        phase_only = bool(held) and all(hides_steps(Role(role)) for role in held)
        return {
            "id": eid,
            "role": held,
            "state": engagement.state.split(".", 1)[0] if phase_only else engagement.state,
            "readers": [
                *({"party": str(party), "as": role, "reads": READ_SCOPES[Role(role)]} for role, party in roles.items()),
                *({"party": party, "as": role, "reads": READ_SCOPES[Role(role)]} for role, parties in org.items()
                  for party in parties),
            ],
            "sponsor_sees": sorted(engagement.disclosure),
        }


__all__ = ["EXPORT_FORMAT", "SubjectService", "mentions"]
