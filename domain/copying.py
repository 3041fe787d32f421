"""Copying an aggregate for a command, at the cost of its mutable parts only.

eventsourcing hands each command a deep copy of the cached aggregate (so a refused command never
corrupts the cache). ``copy.deepcopy`` walks every value, the frozen ones included, and was 14%
of a recorded session. :func:`aggregate_copy` copies the containers (dict, list, set) and shares
what cannot change: strings, numbers, dates, ids, enums, and frozen attrs instances, frozen
dataclasses and tuples made only of those. Anything else goes through ``copy.deepcopy``, so a
mutable value it does not know is never shared.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

_LEAVES: tuple[type, ...] = (str, int, float, bool, bytes, type(None), date, datetime, time, timedelta, UUID, Enum)
_FROZEN: dict[type, bool] = {}


def _frozen_class(cls: type) -> bool:
    """True for a frozen attrs class or a frozen dataclass (decided once per class)."""
    known = _FROZEN.get(cls)
    if known is None:
        props = getattr(cls, "__attrs_props__", None)
        params = getattr(cls, "__dataclass_params__", None)
        known = bool(getattr(props, "is_frozen", False)) or bool(
            dataclasses.is_dataclass(cls) and params is not None and params.frozen)
        _FROZEN[cls] = known
    return known


def _immutable(value: object) -> bool:
    if isinstance(value, _LEAVES):
        return True
    cls = type(value)
    if cls is tuple or cls is frozenset:
        return all(_immutable(v) for v in value)  # type: ignore[attr-defined]
    if _frozen_class(cls):
        fields = getattr(cls, "__attrs_attrs__", None)
        names = [f.name for f in fields] if fields is not None else [f.name for f in dataclasses.fields(value)]  # type: ignore[arg-type]
        return all(_immutable(getattr(value, n)) for n in names)
    return False


def copied(value: Any, memo: dict[int, Any]) -> Any:
    """``value`` as deep-copied: containers rebuilt, immutable values shared, the rest deep-copied."""
    cls = type(value)
    if cls is dict or cls is list or cls is set:
        done = memo.get(id(value))
        if done is not None:  # one container reached twice stays one container, as deepcopy keeps it
            return done
        made: Any = ({k: copied(v, memo) for k, v in value.items()} if cls is dict
                     else [copied(v, memo) for v in value] if cls is list
                     else {copied(v, memo) for v in value})
        memo[id(value)] = made
        return made
    if _immutable(value):
        return value
    return copy.deepcopy(value, memo)


def aggregate_copy(aggregate: Any, memo: dict[int, Any]) -> Any:
    """A copy of ``aggregate`` as ``copy.deepcopy`` would make it (``__deepcopy__`` of the aggregates)."""
    clone = object.__new__(type(aggregate))
    memo[id(aggregate)] = clone
    clone.__dict__.update({k: copied(v, memo) for k, v in aggregate.__dict__.items()})
    return clone
