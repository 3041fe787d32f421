"""AccessRegister: the organisation-wide roles each party was granted (one register per store).

A role claimed in an Actor is only a claim: admin, auditor, analyst and coach are honoured
only while the party holds that grant here. Grants and revocations are events, so who could do
what, when, and who decided it, is part of history. Events only assign state; the commands
decide (who may grant, what is already held, never revoking the last admin).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from engagement_tracker.domain.access import Grants
from engagement_tracker.domain.checks import require_time
from engagement_tracker.domain.command_ids import Stamped
from engagement_tracker.domain.copying import aggregate_copy
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.values import Actor, Sealed
from engagement_tracker.domain.vocabulary import Role

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
            held = register.holders.setdefault(str(self.party), [])
            held.append(self.role)

    class RoleRevoked(Aggregate.Event):
        TOPIC = "etrack:AccessRegister.RoleRevoked"
        actor: Actor
        party: UUID
        role: str
        reason: Sealed | None

        def apply(self, register: AccessRegister) -> None:
            held = register.holders[str(self.party)]
            held.remove(self.role)
            if not held:
                del register.holders[str(self.party)]

    def __init__(self) -> None:
        #: party id -> roles it holds now (in the order granted)
        self.holders: dict[str, list[str]] = {}

    @classmethod
    def start(cls, at: datetime) -> AccessRegister:
        return cls._create(cls.Created, id=cls.ID, timestamp=require_time(at))

    # --- reads ------------------------------------------------------------------------------------

    def grants(self) -> Grants:
        """Who holds which roles now: party id (str) -> roles."""
        return {party: frozenset(roles) for party, roles in self.holders.items()}

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
