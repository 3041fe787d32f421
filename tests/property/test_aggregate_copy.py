"""The copy a command gets from the aggregate cache (``domain/copying.py``) is a deep copy: equal to
``copy.deepcopy``'s, sharing nothing that can change, and keeping one container reached twice as one."""

from __future__ import annotations

import copy
from datetime import UTC
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain import Role
from engagement_tracker.domain.copying import aggregate_copy, copied
from engagement_tracker.domain.values import Actor, Sealed
from tests.support import MILESTONES, Cast, drive, open_engagement


@attrs.define
class Mutable:
    """A mutable value the copier does not know: it must be deep-copied, never shared."""

    items: list[int]


@attrs.frozen
class FrozenHoldingAList:
    """Frozen, yet holding a mutable list: not immutable, so not shared either."""

    items: list[int]


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.binary(max_size=5),
    st.dates(), st.datetimes(timezones=st.just(UTC)), st.uuids(),
    st.builds(Actor, st.uuids(), st.sampled_from(Role)),
    st.builds(Sealed, st.text(max_size=5), st.binary(max_size=5), st.binary(max_size=5)),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
        st.tuples(inner, inner),
        st.builds(Mutable, st.lists(st.integers(), max_size=3)),
        st.builds(FrozenHoldingAList, st.lists(st.integers(), max_size=3)),
    ),
    max_leaves=12,
)


def _mutables(value: Any) -> list[Any]:
    """Every mutable object inside ``value`` (containers and mutable instances)."""
    found: list[Any] = []
    if isinstance(value, (list, dict, set, Mutable)):
        found.append(value)
    children = (value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple, set))
                else [value.items] if isinstance(value, (Mutable, FrozenHoldingAList)) else [])
    for child in children:
        found.extend(_mutables(child))
    return found


@given(values)
def test_a_copy_equals_deepcopy_and_shares_nothing_mutable(value: Any) -> None:
    made = copied(value, {})
    assert made == copy.deepcopy(value)
    originals = {id(m) for m in _mutables(value)}
    assert not originals & {id(m) for m in _mutables(made)}


def test_one_container_reached_twice_stays_one() -> None:
    shared: list[int] = [1]
    made = copied({"a": shared, "b": shared}, {})
    assert made["a"] is made["b"] and made["a"] is not shared


def test_an_engagement_copied_from_the_cache_is_independent_at_every_milestone(tracker, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    for milestone in MILESTONES:
        eid = open_engagement(tracker, cast)
        drive(tracker, cast, eid, milestone)
        original = tracker.engagements.get(eid)
        made = aggregate_copy(original, {})
        assert type(made) is type(original) and vars(made) == vars(copy.deepcopy(original))
        before = copy.deepcopy(vars(original))
        for value in vars(made).values():  # mutate every container of the copy
            if isinstance(value, list):
                value.append("x")
            elif isinstance(value, dict):
                value["x"] = None
        assert vars(original) == before, milestone


def test_the_cache_hands_each_command_its_own_copy(tracker, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    eid = open_engagement(tracker, cast)
    first, second = tracker.engagements.get(eid), tracker.engagements.get(eid)
    assert first is not second and first.will_confirmed is not second.will_confirmed
    first.will_confirmed.append("someone")
    assert tracker.engagements.get(eid).will_confirmed == []
