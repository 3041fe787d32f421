"""Step arguments read from the command's own signature: ``KEY=VALUE`` text to the annotated type.

``etrack step ID STEP key=value ...`` calls ``EngagementTracker.<STEP>`` (``etrack cohort step``
calls ``CohortService.<STEP>``). The step catalogue (``domain/application/steps.py``) gives each step's
arguments from that command's signature; each value is converted by its annotation, so a new
step or argument needs no list kept here:

=========================  =====================================================================
annotation                 KEY=VALUE
=========================  =====================================================================
``str``                    the text as given
``int`` / ``float``        a whole number / a number
``bool``                   true or false (also yes/no, 1/0)
``date``                   YYYY-MM-DD
``datetime``               ISO date-time; UTC unless it carries an offset
``UUID``, ``object``       an id (a UUID): every ``object`` argument of a step is a party's id
``SomeEnum | str``         one of the enum's values
``X | None``               X, or nothing (``key=``) for none
``Iterable[X]``, lists     items joined by ``;``: ``themes=delegation;priorities``
``Mapping[str, V]``        a JSON object whose values are V in JSON:
                           ``evaluations='{"I1": ["achieved", "evidence"]}'``
=========================  =====================================================================

An unknown key, a missing required key or a bad value is an ``InvalidInput`` naming the key
and what it accepts, raised before the store is opened: nothing is written.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from engagement_tracker.domain.application.steps import COHORT_STEPS, ENGAGEMENT_STEPS, Step
from engagement_tracker.domain.errors import InvalidInput

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT = re.compile(r"[+-]?\d+")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
_LISTS = {list, tuple, set, frozenset, Iterable, Sequence, Collection}


class Refused(ValueError):
    """Raised inside a conversion; the caller names the key."""


@dataclass(frozen=True)
class Kind:
    """How one annotation reads from the command line (``parse``) and inside JSON (``load``)."""

    label: str  # in the help: DATE, INT, THEME;... , JSON
    accepts: str  # in errors and the help: "a date as YYYY-MM-DD"
    parse: Callable[[str], Any]
    load: Callable[[Any], Any]
    parts: tuple[Kind, ...] = ()  # the kinds it is made of (items of a list, values of a mapping)


def _refuse(kind_accepts: str, raw: object) -> Refused:
    return Refused(f"{raw!r} is not {kind_accepts}")


def _text_kind(label: str, accepts: str, parse: Callable[[str], Any]) -> Kind:
    """A kind written as text, also as a JSON string."""

    def load(value: Any) -> Any:
        if not isinstance(value, str):
            raise _refuse(accepts, value)
        return parse(value)

    return Kind(label, accepts, parse, load)


def _parse_int(raw: str) -> int:
    if not _INT.fullmatch(raw.strip()):
        raise _refuse("a whole number, e.g. 90", raw)
    return int(raw)


def _parse_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _refuse("a number, e.g. 2.5", raw) from None
    if not math.isfinite(value):
        raise _refuse("a number, e.g. 2.5", raw)
    return value


def _parse_bool(raw: str) -> bool:
    if raw.strip().lower() not in (*_TRUE, *_FALSE):
        raise _refuse("true or false", raw)
    return raw.strip().lower() in _TRUE


def _parse_date(raw: str) -> date:
    try:
        if _DATE.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise _refuse("a date as YYYY-MM-DD", raw)


def _parse_datetime(raw: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse("an ISO date-time such as 2026-03-02T14:30 (UTC unless an offset is given)", raw) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise _refuse("an id (a UUID)", raw) from None


def _number_kind(tp: type) -> Kind:
    """int and float also read JSON numbers (never true/false)."""
    parse: Callable[[str], Any] = _parse_int if tp is int else _parse_float
    label, accepts = ("INT", "a whole number, e.g. 90") if tp is int else ("NUMBER", "a number, e.g. 2.5")

    def load(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and isinstance(value, float)):
            raise _refuse(accepts, value)
        return tp(value)

    return Kind(label, accepts, parse, load)


def _bool_kind() -> Kind:
    def load(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _refuse("true or false", value)
        return value

    return Kind("BOOL", "true or false", _parse_bool, load)


def _enum_kind(enum: type[Enum]) -> Kind:
    values = [str(m.value) for m in enum]
    accepts = f"one of: {', '.join(values)}"

    def parse(raw: str) -> str:
        if raw not in values:
            raise _refuse(accepts, raw)
        return raw

    return _text_kind(re.sub(r"(?<!^)(?=[A-Z])", "_", enum.__name__).upper(), accepts, parse)


def _list_kind(item: Kind) -> Kind:
    def parse(raw: str) -> list[Any]:
        return [_within(item.parse, f"item {part!r}", part) for part in _items(raw)]

    def load(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _refuse(f"a JSON list of {item.label}", value)
        return [_within(item.load, f"item {n + 1}", v) for n, v in enumerate(value)]

    return Kind(f"{item.label};...", f"{item.label} items, ';' between them", parse, load, (item,))


def _items(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(";") if part.strip()]


def _tuple_kind(items: tuple[Kind, ...]) -> Kind:
    shape = f"[{','.join(k.label for k in items)}]"

    def load(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) != len(items):
            raise _refuse(f"a JSON list {shape}", value)
        return tuple(_within(k.load, f"item {n + 1}", v) for n, (k, v) in enumerate(zip(items, value, strict=True)))

    return Kind(shape, f"a JSON list {shape}", lambda raw: load(_json(raw, shape)), load, items)


def _mapping_kind(value_kind: Kind) -> Kind:
    shape = f"{{KEY:{value_kind.label},...}}"
    accepts = f'a JSON object {{"KEY": {value_kind.label}, ...}}'

    def load(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _refuse(accepts, value)
        return {key: _within(value_kind.load, f"at {key!r}", v) for key, v in value.items()}

    return Kind(shape, accepts, lambda raw: load(_json(raw, accepts)), load, (value_kind,))


def _json(raw: str, accepts: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Refused(f"not JSON ({exc.msg} at character {exc.pos}); expected {accepts}") from None


def _within(convert: Callable[[Any], Any], where: str, value: Any) -> Any:
    try:
        return convert(value)
    except Refused as exc:
        raise Refused(f"{where}: {exc}") from None


def kind_of(annotation: Any) -> tuple[Kind, bool]:
    """The kind an annotation reads as, and whether ``None`` is among its values."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        enums = [a for a in rest if isinstance(a, type) and issubclass(a, Enum)]
        if enums and all(a is str or a in enums for a in rest):
            return _enum_kind(enums[0]), len(rest) < len(args)
        if len(rest) == 1:
            return kind_of(rest[0])[0], len(rest) < len(args)
        raise TypeError(f"no command-line form for {annotation!r}")
    if (origin in _LISTS and origin is not tuple) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return _list_kind(kind_of(args[0])[0]), False
    if origin is tuple:
        return _tuple_kind(tuple(kind_of(a)[0] for a in args)), False
    if origin in (dict, Mapping) and args and args[0] is str:
        return _mapping_kind(kind_of(args[1])[0]), False
    simple = _SIMPLE.get(annotation)
    if simple is not None:
        return simple, False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum_kind(annotation), False
    raise TypeError(f"no command-line form for {annotation!r}")


