"""Stateful property test of grants: random grants, revocations and privileged calls by random parties.

Invariants: a privileged call (read the trail, replay, release signals, erase, grant, revoke)
succeeds if and only if its party held the grant it needs at that moment (a model of the register
says which); a refused call writes nothing (the store's event count is unchanged); the register
always has an admin.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import EtrackError, NotPermitted
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from tests.support import FakeClock, event_count, new_tracker

GRANTABLE = [Role.ADMIN, Role.AUDITOR, Role.ANALYST, Role.COACH]
CLAIMS = [Role.ADMIN, Role.AUDITOR, Role.ANALYST, Role.COACH, Role.COACHEE]
#: mostly the first admin, mostly claiming admin: so grants happen and privileged calls succeed often
BY = st.sampled_from([0, 0, 0, 1, 2, 3, 4])
CLAIM = st.sampled_from([Role.ADMIN, Role.ADMIN, Role.AUDITOR, Role.ANALYST, *CLAIMS])
#: privileged calls and the grants that let a claimed role make them
CALLS: dict[str, tuple[Role, ...]] = {
    "entries": (Role.AUDITOR, Role.ADMIN),
    "replay": (Role.AUDITOR, Role.ADMIN),
    "history": (Role.AUDITOR, Role.ADMIN),
    "summary": (Role.ANALYST, Role.ADMIN),
    "erase": (Role.ADMIN,),
}


class GrantsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = new_tracker("memory:", FakeClock())
        first = self.app.access.initialise("Ada Admin").value
        self.parties: list[UUID] = [first] + [self.app.parties.register("person", f"P{n}").value for n in range(3)]
        self.parties.append(UUID(int=0xBAD))  # a made-up party, never registered
        self.model: dict[UUID, set[str]] = {first: {"admin"}}
        self.audit = bootstrap.audit_service(self.app)
        self.analyst = bootstrap.analyst_service(self.app)

    def teardown(self) -> None:
        self.app.close()

    def holds(self, party: UUID, role: Role) -> bool:
        return role.value in self.model.get(party, set())

    def attempt(self, call: Any, expected: bool, what: str) -> None:
        before = event_count(self.app)
        try:
            call()
            ok = True
        except NotPermitted:
            ok = False
        except EtrackError as exc:  # refused for another reason (a rule): still writes nothing
            ok = None
            event(f"{what}: {type(exc).__name__}")
        if ok is not True:
            assert event_count(self.app) == before, f"a refused {what} wrote events"
        if ok is not None:
            assert ok == expected, f"{what}: succeeded={ok}, model says {expected}; model={self.model}"
        event(f"{what}: {'ok' if ok else 'refused'}")

    @rule(by=BY, party=st.integers(0, 4), role=st.sampled_from(GRANTABLE), claim=CLAIM)
    def grant(self, by: int, party: int, role: Role, claim: Role) -> None:
        admin, target = Actor(self.parties[by], claim), self.parties[party]
        permitted = claim is Role.ADMIN and self.holds(admin.party, Role.ADMIN)
        before = event_count(self.app)
        try:
            self.app.access.grant(target, role, admin)
        except NotPermitted:
            assert not permitted and event_count(self.app) == before
            return
        except EtrackError:  # held already, or an unknown party
            assert event_count(self.app) == before
            assert permitted and (self.holds(target, role) or party == 4)
            return
        assert permitted and not self.holds(target, role)
        self.model.setdefault(target, set()).add(role.value)

    @rule(by=BY, party=st.integers(0, 4), role=st.sampled_from(GRANTABLE), claim=CLAIM)
    def revoke(self, by: int, party: int, role: Role, claim: Role) -> None:
        admin, target = Actor(self.parties[by], claim), self.parties[party]
        permitted = claim is Role.ADMIN and self.holds(admin.party, Role.ADMIN)
        before = event_count(self.app)
        try:
            self.app.access.revoke(target, role, admin)
        except NotPermitted:
            assert not permitted and event_count(self.app) == before
            return
        except EtrackError:  # not held, the last admin, or an unknown party
            assert event_count(self.app) == before
            admins = [p for p, r in self.model.items() if "admin" in r]
            assert permitted and (not self.holds(target, role) or admins == [target] or party == 4)
            return
        assert permitted and self.holds(target, role)
        self.model[target].discard(role.value)

    @rule(party=st.integers(0, 4), claim=CLAIM, call=st.sampled_from(sorted(CALLS)))
    def privileged(self, party: int, claim: Role, call: str) -> None:
        actor = Actor(self.parties[party], claim)
        expected = claim in CALLS[call] and self.holds(actor.party, claim)
        if call == "erase":
            victim = self.app.parties.register("person", "Leaver").value  # before counting: the erasure alone
            self.attempt(lambda: self.app.parties.erase(victim, actor), expected, call)
            if not expected:
                assert not self.app.sealer.is_erased(str(victim)), "a refused erasure destroyed a key"
            return
        run = {
            "entries": lambda: self.audit.entries(actor),
            "replay": lambda: self.app.replay(self.parties[1], actor),
            "history": lambda: self.app.access.history(actor),
            "summary": lambda: self.analyst.summary(actor),
        }[call]
        self.attempt(run, expected, call)

    @invariant()
    def the_register_is_the_model(self) -> None:
        held = {UUID(p): set(r) for p, r in self.app.held_grants().items()}
        assert held == {p: r for p, r in self.model.items() if r}
        assert any("admin" in r for r in held.values())


TestGrants = GrantsMachine.TestCase
