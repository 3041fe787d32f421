"""Grants of the application: initialise the first admin, grant and revoke roles, read who holds what.

The register itself (``domain/grants.py``) decides; this service checks the admin's grant before
any reason is sealed, seals the reason under the granted party's key, and saves through the
command path (a clash re-reads and re-decides).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import Grants, grant_checked, require_auditor, require_grant
from engagement_tracker.domain.application import tokens
from engagement_tracker.domain.application.command_path import CommandPath
from engagement_tracker.domain.application.tokens import Identity, IssuedToken
from engagement_tracker.domain.checks import MAX_NAME_CHARS, require_text
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.grants import AccessRegister, require_grantable
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import PartyKind, Role


class AccessService:
    """``app.access.initialise / grant / revoke / grants / history``: who holds which role."""

    def __init__(self, path: CommandPath) -> None:
        self.path = path

    def initialise(
        self, admin_name: str | None = None, *, party_id: object = None, command_id: object = None
    ) -> CommandResult[UUID]:
        """Register the first admin (a person named ``admin_name``) and grant it admin; returns its id.

        ``party_id`` instead grants admin to a party already registered (a store written before
        grants existed). Refused, before anything is registered, when the store has an admin.
        """
        if (admin_name is None) == (party_id is None):
            raise InvalidInput("admin_name", "give the admin's name, or the id of a registered party (not both)")
        cid = self.path.resolve_command_id(command_id)
        if command_id is not None:
            done = self.path.stored_versions(AccessRegister.ID, cid)
            register = self.path.access_register()
            if done and register is not None and register.admins():
                return CommandResult(UUID(register.admins()[0]), cid, False, register.id, done)
        self._refuse_if_initialised()
        if party_id is not None:
            pid = self.path.party(party_id).id
        else:
            name = require_text(admin_name, "admin_name", MAX_NAME_CHARS)
            pid = self.path.new_id(None, command_id, cid, "party")

        def decide(register: AccessRegister, at: datetime) -> UUID:
            if register.admins():  # the loser of a race between two initialisers stops here
                raise RuleViolation("initialise", "initialised",
                                    [f"the store already has an admin ({register.admins()[0]})"])
            register.initialise(pid, at)
            return pid

        def first_admin(_register: AccessRegister, at: datetime, _was_ended: bool) -> list[Aggregate]:
            # The first admin's party and its grant are saved in one transaction: nothing of a refused
            # or lost initialise stays behind (no orphan party).
            return [] if party_id is not None else [self.path.sealing.new_party(PartyKind.PERSON, name, None, pid, at)]

        return self.path.update(AccessRegister, AccessRegister.ID, "access register", decide, first_admin,
                                command_id=cid, start=AccessRegister.start)

    def _refuse_if_initialised(self) -> None:
        register = self.path.access_register()
        if register is not None and register.admins():
            raise RuleViolation("initialise", "initialised", [f"the store already has an admin ({register.admins()[0]})"])

    @grant_checked
    def _change(
        self, step: str, party_id: object, role: object, admin: Actor, reason: str | None, command_id: object
    ) -> CommandResult[None]:
        if not isinstance(admin, Actor):
            raise InvalidInput("admin", f"expected Actor(party, role), got {type(admin).__name__}")
        value = require_grantable(role)
        if admin.role is not Role.ADMIN:
            raise NotPermitted(step, f"a {admin.role.value} may not {step} a role: only an admin does", ["admin"])
        require_grant(admin, Role.ADMIN, self.path.held_grants, step)  # before any reason is sealed
        pid = self.path.party(party_id).id
        self._refuse_erased(step, pid)
        sealed = self.path.sealing.seal_optional(pid, reason, "reason")

        def decide(register: AccessRegister, at: Any) -> None:
            self._refuse_erased(step, pid)  # re-read on every attempt: an erasure may have committed meanwhile
            getattr(register, step)(admin, pid, value, at, sealed)

        return self.path.update(AccessRegister, AccessRegister.ID, "access register", decide, command_id=command_id)

    def _refuse_erased(self, step: str, pid: UUID) -> None:
        """An erased party is granted nothing (its erasure revoked what it held)."""
        if step == "grant" and self.path.party(pid).erased:
            raise RuleViolation("grant", "erased", [f"party {pid} was erased: an erased party holds no grant; "
                                                    "grant the role to a party that is not erased"])

    def grant(
        self, party_id: object, role: Role | str, admin: Actor, reason: str | None = None, *, command_id: object = None
    ) -> CommandResult[None]:
        """An admin (holding the admin grant now) grants ``role`` to a registered party."""
        return self._change("grant", party_id, role, admin, reason, command_id)

    def revoke(
        self, party_id: object, role: Role | str, admin: Actor, reason: str | None = None, *, command_id: object = None
    ) -> CommandResult[None]:
        """An admin revokes ``role`` from a party; the last admin is never revoked."""
        return self._change("revoke", party_id, role, admin, reason, command_id)

    # --- tokens: identities at the door (``tokens.py``) ---------------------------------------------

    def issue_token(
        self, party_id: object, admin: Actor, expires: timedelta | datetime | None = None, label: str | None = None,
        *, command_id: object = None,
    ) -> CommandResult[IssuedToken]:
        """An admin issues a bearer token identifying a registered party; ``.value.secret`` is shown once."""
        return tokens.issue_token(self.path, party_id, admin, expires, label, command_id)

    def revoke_token(self, token_id: object, admin: Actor, *, command_id: object = None) -> CommandResult[None]:
        """An admin revokes a token: it authenticates nobody from then on."""
        return tokens.revoke_token(self.path, token_id, admin, command_id)

    def tokens(self, admin: Actor, party_id: object = None) -> list[dict[str, Any]]:
        """Every token issued (admins), or a party's: never a secret nor its digest."""
        return tokens.list_tokens(self.path, admin, party_id)

    def authenticate(self, secret: object) -> UUID:
        """The party a bearer token identifies now (NotAuthenticated otherwise); its grants still decide."""
        return tokens.authenticate(self.path, secret)

    def identify(self, secret: object) -> Identity:
        """The party a bearer token identifies now, as a reliance a later command's scope takes on
        (``identity.rely()`` inside ``access.relying_on_grants``: checked again at commit)."""
        return tokens.identify(self.path, secret)

    def grants(self, viewer: Actor) -> Grants:
        """Who holds which organisation-wide roles now (read-only: party id -> roles), for auditors and
        admins (granted)."""
        require_auditor(viewer, "read who holds which role", self.path.held_grants)
        return self.path.held_grants()

    def history(self, viewer: Actor) -> list[dict[str, Any]]:
        """Every grant and revocation: when, which role, to which party, by whom (auditors and admins).

        Reasons are shown to admins only (sealed under the granted party's key)."""
        require_auditor(viewer, "read the access history", self.path.held_grants)
        rows: list[dict[str, Any]] = []
        for stored in self.path.events.get(AccessRegister.ID):
            event = cast(Aggregate.Event, stored)
            if isinstance(event, AccessRegister.TokenIssued | AccessRegister.TokenRevoked):
                rows.append({"at": event.timestamp.isoformat(),
                             "change": "token issued" if isinstance(event, AccessRegister.TokenIssued) else "token revoked",
                             "role": "", "party": str(getattr(event, "party", "")), "by": str(event.actor.party),
                             **({"reason": None} if viewer.role is Role.ADMIN else {})})
                continue
            if not isinstance(event, AccessRegister.RoleGranted | AccessRegister.RoleRevoked):
                continue
            row: dict[str, Any] = {
                "at": event.timestamp.isoformat(),
                "change": "granted" if isinstance(event, AccessRegister.RoleGranted) else "revoked",
                "role": event.role,
                "party": str(event.party),
                "by": str(event.actor.party),
            }
            if viewer.role is Role.ADMIN:
                row["reason"] = self.path.sealing.unseal(event.reason)
            rows.append(row)
        return rows


__all__ = ["AccessService"]
