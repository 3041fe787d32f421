"""Step bodies: the JSON object each step takes, read from the step catalogue (the method's signature).

The schema of each step's body is derived from the same annotations the command line converts
(``adapters/cli/arguments.py``), and a body is converted by the same kinds (their ``load``, the
JSON side): an unknown key, a missing required key or a bad value is an InvalidInput naming the
key, raised before the store is touched.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from engagement_tracker.adapters.cli.arguments import Refused, arguments_of
from engagement_tracker.domain.application.steps import Step
from engagement_tracker.domain.errors import InvalidInput

_LISTS = {list, tuple, set, frozenset, Iterable, Sequence, Collection}


def schema_of(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of one step argument's JSON form."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        enums = [a for a in rest if isinstance(a, type) and issubclass(a, Enum)]
        if enums and all(a is str or a in enums for a in rest):
            inner = {"type": "string", "enum": [str(m.value) for m in enums[0]]}
        else:
            inner = schema_of(rest[0])
        return {"anyOf": [inner, {"type": "null"}]} if len(rest) < len(args) else inner
    if (origin in _LISTS and origin is not tuple) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return {"type": "array", "items": schema_of(args[0])}
    if origin is tuple:
        items = [schema_of(a) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin in (dict, Mapping):
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {"type": "string", "enum": [str(m.value) for m in annotation]}
    simple: dict[Any, dict[str, Any]] = {
        str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"}, bool: {"type": "boolean"},
        date: {"type": "string", "format": "date"}, datetime: {"type": "string", "format": "date-time"},
        UUID: {"type": "string", "format": "uuid"}, object: {"type": "string", "format": "uuid"},
    }
    return dict(simple.get(annotation, {}))


def body_schema(step: Step) -> dict[str, Any]:
    """The JSON Schema of ``step``'s body: one property per argument, the required ones required."""
    return {
        "type": "object",
        "properties": {p.name: schema_of(p.annotation) for p in step.parameters},
        "required": [p.name for p in step.parameters if p.required],
        "additionalProperties": False,
    }


def parse_body(step: Step, body: object) -> dict[str, Any]:
    """A step's JSON body as the keyword arguments of its service method."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput("body", f"expected a JSON object with {step.name}'s arguments")
    known = {a.name: a for a in arguments_of(step)}
    given: dict[str, Any] = {}
    for key, value in body.items():
        argument = known.get(key)
        if argument is None:
            raise InvalidInput(str(key)[:60], f"{step.name} takes no {str(key)[:60]}; it takes "
                               f"{', '.join(known) or 'no argument'}")
        if value is None and argument.nullable:
            given[key] = None
            continue
        try:
            given[key] = argument.kind.load(value)
        except Refused as exc:
            raise InvalidInput(key, str(exc)) from None
    missing = [name for name, a in known.items() if a.required and name not in given]
    if missing:
        raise InvalidInput(", ".join(missing), f"required by {step.name}")
    return given
