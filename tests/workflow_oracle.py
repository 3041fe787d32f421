"""The reference: run a step on a real ``transitions`` machine and report what it did."""

from __future__ import annotations

from typing import Any

from transitions import MachineError

from engagement_tracker.domain.workflow import Workflow


class MachineOracle:
    """One machine with one probe model, moved to any state to try a step."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

        class Probe:
            pass

        self.probe = Probe()
        self.machine = workflow._new_machine(model=self.probe)

    def outcome(self, step: str, state: str, subject: Any, **facts: Any) -> str:
        """'invalid', 'refused', or the resulting state."""
        self.machine.set_state(state, model=self.probe)
        try:
            moved = self.probe.trigger(step, subject, **facts)  # type: ignore[attr-defined]
        except MachineError:
            return "invalid"
        if not moved:
            return "refused"
        return str(self.probe.state)  # type: ignore[attr-defined]


def decide_outcome(workflow: Workflow, step: str, state: str, subject: Any, **facts: Any) -> str:
    from engagement_tracker.domain.errors import RuleViolation, StepNotAllowed

    try:
        return workflow.decide(step, state, subject, **facts)
    except StepNotAllowed:
        return "invalid"
    except RuleViolation:
        return "refused"
