"""The application: commands with an injected clock and id factory, and role-filtered reads.

It seals confidential text through the sealing port before any aggregate sees it, saves with
optimistic concurrency (a clash re-reads and re-decides, then raises ConcurrencyConflict), and
never chooses a backend: the environment it is given does (see ``adapters/storage.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    MapperDeserialisationError,
)

from engagement_tracker.domain.access import grant_checked, require_auditor, require_eraser
from engagement_tracker.domain.application.budget_commands import BudgetCommands
from engagement_tracker.domain.application.coach_hours import CoachHoursReads
from engagement_tracker.domain.application.cohort_commands import CohortCommands
from engagement_tracker.domain.application.command_path import Clock, IdFactory, as_uuid
from engagement_tracker.domain.application.engagement_commands import EngagementCommands
from engagement_tracker.domain.application.grant_commands import GrantCommands
from engagement_tracker.domain.application.views import EngagementReads, state_as_json
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_member, require_text
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    StoreError,
)
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.sealing import Sealer
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import SYSTEM_PARTY, PartyKind, Role


class EngagementTracker(GrantCommands, BudgetCommands, EngagementCommands, EngagementReads, CoachHoursReads):
    """The domain core's application: engagements, cohorts, parties, deadlines, erasure, replay."""

    name = "etrack"
    #: A snapshot every 20 engagement events (ETRACK_SNAPSHOT_INTERVAL overrides it).
    snapshotting_intervals = {Engagement: 20, Cohort: 20}  # noqa: RUF012 - eventsourcing's class-level config

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        sealer: Sealer,
        clock: Clock,
        ids: IdFactory,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(env, sealer=sealer, clock=clock, ids=ids, max_retries=max_retries)
        self.cohorts = CohortCommands(self)

    # --- parties ----------------------------------------------------------------------------

    def register_party(
        self,
        kind: PartyKind | str,
        name: str,
        contact: str | None = None,
        party_id: UUID | None = None,
        *,
        command_id: object = None,
    ) -> UUID:
        """Register a person or a team; the name and contact are sealed under its own key.

        Given a ``command_id`` and no ``party_id``, the id derives from the command id: a retry
        of the same command returns the party it registered instead of registering another."""
        kind = require_member(PartyKind, kind, "kind")
        name = require_text(name, "name", MAX_NAME_CHARS)
        if contact is not None:
            contact = require_text(contact, "contact", MAX_NAME_CHARS)
        command = self._command_id(command_id)
        pid = self._new_id(party_id, command_id, command, "party")
        if self.exists(pid):
            if command_id is not None and self.recorded_by(pid, "party", command):
                return pid
            raise AlreadyExists("party", pid)
        party = self._new_party(kind, name, contact, pid, self._now())
        self._save_new(party, "party", command)
        return pid

    # --- erasure (GDPR) -----------------------------------------------------------------------

    @grant_checked
    def erase_subject(self, party_id: object, actor: Actor, *, command_id: object = None) -> dict[str, Any]:
        """Erase a person or team: record the erasure (no personal data), then destroy their key.

        Everything sealed under that key (names, contact, notes of their engagements) becomes
        unreadable for good; history and its audit chain still verify. Returns a receipt.
        Running it again for the same party returns the receipt again.
        """
        require_eraser(actor, self.held_grants)  # the grant held now; a refusal destroys no key
        party = self.party(party_id)
        register = self.access_register()
        before = sorted(register.holders.get(str(party.id), [])) if register is not None else []
        if not party.erased:
            reason = self._erasure_reason(actor, party.id)
            self._update(Party, party.id, "party", lambda p, at: p.erase(actor, at),
                         self._revoking_grants_of(actor, reason), command_id=command_id)
            party = self.party(party.id)
        elif before and register is not None and not register.is_last_admin(party.id):
            # erased before erasure revoked grants: revoke what it still holds now
            reason = self._erasure_reason(actor, party.id)
            self._update(AccessRegister, AccessRegister.ID, "access register",
                         lambda r, at: r.revoke_all(actor, party.id, at, reason), command_id=command_id)
        after = sorted(self.held_grants().get(str(party.id), frozenset()))
        destroyed = self.sealer.erase_subject(str(party.id))
        erased_at = party.modified_on.isoformat()
        token = f"etrack-erasure|{party.id}|{erased_at}|{party.version}"
        return {
            "subject": str(party.id),
            "erased_at": erased_at,
            "recorded_version": party.version,
            "key_destroyed_now": destroyed,
            "key_present": not self.sealer.is_erased(str(party.id)),
            "receipt": hashlib.sha256(token.encode()).hexdigest(),
            "grants_revoked": [role for role in before if role not in after],
        }

    def _erasure_reason(self, actor: Actor, party: UUID) -> Sealed:
        """Why an erased party's grants were revoked, sealed under the erasing admin's key (the
        erased party's own key is about to be destroyed; the reason must stay readable)."""
        return self.seal(actor.party, f"the party {party} was erased (GDPR): every grant it held is revoked", "reason")

    def _revoking_grants_of(self, actor: Actor, reason: Sealed) -> Callable[[Party, datetime, bool], list[Aggregate]]:
        """The erasure's companion: every grant the erased party holds, revoked in the same transaction
        (the register re-read on every attempt); refused, with nothing saved, for the last admin."""

        def revoke(party: Party, at: datetime, _was_ended: bool) -> list[Aggregate]:
            register = self.access_register()
            if register is None or str(party.id) not in register.holders:
                return []
            register.revoke_all(actor, party.id, at, reason)
            return [register]

        return revoke

    # --- point-in-time replay (auditors) -----------------------------------------------------------

    def replay(
        self, aggregate_id: object, viewer: Actor, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """The state of an engagement, cohort or party at a version or a time, sealed fields shown sealed.

        For auditors and admins: nothing is unsealed, so the replay reads no confidential content.
        """
        require_auditor(viewer, "replay", self.held_grants)
        ident = as_uuid(aggregate_id, "aggregate_id")
        try:
            events = [cast(Aggregate.Event, e) for e in self.events.get(ident)]
        except MapperDeserialisationError:
            raise StoreError(f"cannot decode {ident}: ETRACK_CIPHER_KEY is missing or wrong") from None
        if not events:
            raise NotFound("engagement, cohort or party", ident)
        if version is not None and at is not None:
            raise InvalidInput("version", "give a version or a time, not both")
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInput("at", "expected a timezone-aware datetime")
            upto = [e for e in events if e.timestamp <= at]
            if not upto:
                raise InvalidInput("at", f"{at.isoformat()} is before {ident} existed ({events[0].timestamp})")
            version = upto[-1].originator_version
        last = events[-1].originator_version
        if version is None:
            version = last
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= last:
            raise InvalidInput("version", f"{version!r}: {ident} has versions 1 to {last}")
        if isinstance(events[0], Engagement.Created):  # the decision state and what its events carry
            record = EngagementRecord.of(events[:version])
            content = {f.name: getattr(record, f.name) for f in attrs.fields(EngagementRecord)[1:]}
            return {**state_as_json(record.engagement), **state_as_json(content)}
        aggregate: Aggregate | None = None
        for event in events[:version]:
            aggregate = event.mutate(aggregate)
        state: dict[str, Any] = state_as_json(aggregate)
        return state

    def tick(self, now: datetime | None = None, on_progress: Callable[[int, int], None] | None = None,
             ) -> list[dict[str, Any]]:
        """Record every deadline that fell due by ``now`` (default: the clock), exactly once.

        Returns what was recorded now: kind, id, deadline, due_at. Running it again records
        nothing new. ``on_progress(done, total)`` is told after each engagement or cohort looked at.
        """
        now = self._now() if now is None else now
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidInput("now", "expected a timezone-aware datetime")
        system = Actor(SYSTEM_PARTY, Role.SYSTEM)
        recorded: list[dict[str, Any]] = []
        sources: list[tuple[str, type[Engagement] | type[Cohort], list[UUID]]] = [
            ("engagement", Engagement, list(self.engagement_ids())),
            ("cohort", Cohort, list(self.cohort_ids())),
        ]
        total, done = sum(len(ids) for _, _, ids in sources), 0
        for kind, cls, ids in sources:
            for agg_id in ids:
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
                rules = {"off_track_weeks": self.settings.off_track_weeks} if cls is Engagement else {}
                if not self._load(cls, agg_id, kind).due_deadlines(now, **rules):
                    continue

                def record(
                    agg: Any, _at: datetime, kind: str = kind, rules: dict[str, int] = rules
                ) -> list[dict[str, Any]]:
                    rows = []
                    for deadline, due_at in agg.due_deadlines(now, **rules):
                        agg.miss_deadline(system, now, deadline, due_at)
                        rows.append(
                            {"kind": kind, "id": str(agg.id), "deadline": deadline, "due_at": due_at.isoformat()}
                        )
                    return rows

                recorded.extend(self._update(cls, agg_id, kind, record))
        return recorded


__all__ = ["EngagementTracker"]
