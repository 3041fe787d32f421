"""The two small aggregates: a coach's team load (capacity) and a party (registration, erasure)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.coach_load import CapacityPolicy, CoachLoad
from engagement_tracker.domain.errors import CapacityExceeded, InvalidInput, NotPermitted, RuleViolation
from engagement_tracker.domain.party import Party
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import PartyKind, Role
from tests.unit.aggregates.builders import COACH, T0, Clock, refused, sealed

ADMIN = Actor(UUID(int=900), Role.ADMIN)


def team(n: int) -> UUID:
    return UUID(int=700 + n)


# --- coach load -------------------------------------------------------------------------------


def test_a_coach_load_has_one_id_per_coach_and_starts_empty() -> None:
    load = CoachLoad.start(COACH.party, T0)
    assert load.id == CoachLoad.id_for(COACH.party) != CoachLoad.id_for(UUID(int=2))
    assert (load.coach, load.active, load.warnings) == (COACH.party, [], [])


def test_above_three_teams_warns_and_above_four_refuses() -> None:
    clock, load, policy = Clock(), CoachLoad.start(COACH.party, T0), CapacityPolicy()
    assert [load.take(team(n), COACH, clock(), policy) for n in range(4)] == [False, False, False, True]
    assert load.warnings == [clock()]
    err = refused(load, CapacityExceeded, lambda: load.take(team(4), COACH, clock(), policy))
    assert "already accompanies 4 teams; the limit is 4" in err.problems[0] and isinstance(err, RuleViolation)


@given(warn=st.integers(1, 6), extra=st.integers(0, 3))
def test_a_coach_takes_exactly_refuse_above_slots(warn: int, extra: int) -> None:
    policy = CapacityPolicy(warn_above=warn, refuse_above=warn + extra)
    clock, load = Clock(), CoachLoad.start(COACH.party, T0)
    warnings = [load.take(team(n), COACH, clock(), policy) for n in range(policy.refuse_above)]
    assert warnings == [n + 1 > warn for n in range(policy.refuse_above)]
    refused(load, CapacityExceeded, lambda: load.take(team(99), COACH, clock(), policy))


def test_releasing_frees_a_slot_and_an_unknown_release_records_nothing() -> None:
    clock, load, policy = Clock(), CoachLoad.start(COACH.party, T0), CapacityPolicy(1, 1)
    load.take(team(0), COACH, clock(), policy)
    version = load.version
    load.release(team(9), COACH, clock())
    assert load.version == version
    load.release(team(0), COACH, clock())
    assert load.active == [] and load.take(team(1), COACH, clock(), policy) is False


def test_a_policy_warns_before_it_refuses() -> None:
    with pytest.raises(InvalidInput) as info:
        CapacityPolicy(warn_above=5, refuse_above=4)
    assert info.value.field == "capacity"


def test_taking_a_slot_twice_for_one_engagement_counts_it_once() -> None:
    clock, load, policy = Clock(), CoachLoad.start(COACH.party, T0), CapacityPolicy()
    load.take(team(0), COACH, clock(), policy)
    load.take(team(0), COACH, clock(), policy)
    load.release(team(0), COACH, clock())
    assert load.active == []


# --- party ------------------------------------------------------------------------------------


def register(name=None, contact=None, kind=PartyKind.PERSON, at=T0):  # type: ignore[no-untyped-def]
    return Party.register(UUID(int=800), kind, name or sealed("Marc Petit"), contact, at)


def test_a_party_is_registered_with_its_name_sealed() -> None:
    party = register(contact=sealed("marc@example.org"))
    assert (party.kind, party.name, party.erased) == (PartyKind.PERSON, sealed("Marc Petit"), False)
    assert b"Marc" not in party.name.ciphertext  # the builder's stand-in ciphertext hides the text


def test_only_an_admin_erases_a_party_and_only_once() -> None:
    party = register()
    err = refused(party, NotPermitted, lambda: party.erase(COACH, T0))
    assert err.allowed == ("admin",)
    party.erase(ADMIN, T0)
    assert party.erased
    err = refused(party, RuleViolation, lambda: party.erase(ADMIN, T0))
    assert err.problems == (f"party {party.id} was already erased",)


def test_a_plaintext_name_is_refused() -> None:
    with pytest.raises(InvalidInput):
        register(name="Marc Petit")


def test_an_unknown_party_kind_names_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        register(kind="robot")
    assert info.value.field == "kind"


def test_a_naive_time_is_refused_by_every_aggregate() -> None:
    naive = datetime(2026, 1, 5, 9)
    with pytest.raises(InvalidInput):
        register(at=naive)
    with pytest.raises(InvalidInput):
        CoachLoad.start(COACH.party, naive)
