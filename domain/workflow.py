"""The workflows, each defined once with ``transitions``, and ``decide()``.

A :class:`Workflow` builds a hierarchical ``transitions`` machine at import time with no model
attached (attached machines put callables into aggregate state and cost ~17 KiB each). From the
machine's own event table it answers two questions about a subject in a given state:

* which steps are allowed (:meth:`Workflow.allowed`), and
* where a step leads if its guards hold (:meth:`Workflow.decide`), raising a typed error that
  names the state and the accepted steps, or the unmet rules, otherwise.

Guards are :class:`Guard` objects: callables returning a bool (what ``transitions`` needs) that
can also list *why* they refuse. Replay never consults a workflow: events carry their
destination state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from engagement_tracker.domain.errors import RuleViolation, StepNotAllowed

Problems = list[str]


class _DotState(NestedState):
    """Nested states named ``phase.step`` (the default separator '_' clashes with our names)."""

    separator = "."


class _Machine(HierarchicalMachine):
    state_cls = _DotState


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
        self.machine = self._new_machine()
        self.initial = self.resolve(initial)
        self._table: dict[tuple[str, str], tuple[_Option, ...]] = {}
        for trigger, ev in self.machine.events.items():
            for source, options in ev.transitions.items():
                self._table[(trigger, source)] = tuple(
                    _Option(
                        opt.dest,
                        tuple(c.func for c in opt.conditions if isinstance(c.func, Guard)),
                    )
                    for opt in options
                )
        self.steps = frozenset(self.machine.events)
        self.leaf_states = tuple(
            s for s in self.machine.get_nested_state_names() if not self.machine.get_state(s).states
        )

    def _new_machine(self, model: Any = None) -> _Machine:
        return _Machine(
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


# =============================================================================================
# The individual engagement: framing -> accompaniment -> closing (DOMAIN.md, seed 001)
# =============================================================================================
# Guards read the engagement's state (duck-typed: this module imports no aggregate).


@guard("first meeting not yet recorded")
def _meeting_not_held(e: Any, **_: Any) -> Problems:
    return [f"the first meeting was already recorded on {e.first_meeting_on}"] if e.first_meeting_on else []


@guard("first meeting held")
def _meeting_held(e: Any, **_: Any) -> Problems:
    return [] if e.first_meeting_on else ["the first meeting has not been recorded yet"]


@guard("not yet confirmed by this party")
def _not_confirmed_by(e: Any, role: str = "", **_: Any) -> Problems:
    return [f"the {role} already confirmed the will to work together"] if role in e.will_confirmed else []


@guard("the other party confirmed")
def _other_confirmed(e: Any, role: str = "", **_: Any) -> Problems:
    other = "coachee" if role == "coach" else "coach"
    return [] if other in e.will_confirmed else [f"waiting for the {other} to confirm"]


@guard("framing complete")
def _framing_complete(e: Any, **_: Any) -> Problems:
    return list(e.framing_gaps())


@guard("within the contract")
def _within_contract(e: Any, held_on: Any = None, **_: Any) -> Problems:
    return list(e.contract_gaps(held_on))


@guard("a review is outstanding")
def _review_outstanding(e: Any, **_: Any) -> Problems:
    return [] if e.review_requested_by else ["no intermediate review is outstanding"]


@guard("no amendment pending")
def _no_amendment_pending(e: Any, **_: Any) -> Problems:
    return ["an amendment is already awaiting agreement"] if e.pending_amendment else []


@guard("an amendment awaits this party")
def _amendment_awaits(e: Any, role: str = "", **_: Any) -> Problems:
    if e.pending_amendment is None:
        return ["no amendment is awaiting agreement"]
    if role in e.pending_amendment.agreed_by:
        return [f"the {role} already agreed to the pending amendment"]
    return []


@guard("every indicator evaluated")
def _every_indicator_evaluated(e: Any, evaluated: Iterable[str] = (), **_: Any) -> Problems:
    missing = sorted(set(e.indicators) - set(evaluated))
    return [f"indicator {k} has no evaluation" for k in missing]


@guard("a team engagement")
def _team_engagement(e: Any, **_: Any) -> Problems:
    return [] if e.coachee_kind == "team" else ["quarterly reviews are for team coaching; this coachee is a person"]


@guard("deadline not yet recorded")
def _deadline_not_recorded(subject: Any, deadline: str = "", **_: Any) -> Problems:
    return [f"{deadline} was already recorded as missed"] if deadline in subject.missed else []


@guard("a disclosure proposal by the other party")
def _disclosure_awaits(e: Any, role: str = "", **_: Any) -> Problems:
    proposal = e.disclosure_proposal
    if proposal is None:
        return ["no disclosure proposal is awaiting acceptance"]
    if proposal["by"] == role:
        return [f"the {role} proposed it; the other party accepts"]
    return []


_ACTIVE = ["accompaniment.in_progress", "accompaniment.review_pending"]

ENGAGEMENT_WORKFLOW = Workflow(
    "engagement",
    states=[
        {
            "name": "framing",
            "children": ["first_meeting", "diagnosis", "tripartite", "coherence", "formalisation"],
            "initial": "first_meeting",
        },
        {
            "name": "accompaniment",
            "children": ["in_progress", "review_pending", "suspended"],
            "initial": "in_progress",
        },
        "closing",
        "closed",
        "declined",
        "abandoned",
    ],
    transitions=[
        # framing
        {"trigger": "hold_first_meeting", "source": "framing.first_meeting", "dest": None,
         "conditions": [_meeting_not_held]},
        {"trigger": "confirm_will", "source": "framing.first_meeting", "dest": "framing.diagnosis",
         "conditions": [_meeting_held, _not_confirmed_by, _other_confirmed]},
        {"trigger": "confirm_will", "source": "framing.first_meeting", "dest": None,
         "conditions": [_meeting_held, _not_confirmed_by]},
        {"trigger": "decline", "source": "framing.first_meeting", "dest": "declined"},
        {"trigger": "record_diagnosis", "source": "framing.diagnosis", "dest": "framing.tripartite"},
        {"trigger": "hold_tripartite_meeting", "source": ["framing.tripartite", "framing.coherence"],
         "dest": "framing.coherence"},
        {"trigger": "validate_coherence", "source": "framing.coherence", "dest": "framing.formalisation"},
        {"trigger": "define_indicator", "source": "framing.formalisation", "dest": None},
        {"trigger": "record_synthesis", "source": "framing.formalisation", "dest": None},
        {"trigger": "fix_contract", "source": "framing.formalisation", "dest": None},
        {"trigger": "start_accompaniment", "source": "framing.formalisation",
         "dest": "accompaniment.in_progress", "conditions": [_framing_complete]},
        # accompaniment
        {"trigger": "record_session", "source": _ACTIVE, "dest": None, "conditions": [_within_contract]},
        {"trigger": "commit_action", "source": _ACTIVE, "dest": None},
        {"trigger": "complete_action", "source": _ACTIVE, "dest": None},
        {"trigger": "drop_action", "source": _ACTIVE, "dest": None},
        {"trigger": "measure_indicator", "source": _ACTIVE, "dest": None},
        {"trigger": "request_review", "source": "accompaniment.in_progress",
         "dest": "accompaniment.review_pending"},
        {"trigger": "hold_review", "source": "accompaniment.review_pending",
         "dest": "accompaniment.in_progress"},
        {"trigger": "suspend", "source": _ACTIVE, "dest": "accompaniment.suspended"},
        {"trigger": "resume", "source": "accompaniment.suspended", "dest": "accompaniment.review_pending",
         "conditions": [_review_outstanding]},
        {"trigger": "resume", "source": "accompaniment.suspended", "dest": "accompaniment.in_progress"},
        {"trigger": "propose_amendment", "source": "accompaniment", "dest": None,
         "conditions": [_no_amendment_pending]},
        {"trigger": "agree_amendment", "source": "accompaniment", "dest": None,
         "conditions": [_amendment_awaits]},
        {"trigger": "hold_closing_session", "source": "accompaniment.in_progress", "dest": "closing",
         "conditions": [_every_indicator_evaluated]},
        {"trigger": "hold_quarterly_review", "source": "accompaniment", "dest": None,
         "conditions": [_team_engagement]},
        # closing
        {"trigger": "hold_closing_meeting", "source": "closing", "dest": "closed"},
        # early end, from any phase that has not ended
        {"trigger": "abandon", "source": ["framing", "accompaniment", "closing"], "dest": "abandoned"},
        # coaches notice weak (or strong) signals through the contract at every level
        {"trigger": "record_signal", "source": ["framing", "accompaniment", "closing"], "dest": None},
        # coachee and sponsor agree what the sponsor may see
        {"trigger": "propose_disclosure", "source": ["framing", "accompaniment", "closing"], "dest": None},
        {"trigger": "accept_disclosure", "source": ["framing", "accompaniment", "closing"], "dest": None,
         "conditions": [_disclosure_awaits]},
        # the deadline clock records what fell due (tick); it never changes the state
        {"trigger": "miss_deadline", "source": ["framing", "accompaniment", "closing"], "dest": None,
         "conditions": [_deadline_not_recorded]},
    ],
    initial="framing",
    final=["closed", "declined", "abandoned"],
)


# =============================================================================================
# Peer-coaching cohort: framing -> accompaniment -> closing (DOMAIN.md, seed 002)
# =============================================================================================


@guard("cohort framing complete")
def _cohort_framing_complete(c: Any, **_: Any) -> Problems:
    return list(c.framing_gaps())


@guard("closing items recorded")
def _cohort_closing_complete(c: Any, **_: Any) -> Problems:
    return list(c.closing_gaps())


@guard("membership stays within bounds")
def _membership_bounds(c: Any, change: int = 0, **_: Any) -> Problems:
    return list(c.membership_problems(change))


_COHORT_OPEN = ["framing", "accompaniment", "closing"]

COHORT_WORKFLOW = Workflow(
    "cohort",
    states=["framing", "accompaniment", "closing", "closed", "abandoned"],
    transitions=[
        {"trigger": "add_member", "source": ["framing", "accompaniment"], "dest": None,
         "conditions": [_membership_bounds]},
        {"trigger": "remove_member", "source": ["framing", "accompaniment"], "dest": None,
         "conditions": [_membership_bounds]},
        {"trigger": "set_scope", "source": "framing", "dest": None},
        {"trigger": "set_objective", "source": "framing", "dest": None},
        {"trigger": "add_key_result", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "add_metric", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "plan_experiment", "source": ["framing", "accompaniment"], "dest": None},
        {"trigger": "start_accompaniment", "source": "framing", "dest": "accompaniment",
         "conditions": [_cohort_framing_complete]},
        {"trigger": "hold_ritual", "source": "accompaniment", "dest": None},
        {"trigger": "record_decision", "source": "accompaniment", "dest": None},
        {"trigger": "start_experiment", "source": "accompaniment", "dest": None},
        {"trigger": "end_experiment", "source": "accompaniment", "dest": None},
        {"trigger": "give_feedback", "source": ["accompaniment", "closing"], "dest": None},
        {"trigger": "update_playbook", "source": "accompaniment", "dest": None},
        {"trigger": "complete_checkpoint", "source": "accompaniment", "dest": None},
        {"trigger": "begin_closing", "source": "accompaniment", "dest": "closing"},
        {"trigger": "record_closing_synthesis", "source": "closing", "dest": None},
        {"trigger": "record_sharing", "source": "closing", "dest": None},
        {"trigger": "prepare_scale_up", "source": "closing", "dest": None},
        {"trigger": "close", "source": "closing", "dest": "closed", "conditions": [_cohort_closing_complete]},
        {"trigger": "record_signal", "source": _COHORT_OPEN, "dest": None},
        {"trigger": "abandon", "source": _COHORT_OPEN, "dest": "abandoned"},
        {"trigger": "miss_deadline", "source": _COHORT_OPEN, "dest": None, "conditions": [_deadline_not_recorded]},
    ],
    initial="framing",
    final=["closed", "abandoned"],
)