_SIMPLE: dict[Any, Kind] = {
    str: _text_kind("TEXT", "text", lambda raw: raw),
    int: _number_kind(int),
    float: _number_kind(float),
    bool: _bool_kind(),
    date: _text_kind("DATE", "a date as YYYY-MM-DD", _parse_date),
    datetime: _text_kind("TIME", "an ISO date-time (UTC unless an offset is given)", _parse_datetime),
    UUID: _text_kind("ID", "an id (a UUID)", _parse_id),
    object: _text_kind("ID", "an id (a UUID)", _parse_id),  # a step's untyped arguments are party ids
}


@dataclass(frozen=True)
class Argument:
    """One argument of a step, as the command line writes it."""

    name: str
    kind: Kind
    required: bool
    nullable: bool

    def usage(self) -> str:
        if not self.required:
            return f"[{self.name}={self.kind.label}]"
        return f"{self.name}={self.kind.label}" + ("?" if self.nullable else "")

    def convert(self, raw: str) -> Any:
        if self.nullable and raw == "":
            return None
        try:
            return self.kind.parse(raw)
        except Refused as exc:
            raise InvalidInput(self.name, str(exc)) from None


def arguments_of(step: Step) -> tuple[Argument, ...]:
    """The step's arguments, from the domain's step catalogue (the command's own signature)."""
    found = []
    for p in step.parameters:
        kind, nullable = kind_of(p.annotation)
        found.append(Argument(p.name, kind, p.required, nullable))
    return tuple(found)


