"""The catalogue of workflow steps: each step declared once, everything else derived from it.

A step is three facts, each stated in exactly one place:

* **where it may be taken and where it leads**: the workflow definition (``workflow.py``);
* **who may take it**: the access table (``access.py``, which owns every gate);
* **what it takes**: the service method's own signature (the steps by phase, assigned to
  ``EngagementService`` and ``CohortService``: ``engagement_framing.py``, ``cohort_framing.py``, ...):
  argument names, types, defaults and the first line of its docstring.

Each step also holds that method itself (``Step.command``), so a caller dispatches through the
catalogue, ``ENGAGEMENT_STEPS["record_session"].take(app.engagements, eid, actor, ...)``, and a
reader's go-to-definition lands on the method: no ``getattr`` by name.

This module joins them into :data:`ENGAGEMENT_STEPS` and :data:`COHORT_STEPS`, which the command
line (argument conversion, ``--help``) and the documentation read, and checks at import time
that the three agree: a workflow step that no role may take, a role given for a step the
workflow does not have, or a step that no command takes, fails on import rather than in use.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from engagement_tracker.domain import access
from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.application.scheduling import SCHEDULING_STEPS
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW, Workflow

#: Parameters every step has, given apart: whom it concerns, who acts, and the command id (``command_ids.py``).
_SUBJECT = frozenset({"self", "engagement_id", "cohort_id", "actor", "command_id"})


@attrs.frozen
class Parameter:
    """One argument of a step: its name, its type, and whether it must be given."""

    name: str
    annotation: Any
    required: bool
    default: Any = None

    @property
    def type_name(self) -> str:
        """The annotation as a reader writes it: ``date``, ``str | None``, ``Iterable[SessionTheme | str]``."""
        if isinstance(self.annotation, type):
            return self.annotation.__name__
        return re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+([A-Za-z_]\w*)", r"\1", str(self.annotation))


@attrs.frozen
class Step:
    """A workflow step as the outside world sees it."""

    workflow: str
    name: str
    roles: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    summary: str
    #: The service method that takes the step (``EngagementService.record_session``); None for a
    #: step only the application records (``miss_deadline``, by ``app.tick``).
    command: Callable[..., CommandResult[Any]] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def system_only(self) -> bool:
        """Recorded by the application itself (the deadline clock), never asked for by a person."""
        return self.roles == (Role.SYSTEM.value,)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def take(self, service: object, target: object, actor: Actor, *, command_id: object = None,
             **arguments: Any) -> CommandResult[Any]:
        """Take this step through its service method: ``service`` is ``app.engagements`` or
        ``app.cohorts``, ``target`` the engagement's or cohort's id; returns the command's outcome."""
        if self.command is None or self.name == "open":
            raise InvalidInput("step", f"{self.name} is not taken on an existing {self.workflow}: "
                                       + ("etrack tick records it" if self.command is None else "open one instead"))
        return self.command(service, target, actor, **arguments, command_id=command_id)


def _parameters(method: Callable[..., Any]) -> tuple[Parameter, ...]:
    hints = typing.get_type_hints(method)
    params = []
    for p in inspect.signature(method).parameters.values():
        if p.name in _SUBJECT or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        required = p.default is inspect.Parameter.empty
        params.append(Parameter(p.name, hints.get(p.name, Any), required, None if required else p.default))
    return tuple(params)


def _catalogue(
    workflow: Workflow,
    roles: Mapping[str, frozenset[Role]],
    commands: type,
    method_names: Mapping[str, str],
    recorded_by_the_application: frozenset[str],
    functions: Mapping[str, Callable[..., CommandResult[Any]]] | None = None,
) -> dict[str, Step]:
    """Join the workflow, the access table and the commands; raise if they disagree. ``functions``:
    steps taken by a function of the service (``self`` first) in a module of its own (``scheduling.py``)."""
    functions = functions or {}
    declared = set(roles)
    expected = set(workflow.steps) | set(method_names) | set(functions)
    if declared != expected:
        raise TypeError(
            f"{workflow.name}: the access table and the workflow disagree: "
            f"no roles for {sorted(expected - declared)}; roles for unknown steps {sorted(declared - expected)}"
        )
    steps = {}
    for name in sorted(declared):
        method = functions.get(name) or getattr(commands, method_names.get(name, name), None)
        if method is None and name not in recorded_by_the_application:
            raise TypeError(f"{workflow.name}: no command takes the step {name!r}")
        doc = inspect.getdoc(method) if method is not None else None
        if method is None:
            doc = "Recorded by the application itself (etrack tick), never asked for."
        summary = (doc or name.replace("_", " ").capitalize() + ".").splitlines()[0]
        steps[name] = Step(
            workflow.name, name, tuple(sorted(r.value for r in roles[name])),
            _parameters(method) if method is not None else (), summary, method,
        )
    return steps


#: Steps outside the workflow (they never change the state, so no state machine lists them) and
#: the command that takes each: opening, and facts recorded beside the workflow.
ENGAGEMENT_COMMANDS = {"open": "open", "consent_to_icf_log": "consent_to_icf_log",
                       "leave_testimonial": "leave_testimonial"}
COHORT_COMMANDS = {"open": "open", "record_reading": "record_reading", "set_key_result_target": "set_key_result_target",
                   "leave_testimonial": "leave_testimonial", "log_coaching": "log_coaching"}

#: Every engagement step: ``ENGAGEMENT_STEPS["record_session"].parameters`` and so on.
ENGAGEMENT_STEPS: Mapping[str, Step] = _catalogue(
    ENGAGEMENT_WORKFLOW, access.ENGAGEMENT_STEPS, EngagementService, ENGAGEMENT_COMMANDS,
    frozenset({"miss_deadline"}), SCHEDULING_STEPS,
)

#: Every cohort step (``app.cohorts.<step>``).
COHORT_STEPS: Mapping[str, Step] = _catalogue(
    COHORT_WORKFLOW, access.COHORT_STEPS, CohortService, COHORT_COMMANDS, frozenset({"miss_deadline"}),
)

STEPS: Mapping[str, Mapping[str, Step]] = {"engagement": ENGAGEMENT_STEPS, "cohort": COHORT_STEPS}
