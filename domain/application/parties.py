"""Parties: register a person or a team, read one, list them (admins), erase one (GDPR).

A party's name and contact are sealed under its own key; erasure records the fact (no personal
data), revokes every grant the party held in the same transaction, then destroys the key.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import grant_checked, require_eraser, require_grant
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_member, require_text
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.errors import InvalidInput, NotPermitted
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.retention import session_subject
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import PartyKind, Role


class PartyService:
    """``app.parties.register / get / name / list / erase``."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def __call__(self, viewer: Actor) -> list[dict[str, Any]]:
        """Deprecated: ``app.parties(viewer)`` is ``app.parties.list(viewer)``."""
        warnings.warn("app.parties(viewer) is deprecated: use app.parties.list(viewer)", DeprecationWarning,
                      stacklevel=2)
        return self.list(viewer)

    def get(self, party_id: object) -> Party:
        """The party (its name and contact sealed); NotFound for an unknown id."""
        return self.path.party(party_id)

    def name(self, party_id: object) -> str:
        """The party's name, or "[erased]" once it was erased."""
        return self.path.party_name(party_id)

    def register(
        self,
        kind: PartyKind | str,
        name: str,
        contact: str | None = None,
        party_id: UUID | None = None,
        *,
        command_id: object = None,
    ) -> CommandResult[UUID]:
        """Register a person or a team; the name and contact are sealed under its own key.

        Given a ``command_id`` and no ``party_id``, the id derives from the command id: a retry
        of the same command returns the party it registered instead of registering another."""
        kind = require_member(PartyKind, kind, "kind")
        name = require_text(name, "name", MAX_NAME_CHARS)
        if contact is not None:
            contact = require_text(contact, "contact", MAX_NAME_CHARS)

        def make(pid: UUID, at: datetime) -> list[Party]:
            return [self.path.sealing.new_party(kind, name, contact, pid, at)]

        return self.path.create("party", make, party_id, command_id)

    @grant_checked
    def erase(self, party_id: object, actor: Actor, *, command_id: object = None) -> CommandResult[dict[str, Any]]:
        """Erase a person or team: record the erasure (no personal data), then destroy their key.

        Everything sealed under that key (names, contact, notes of their engagements) becomes
        unreadable for good; history and its audit chain still verify. Returns the outcome, whose
        value is the receipt; running it again for the same party returns the same receipt,
        "already recorded".
        """
        require_eraser(actor, self.path.held_grants)  # the grant held now; a refusal destroys no key
        party = self.path.party(party_id)
        register = self.path.access_register()
        before = sorted(register.holders.get(str(party.id), [])) if register is not None else []
        outcome: CommandResult[Any] | None = None
        if not party.erased:
            reason = self._erasure_reason(actor, party.id)
            outcome = self.path.update(Party, party.id, "party", lambda p, at: p.erase(actor, at),
                                       self._revoking_grants_of(actor, reason), command_id=command_id)
            party = self.path.party(party.id)
        elif before and register is not None and not register.is_last_admin(party.id):
            # erased before erasure revoked grants: revoke what it still holds now
            reason = self._erasure_reason(actor, party.id)
            outcome = self.path.update(AccessRegister, AccessRegister.ID, "access register",
                                       lambda r, at: r.revoke_all(actor, party.id, at, reason), command_id=command_id)
        after = sorted(self.path.held_grants().get(str(party.id), frozenset()))
        destroyed = self.path.sealer.erase_subject(str(party.id))
        self._erase_session_keys(party.id)
        erased_at = party.modified_on.isoformat()
        token = f"etrack-erasure|{party.id}|{erased_at}|{party.version}"
        receipt = {
            "subject": str(party.id),
            "erased_at": erased_at,
            "recorded_version": party.version,
            "key_destroyed_now": destroyed,
            "key_present": not self.path.sealer.is_erased(str(party.id)),
            "receipt": hashlib.sha256(token.encode()).hexdigest(),
            "grants_revoked": [role for role in before if role not in after],
        }
        if outcome is None:  # erased before: nothing more to record
            return CommandResult(receipt, self.path.resolve_command_id(command_id), False, party.id)
        return CommandResult(receipt, outcome.command_id, outcome.recorded_now, party.id, outcome.versions)

    def _erase_session_keys(self, party: UUID) -> None:
        """The session notes of the party's engagements as coachee are sealed under a key per engagement
        (``retention.session_subject``): erasing the party destroys those keys too."""
        for eid in self.path.ids_of(Engagement.Created.TOPIC):
            if self.path.load(Engagement, eid, "engagement").coachee != party:
                continue
            subject = session_subject(party, eid)
            if not self.path.sealer.is_erased(subject):
                self.path.sealer.create_subject(subject)
                self.path.sealer.erase_subject(subject)

    def _erasure_reason(self, actor: Actor, party: UUID) -> Sealed:
        """Why an erased party's grants were revoked, sealed under the erasing admin's key (the
        erased party's own key is about to be destroyed; the reason must stay readable)."""
        reason = f"the party {party} was erased (GDPR): every grant it held is revoked"
        return self.path.sealing.seal(actor.party, reason, "reason")

    def _revoking_grants_of(self, actor: Actor, reason: Sealed) -> Callable[[Party, datetime, bool], list[Aggregate]]:
        """The erasure's companion: every grant the erased party holds, revoked in the same transaction
        (the register re-read on every attempt); refused, with nothing saved, for the last admin."""

        def revoke(party: Party, at: datetime, _was_ended: bool) -> list[Aggregate]:
            register = self.path.access_register()
            if register is None or str(party.id) not in register.holders:
                return []
            register.revoke_all(actor, party.id, at, reason)
            return [register]

        return revoke

    def list(self, viewer: Actor) -> list[dict[str, Any]]:
        """Every registered party: id, kind, erased or not, and its grants; no names (admins only)."""
        if not isinstance(viewer, Actor):
            raise InvalidInput("viewer", f"expected Actor(party, role), got {type(viewer).__name__}")
        if viewer.role is not Role.ADMIN:
            raise NotPermitted("list parties", f"a {viewer.role.value} does not list parties", ["admin"])
        grants = self.path.held_grants()
        require_grant(viewer, Role.ADMIN, lambda: grants, "list parties")
        rows = []
        start = 1
        while True:
            page = self.path.recorder.select_notifications(start, 500, topics=[Party.Created.TOPIC])
            for n in page:
                party = self.get(UUID(str(n.originator_id)))
                rows.append({"id": str(party.id), "kind": party.kind.value, "erased": party.erased,
                             "grants": sorted(grants.get(str(party.id), frozenset()))})
            if len(page) < 500:
                return rows
            start = page[-1].id + 1