class StepTable:
    """The steps a person takes on one kind of aggregate, each with its arguments."""

    def __init__(self, what: str, catalogue: Mapping[str, Step]) -> None:
        self.what = what
        #: The catalogue itself: each step with the service method that takes it (typed dispatch).
        self.catalogue = catalogue
        self.system = frozenset(name for name, step in catalogue.items() if step.system_only)
        self.steps: dict[str, tuple[Argument, ...]] = {  # "open" has a command of its own
            name: arguments_of(step) for name, step in sorted(catalogue.items())
            if name not in self.system and name != "open"
        }

    def usage(self, step: str) -> str:
        return " ".join(a.usage() for a in self.steps[step]) or "(no arguments)"

    def parse(self, step: str, args: Sequence[str]) -> dict[str, Any]:
        """KEY=VALUE arguments of ``step`` as keyword arguments; InvalidInput on any mistake."""
        if step in self.system:
            raise InvalidInput("STEP", f"{step} is recorded by etrack tick, never taken by hand")
        if step not in self.steps:
            raise InvalidInput("STEP", f"{step!r} is not {self.what} step; steps: {', '.join(self.steps)}")
        known = {a.name: a for a in self.steps[step]}
        given: dict[str, Any] = {}
        for arg in args:
            key, sep, raw = arg.partition("=")
            if not sep:
                raise InvalidInput(arg, f"expected KEY=VALUE; {step} takes {self.usage(step)}")
            if key not in known:
                raise InvalidInput(key, f"{step} takes no {key}; it takes {self.usage(step)}")
            if key in given:
                raise InvalidInput(key, "given twice")
            given[key] = known[key].convert(raw)
        missing = [a for a in self.steps[step] if a.required and a.name not in given]
        if missing:
            raise InvalidInput(", ".join(a.name for a in missing), f"required by {step}, which takes {self.usage(step)}")
        return given

    def kinds(self) -> dict[str, str]:
        """Every label used by these steps and what it accepts, for the help."""
        found: dict[str, str] = {}
        arguments = [a for step in self.steps.values() for a in step]

        def add(kind: Kind) -> None:
            found.setdefault(kind.label, kind.accepts)
            for part in kind.parts:
                add(part)

        for a in arguments:
            add(a.kind)
        notes = {"KEY=X?": "X, or nothing (KEY=) for none", "[KEY=X]": "may be left out"}
        if any(a.required and a.nullable for a in arguments):
            found["KEY=X?"] = notes["KEY=X?"]
        if any(not a.required for a in arguments):
            found["[KEY=X]"] = notes["[KEY=X]"]
        return dict(sorted(found.items(), key=lambda item: (item[0] in notes, item[0])))


ENGAGEMENT = StepTable("an engagement", ENGAGEMENT_STEPS)
COHORT = StepTable("a cohort", COHORT_STEPS)
