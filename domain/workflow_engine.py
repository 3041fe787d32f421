"""The workflow engine: a definition made once with ``transitions``, ``decide()``, and its exports.

A :class:`Workflow` builds a hierarchical ``transitions`` machine with no model attached (attached
machines put callables into aggregate state and cost ~17 KiB each), once, when it is first asked
a question: a process that never decides a step (``etrack engagements``, a read) never imports
``transitions`` (nor the asyncio it pulls in). From the machine's own event table it answers two
questions about a subject in a given state:

* which steps are allowed (:meth:`Workflow.allowed`), and
* where a step leads if its guards hold (:meth:`Workflow.decide`), raising a typed error that
  names the state and the accepted steps, or the unmet rules, otherwise.

Guards are :class:`Guard` objects: callables returning a bool (what ``transitions`` needs) that
can also list *why* they refuse. Replay never consults a workflow: events carry their
destination state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import attrs

from engagement_tracker.domain.errors import RuleViolation, StepNotAllowed

if TYPE_CHECKING:
    from transitions.extensions.nesting import HierarchicalMachine

Problems = list[str]


@cache
def _machine_class() -> type[HierarchicalMachine]:
    """The hierarchical machine with states named ``phase.step`` (the default separator '_' clashes
    with our names), imported on first use."""
    from transitions.extensions.nesting import HierarchicalMachine, NestedState

    class _DotState(NestedState):
        separator = "."

    class _Machine(HierarchicalMachine):
        state_cls = _DotState

    return _Machine


@attrs.frozen
class Guard:
    """A named rule: ``problems(subject, **facts)`` lists what is unmet; none means it holds."""

    name: str
    problems: Callable[..., Problems]

    @property
    def __name__(self) -> str:  # transitions names conditions by __name__
        return self.name

    def __call__(self, subject: Any, **facts: Any) -> bool:
        return not self.problems(subject, **facts)


def guard(name: str) -> Callable[[Callable[..., Problems]], Guard]:
    """Decorate ``fn(subject, **facts) -> list of problems`` as a named Guard."""

    def wrap(fn: Callable[..., Problems]) -> Guard:
        return Guard(name, fn)

    return wrap


@attrs.frozen
class _Option:
    dest: str | None  # None: internal step, the state does not change
    conditions: tuple[Guard, ...]


class Workflow:
    """One workflow definition: states, steps and guards, with decide() and exports."""

    def __init__(
        self,
        name: str,
        states: Sequence[Any],
        transitions: Sequence[Mapping[str, Any]],
        initial: str,
        final: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.final = frozenset(final)
        self._states = list(states)
        self._transitions = [dict(t) for t in transitions]
        self._initial = initial
        #: Every step (the machine's events are exactly the triggers of its transitions; a test checks it).
        self.steps = frozenset(str(t["trigger"]) for t in self._transitions)

    @cached_property
    def machine(self) -> HierarchicalMachine:
        """The definition as a ``transitions`` machine with no model, built on first use."""
        return self._new_machine()

    @cached_property
    def initial(self) -> str:
        """The leaf state a new subject starts in."""
        return self.resolve(self._initial)

    @cached_property
    def _table(self) -> dict[tuple[str, str], tuple[_Option, ...]]:
        """``(step, source) -> options``, read from the machine's own event table once."""
        table: dict[tuple[str, str], tuple[_Option, ...]] = {}
        for trigger, ev in self.machine.events.items():
            for source, options in ev.transitions.items():
                table[(trigger, source)] = tuple(
                    _Option(
                        opt.dest,
                        tuple(c.func for c in opt.conditions if isinstance(c.func, Guard)),
                    )
                    for opt in options
                )
        return table

    @cached_property
    def leaf_states(self) -> tuple[str, ...]:
        """Every state without children, in definition order."""
        return tuple(s for s in self.machine.get_nested_state_names() if not self.machine.get_state(s).states)

    def _new_machine(self, model: Any = None) -> HierarchicalMachine:
        return _machine_class()(
            model=model,
            states=self._states,
            transitions=self._transitions,
            initial=self._initial_name(),
            auto_transitions=False,
        )

    def _initial_name(self) -> str:
        first = self._states[0]
        return first["name"] if isinstance(first, Mapping) else str(first)

    # --- questions about a state ---------------------------------------------------------

    def resolve(self, state: str) -> str:
        """The leaf state entered when entering ``state`` (following initial children)."""
        current = self.machine.get_state(state)
        name = state
        while current.states:
            child = str(current.initial)
            name = f"{name}.{child}"
            current = current.states[child]
        return name

    def _lineage(self, state: str) -> list[str]:
        parts = state.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]

    def _options(self, step: str, state: str) -> tuple[_Option, ...] | None:
        for scope in self._lineage(state):
            options = self._table.get((step, scope))
            if options is not None:
                return options
        return None

    def permits(self, step: str, state: str) -> bool:
        """Whether the definition has ``step`` from ``state`` (before guards): one lookup per scope."""
        return self._options(step, state) is not None

    def allowed(self, state: str) -> list[str]:
        """Steps the definition allows from ``state`` (before guards)."""
        return sorted(s for s in self.steps if self._options(s, state) is not None)

    def phase(self, state: str) -> str:
        """The top-level phase of a state: framing, accompaniment, closing, or a final state."""
        return state.split(".", 1)[0]

    def decide(self, step: str, state: str, subject: Any = None, **facts: Any) -> str:
        """Return the state ``step`` leads to from ``state``, or raise why it cannot.

        Raises StepNotAllowed when the definition has no such step from the state, and
        RuleViolation listing every unmet rule when it has the step but no guard set holds.
        """
        options = self._options(step, state)
        if options is None:
            raise StepNotAllowed(self.name, state, step, self.allowed(state))
        blockers: list[Problems] = []
        for option in options:
            unmet = [p for g in option.conditions for p in g.problems(subject, **facts)]
            if not unmet:
                return state if option.dest is None else self.resolve(option.dest)
            blockers.append(unmet)
        # the option closest to passing says what actually blocks the step
        closest: Problems = min(blockers, key=len)
        raise RuleViolation(step, state, closest)

    # --- exports ---------------------------------------------------------------------------

    def _changes_state(self, source: str, option: _Option) -> bool:
        return option.dest is not None and self.resolve(option.dest) != self.resolve(source)

    def arrows(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        """State-changing steps as ``(source, dest, step, guard names)``, in definition order.

        ``source`` may be a phase (a step allowed from each of its states is one arrow from
        the phase); ``dest`` is the state the definition names.
        """
        out: list[tuple[str, str, str, tuple[str, ...]]] = []
        for (trigger, source), options in self._table.items():
            for option in options:
                if option.dest is not None and self._changes_state(source, option):
                    out.append((source, option.dest, trigger, tuple(g.name for g in option.conditions)))
        return out

    def in_state_steps(self, state: str) -> list[str]:
        """Steps that leave ``state`` where it is (its own first, then its phase's)."""
        steps: list[str] = []
        for scope in self._lineage(state):
            for (trigger, source), options in self._table.items():
                if (
                    source == scope
                    and trigger not in steps
                    and self._options(trigger, state) == options
                    and any(not self._changes_state(source, o) for o in options)
                ):
                    steps.append(trigger)
        return steps

    def to_mermaid(self) -> str:
        """The workflow as Mermaid ``stateDiagram-v2`` text, drawn from the workflow's table.

        Phases are composite states (Mermaid ids cannot hold dots: ``framing.diagnosis`` is
        the id ``framing_diagnosis`` labelled ``diagnosis``); every state-changing step is one
        arrow labelled with the step and its guards in brackets, a step allowed from a whole
        phase drawn once from the phase; steps that leave the state where it is are listed in
        a note beside each state that allows them. No styles and no "current state".
        """

        def sid(state: str) -> str:
            return state.replace(".", "_")

        def label(step: str, guards: tuple[str, ...]) -> str:
            return f"{step} [{', '.join(guards)}]" if guards else step

        def note(state: str, indent: str) -> list[str]:
            steps = self.in_state_steps(state)
            if not steps:
                return []
            rows = [", ".join(steps[i : i + 3]) for i in range(0, len(steps), 3)]
            return [f"{indent}note right of {sid(state)}", *(f"{indent}    {r}" for r in rows), f"{indent}end note"]

        arrows = self.arrows()
        lines = ["stateDiagram-v2", f"    [*] --> {sid(self._initial_name())}"]
        for top in self.machine.states.values():
            name = top.name
            if not top.states:
                continue
            lines.append(f"    state {sid(name)} {{")
            for child in top.states.values():
                full = f"{name}.{child.name}"
                lines.append(f'        state "{child.name}" as {sid(full)}')
            lines.append(f"        [*] --> {sid(f'{name}.{top.initial}')}")
            inside = [a for a in arrows if a[0].startswith(f"{name}.") and a[1].startswith(f"{name}.")]
            for source, dest, step, guards in inside:
                lines.append(f"        {sid(source)} --> {sid(dest)} : {label(step, guards)}")
            for child in top.states.values():
                lines.extend(note(f"{name}.{child.name}", "        "))
            lines.append("    }")
        crossing = [a for a in arrows if a[0].split(".")[0] != a[1].split(".")[0] or "." not in a[0]]
        for source, dest, step, guards in crossing:
            lines.append(f"    {sid(source)} --> {sid(dest)} : {label(step, guards)}")
        for top in self.machine.states.values():
            if not top.states:
                lines.extend(note(top.name, "    "))
        for state in sorted(self.final, key=list(self.machine.states).index):
            lines.append(f"    {sid(state)} --> [*]")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The workflow as plain data: states, steps with sources, destinations and guards."""
        steps = []
        for (trigger, source), options in sorted(self._table.items()):
            for option in options:
                steps.append(
                    {
                        "step": trigger,
                        "from": source,
                        "to": self.resolve(option.dest) if option.dest else source,
                        "internal": option.dest is None,
                        "guards": [g.name for g in option.conditions],
                    }
                )
        return {
            "workflow": self.name,
            "initial": self.initial,
            "states": list(self.leaf_states),
            "final": sorted(self.final),
            "steps": steps,
        }
