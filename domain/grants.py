"""AccessRegister: the organisation-wide roles each party was granted (one register per store).

A role claimed in an Actor is only a claim: admin, auditor, analyst and coach are honoured
only while the party holds that grant here. Grants and revocations are events, so who could do
what, when, and who decided it, is part of history. Events only assign state; the commands
decide (who may grant, what is already held, never revoking the last admin).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import Grants, drop_grant, grants_of, hold_grant
from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.copying import aggregate_copy
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import Role

#: A token's recorded form: the SHA-256 digest of its secret, as hex.
_DIGEST = re.compile(r"[0-9a-f]{64}")

_NAMESPACE = uuid5(NAMESPACE_URL, "https://engagement-tracker.invalid/access-register")

#: The roles an admin grants. Engagement roles (coachee, sponsor, member) stay scoped to their
#: engagement or cohort; the system role belongs to the deadline clock alone.
GRANTABLE_ROLES: tuple[str, ...] = (Role.ADMIN.value, Role.AUDITOR.value, Role.ANALYST.value, Role.COACH.value)


def require_grantable(role: object) -> str:
    value = role.value if isinstance(role, Role) else role
    if not isinstance(value, str) or value not in GRANTABLE_ROLES:
        raise InvalidInput("role", f"{role!r}: grantable roles are {', '.join(GRANTABLE_ROLES)}")
    return value


class AccessRegister(Aggregate):
    TOPIC = "etrack:AccessRegister"
    ID = uuid5(_NAMESPACE, "register")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """The copy each command gets from the cache: containers copied, frozen values shared (``copying.py``)."""
        return aggregate_copy(self, memo)

    class Event(Stamped, Aggregate.Event):
        """Every event carries the id of the command that recorded it (``command_ids.py``)."""

    class Created(Aggregate.Created):
        TOPIC = "etrack:AccessRegister.Created"

    class RoleGranted(Aggregate.Event):
        TOPIC = "etrack:AccessRegister.RoleGranted"
        actor: Actor
        party: UUID
        role: str
        reason: Sealed | None

        def apply(self, register: AccessRegister) -> None:
            hold_grant(register.holders, str(self.party), self.role)

    class RoleRevoked(Aggregate.Event):
        TOPIC = "etrack:AccessRegister.RoleRevoked"
        actor: Actor
        party: UUID
        role: str
        reason: Sealed | None

        def apply(self, register: AccessRegister) -> None:
            drop_grant(register.holders, str(self.party), self.role)

    class TokenIssued(Aggregate.Event):
        """An admin issued a bearer token identifying ``party``: only the SHA-256 ``digest`` of its
        secret is recorded (the secret is shown once, never stored); ``label`` is sealed under the
        party's key; ``expires_at`` None: until revoked."""

        TOPIC = "etrack:AccessRegister.TokenIssued"
        actor: Actor
        token: UUID
        party: UUID
        digest: str
        label: Sealed | None
        expires_at: datetime | None

        def apply(self, register: AccessRegister) -> None:
            register.tokens[str(self.token)] = {
                "party": str(self.party), "digest": self.digest, "label": self.label,
                "issued_at": self.timestamp, "expires_at": self.expires_at, "by": str(self.actor.party),
                "revoked_at": None,
            }

    class TokenRevoked(Aggregate.Event):
        TOPIC = "etrack:AccessRegister.TokenRevoked"
        actor: Actor
        token: UUID

        def apply(self, register: AccessRegister) -> None:
            register.tokens[str(self.token)]["revoked_at"] = self.timestamp

    def __init__(self) -> None:
        #: party id -> roles it holds now (in the order granted)
        self.holders: dict[str, list[str]] = {}
        #: token id -> party, digest, sealed label, issued_at, expires_at, by, revoked_at
        self.tokens: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, at: datetime) -> AccessRegister:
        return cls._create(cls.Created, id=cls.ID, timestamp=require_time(at))

    # --- reads ------------------------------------------------------------------------------------

    def grants(self) -> Grants:
        """Who holds which roles now: party id (str) -> roles."""
        return grants_of(self.holders)

    def holds(self, party: UUID, role: str) -> bool:
        return role in self.holders.get(str(party), [])

    def admins(self) -> list[str]:
        return [p for p, roles in self.holders.items() if Role.ADMIN.value in roles]

    # --- commands ---------------------------------------------------------------------------------

    def initialise(self, admin_party: UUID, at: datetime) -> None:
        """Grant admin to the first admin; accepted only while no admin exists."""
        require_time(at)
        if self.admins():
            raise RuleViolation("initialise", "initialised", [f"the store already has an admin ({self.admins()[0]})"])
        self.trigger_event(
            self.RoleGranted, timestamp=at, actor=Actor(admin_party, Role.ADMIN), party=admin_party,
            role=Role.ADMIN.value, reason=None,
        )

    def _require_admin(self, actor: Actor, action: str) -> None:
        if not isinstance(actor, Actor):
            raise InvalidInput("actor", f"expected Actor(party, role), got {type(actor).__name__}")
        if actor.role is not Role.ADMIN:
            raise NotPermitted(action, f"a {actor.role.value} may not {action} a role: only an admin does", ["admin"])
        if not self.holds(actor.party, Role.ADMIN.value):
            raise NotPermitted(action, f"party {actor.party} holds no admin grant", ["admin"])

    def grant(self, actor: Actor, party: UUID, role: str, at: datetime, reason: Sealed | None = None) -> None:
        require_time(at)
        role = require_grantable(role)
        self._require_admin(actor, "grant")
        if self.holds(party, role):
            raise RuleViolation("grant", "granted", [f"party {party} already holds {role}"])
        self.trigger_event(self.RoleGranted, timestamp=at, actor=actor, party=party, role=role, reason=reason)

    def revoke(self, actor: Actor, party: UUID, role: str, at: datetime, reason: Sealed | None = None) -> None:
        require_time(at)
        role = require_grantable(role)
        self._require_admin(actor, "revoke")
        if not self.holds(party, role):
            raise RuleViolation("revoke", "not granted", [f"party {party} holds no {role} grant"])
        if role == Role.ADMIN.value and self.admins() == [str(party)]:
            raise RuleViolation("revoke", "last admin", [f"party {party} is the last admin: grant admin to another first"])
        self.trigger_event(self.RoleRevoked, timestamp=at, actor=actor, party=party, role=role, reason=reason)

    # --- tokens: bearer secrets identifying a party (its grants still decide what it may do) -------

    def issue_token(self, actor: Actor, token: UUID, party: UUID, digest: str, label: Sealed | None,
                    expires_at: datetime | None, at: datetime) -> None:
        require_time(at)
        self._require_admin(actor, "issue a token")
        if str(token) in self.tokens:
            raise RuleViolation("issue token", "issued", [f"token {token} was already issued"])
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise InvalidInput("digest", "expected the SHA-256 digest of the secret, as 64 hex digits")
        if any(hmac.compare_digest(t["digest"], digest) for t in self.tokens.values()):
            raise RuleViolation("issue token", "issued", ["a token with this secret exists: issue a new secret"])
        if expires_at is not None:
            require_time(expires_at)
            if expires_at <= at:
                raise InvalidInput("expires", f"{expires_at.isoformat()} is not after now ({at.isoformat()})")
        self.trigger_event(self.TokenIssued, timestamp=at, actor=actor, token=token, party=party, digest=digest,
                           label=label, expires_at=expires_at)

    def revoke_token(self, actor: Actor, token: UUID, at: datetime) -> None:
        require_time(at)
        self._require_admin(actor, "revoke a token")
        held = self.tokens.get(str(token))
        if held is None:
            raise RuleViolation("revoke token", "not issued", [f"no token {token} was issued"])
        if held["revoked_at"] is not None:
            raise RuleViolation("revoke token", "revoked", [f"token {token} was revoked at {held['revoked_at']}"])
        self.trigger_event(self.TokenRevoked, timestamp=at, actor=actor, token=token)

    def token_holder(self, digest: str, at: datetime) -> tuple[str, UUID] | None:
        """The token whose secret has SHA-256 ``digest`` and the party it identifies, if it is valid at
        ``at`` (issued, not revoked, not expired); None otherwise. Every digest is compared in constant
        time, all of them (no early exit), so the time taken says nothing of which one matched."""
        found: tuple[str, UUID] | None = None
        for token, held in self.tokens.items():
            if hmac.compare_digest(held["digest"], digest) and found is None:
                found = (token, UUID(held["party"]))
        if found is None:
            return None
        held = self.tokens[found[0]]
        if held["revoked_at"] is not None or (held["expires_at"] is not None and held["expires_at"] <= at):
            return None
        return found

    def is_last_admin(self, party: UUID) -> bool:
        """True when ``party`` is the only holder of the admin grant."""
        return self.admins() == [str(party)]

    def revoke_all(self, actor: Actor, party: UUID, at: datetime, reason: Sealed | None = None) -> list[str]:
        """Revoke every role ``party`` holds (it is being erased); returns the roles revoked.

        Refused for the last admin: someone must still be able to grant and revoke."""
        require_time(at)
        self._require_admin(actor, "revoke")
        held = list(self.holders.get(str(party), []))
        if Role.ADMIN.value in held and self.is_last_admin(party):
            raise RuleViolation("erase", "last admin", [
                f"party {party} is the last admin, and a store needs one: grant admin to another party first "
                f"(etrack grant admin PARTY_ID --as admin:{party}), then erase"])
        for role in held:
            self.trigger_event(self.RoleRevoked, timestamp=at, actor=actor, party=party, role=role, reason=reason)
        return held
