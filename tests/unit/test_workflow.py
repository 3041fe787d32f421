"""The workflow definition: decide(), its agreement with transitions, and its exports."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from engagement_tracker.domain import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW, RuleViolation, StepNotAllowed
from engagement_tracker.domain.values import Amendment
from engagement_tracker.domain.vocabulary import Role
from engagement_tracker.domain.workflow_engine import Workflow
from tests.workflow_oracle import MachineOracle, decide_outcome

W = ENGAGEMENT_WORKFLOW


def subject(**overrides: Any) -> SimpleNamespace:
    base = {
        "first_meeting_on": None, "will_confirmed": [], "review_requested_by": None, "pending_amendment": None,
        "indicator_objectives": {}, "framing_gaps": list, "contract_gaps": lambda held_on: [], "coachee_kind": "person",
        "missed": {}, "disclosure_proposal": None,
    }
    base.update(overrides)
    return SimpleNamespace(**base)


SUBJECTS = [
    subject(),
    subject(first_meeting_on="2026-01-05"),
    subject(first_meeting_on="2026-01-05", will_confirmed=["coach"]),
    subject(first_meeting_on="2026-01-05", will_confirmed=["coachee"]),
    subject(framing_gaps=lambda: ["no contract"], contract_gaps=lambda held_on: ["full"]),
    subject(review_requested_by="sponsor", indicator_objectives={"I1": "O1"}, coachee_kind="team"),
    subject(pending_amendment=Amendment(1, None, ("coach",))),
    subject(pending_amendment=Amendment(1, None, ("coach", "coachee"))),
    subject(missed={"action:A1": "2026-03-01"}),
    subject(disclosure_proposal={"items": ["dates"], "by": "coachee"}),
]
FACTS = [{}, {"role": "coach"}, {"role": "coachee"}, {"role": "sponsor"}, {"evaluated": ["I1"]}, {"held_on": None},
         {"deadline": "action:A1"}]


def test_decide_agrees_with_the_transitions_machine_everywhere() -> None:
    oracle = MachineOracle(W)
    checked = 0
    for state in W.leaf_states:
        for step in sorted(W.steps):
            for subj in SUBJECTS:
                for facts in FACTS:
                    assert decide_outcome(W, step, state, subj, **facts) == oracle.outcome(step, state, subj, **facts), (
                        step, state, subj, facts)
                    checked += 1
    assert checked == len(W.leaf_states) * len(W.steps) * len(SUBJECTS) * len(FACTS)


def test_confirming_the_second_will_leads_to_diagnosis() -> None:
    met = subject(first_meeting_on="2026-01-05", will_confirmed=["coach"])
    assert W.decide("confirm_will", "framing.first_meeting", met, role="coachee") == "framing.diagnosis"
    only = subject(first_meeting_on="2026-01-05")
    assert W.decide("confirm_will", "framing.first_meeting", only, role="coach") == "framing.first_meeting"


def test_resume_returns_to_an_outstanding_review() -> None:
    assert W.decide("resume", "accompaniment.suspended", subject(review_requested_by="coachee")) == \
        "accompaniment.review_pending"
    assert W.decide("resume", "accompaniment.suspended", subject()) == "accompaniment.in_progress"


def test_abandon_is_allowed_from_every_state_that_has_not_ended() -> None:
    for state in W.leaf_states:
        if state in W.final:
            with pytest.raises(StepNotAllowed):
                W.decide("abandon", state, subject())
        else:
            assert W.decide("abandon", state, subject()) == "abandoned"


def test_an_unknown_step_lists_what_is_allowed() -> None:
    with pytest.raises(StepNotAllowed) as info:
        W.decide("fly", "closing", subject())
    assert {"abandon", "hold_closing_meeting"} <= set(info.value.allowed)
    assert "fly" not in info.value.allowed and "record_session" not in info.value.allowed


def test_a_rule_violation_lists_every_problem() -> None:
    subj = subject(framing_gaps=lambda: ["a", "b"])
    with pytest.raises(RuleViolation) as info:
        W.decide("start_accompaniment", "framing.formalisation", subj)
    assert info.value.problems == ("a", "b")


def test_the_mermaid_export_names_every_state_and_step() -> None:
    text = W.to_mermaid()
    assert text.splitlines()[0] == "stateDiagram-v2"
    for state in W.leaf_states:
        assert state.split(".")[-1] in text
    for step in W.steps:
        assert step in text
    assert "[framing complete]" in text


def test_the_dict_export_is_json_and_complete() -> None:
    data = json.loads(json.dumps(W.to_dict()))
    assert data["initial"] == "framing.first_meeting"
    assert set(data["final"]) == {"closed", "declined", "abandoned"}
    assert {s["step"] for s in data["steps"]} == set(W.steps)
    start = [s for s in data["steps"] if s["step"] == "start_accompaniment"]
    assert start == [{"step": "start_accompaniment", "from": "framing.formalisation",
                      "to": "accompaniment.in_progress", "internal": False, "guards": ["framing complete"]}]


def test_no_machine_is_attached_to_an_aggregate(tracker, cast) -> None:  # type: ignore[no-untyped-def]
    from tests.support import drive, open_engagement

    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    e = tracker.engagements.get(eid)
    assert not any(callable(v) for v in vars(e).values())
    assert len(W.machine.models) == 0 or all(m is W.machine for m in W.machine.models)


@pytest.mark.parametrize("workflow", [ENGAGEMENT_WORKFLOW, COHORT_WORKFLOW], ids=lambda w: w.name)
def test_the_steps_known_without_the_machine_are_the_machines(workflow: Workflow) -> None:
    """``steps`` is read from the definition (no machine built, issue #28): it is the machine's event table."""
    assert workflow.steps == frozenset(workflow.machine.events)
    assert workflow.initial in workflow.leaf_states


def test_a_workflow_builds_its_machine_on_first_question_and_once() -> None:
    wf = Workflow("probe", ["a", "b"], [{"trigger": "go", "source": "a", "dest": "b"}], "a", final=["b"])
    assert "machine" not in vars(wf) and wf.steps == {"go"}
    assert wf.decide("go", "a") == "b"
    machine = wf.machine
    assert wf.allowed("b") == [] and wf.initial == "a" and wf.machine is machine
    with pytest.raises(StepNotAllowed):
        wf.decide("go", "b")


def test_every_step_has_a_permission_entry() -> None:
    from engagement_tracker.domain.access import ENGAGEMENT_STEPS

    assert W.steps <= set(ENGAGEMENT_STEPS)
    assert all(roles <= {Role.COACH, Role.COACHEE, Role.SPONSOR, Role.SYSTEM} for roles in ENGAGEMENT_STEPS.values())
    assert ENGAGEMENT_STEPS["miss_deadline"] == {Role.SYSTEM}


def test_every_cohort_step_has_a_permission_entry() -> None:
    from engagement_tracker.domain.access import COHORT_STEPS
    from engagement_tracker.domain.workflow import COHORT_WORKFLOW

    assert COHORT_WORKFLOW.steps <= set(COHORT_STEPS)
