"""Each step is declared once: the workflow, the access table and the commands must agree."""

from __future__ import annotations

from datetime import date

import pytest

from engagement_tracker.domain import access
from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.application.steps import COHORT_COMMANDS, COHORT_STEPS, ENGAGEMENT_STEPS, _catalogue
from engagement_tracker.domain.vocabulary import Role
from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW


def test_every_workflow_step_is_in_the_catalogue_with_its_roles() -> None:
    # the ICF log consent is a standing consent, taken in every state: a step outside the workflow
    from engagement_tracker.domain.application.scheduling import SCHEDULING_STEPS

    assert set(ENGAGEMENT_STEPS) == set(ENGAGEMENT_WORKFLOW.steps) | {"open", "consent_to_icf_log", "leave_testimonial",
                                                                      *SCHEDULING_STEPS}
    assert ENGAGEMENT_STEPS["consent_to_icf_log"].roles == ("coachee",)
    assert set(COHORT_STEPS) == set(COHORT_WORKFLOW.steps) | {
        "open", "record_reading", "set_key_result_target", "leave_testimonial", "log_coaching"}
    assert COHORT_STEPS["log_coaching"].roles == ("coach",)
    assert ENGAGEMENT_STEPS["validate_coherence"].roles == ("coach",)
    assert ENGAGEMENT_STEPS["miss_deadline"].system_only
    assert not ENGAGEMENT_STEPS["record_session"].system_only


def test_arguments_and_types_come_from_the_command_signature() -> None:
    session = ENGAGEMENT_STEPS["record_session"]
    assert [p.name for p in session.parameters] == [
        "held_on", "duration_minutes", "themes", "notes", "billing", "group_size"]
    held_on = session.parameter("held_on")
    assert held_on is not None and held_on.annotation is date and held_on.required
    notes = session.parameter("notes")
    assert notes is not None and not notes.required and notes.type_name == "str | None"
    assert COHORT_STEPS["record_signal"].parameter("intensity").annotation is int  # type: ignore[union-attr]


def test_a_step_without_roles_fails_at_definition() -> None:
    roles = dict(access.ENGAGEMENT_STEPS)
    del roles["hold_review"]
    with pytest.raises(TypeError, match="no roles for \\['hold_review'\\]"):
        _catalogue(ENGAGEMENT_WORKFLOW, roles, EngagementService, {"open": "open"}, frozenset())


def test_roles_for_a_step_the_workflow_lacks_fail_at_definition() -> None:
    roles = {**access.COHORT_STEPS, "teleport": frozenset({Role.COACH})}
    with pytest.raises(TypeError, match="roles for unknown steps \\['teleport'\\]"):
        _catalogue(COHORT_WORKFLOW, roles, CohortService, COHORT_COMMANDS, frozenset({"miss_deadline"}))


def test_a_step_no_command_takes_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="no command takes the step 'miss_deadline'"):
        _catalogue(COHORT_WORKFLOW, access.COHORT_STEPS, CohortService, COHORT_COMMANDS, frozenset())


# --- typed dispatch: the catalogue holds each step's service method ------------------------------


def test_each_step_holds_the_service_method_that_takes_it() -> None:
    from engagement_tracker.domain.application.scheduling import SCHEDULING_STEPS
    from engagement_tracker.domain.application.steps import COHORT_COMMANDS, ENGAGEMENT_COMMANDS

    for catalogue, service, names, functions in (
            (ENGAGEMENT_STEPS, EngagementService, ENGAGEMENT_COMMANDS, SCHEDULING_STEPS),
            (COHORT_STEPS, CohortService, COHORT_COMMANDS, {})):
        for name, step in catalogue.items():
            if step.system_only:
                assert step.command is None, name
            elif name in functions:  # a step of its own module, taken with the service as ``self``
                assert step.command is functions[name], name
            else:
                assert step.command is getattr(service, names.get(name, name)), name


def test_a_step_taken_through_the_catalogue_records_once_and_returns_its_outcome() -> None:
    from datetime import date

    from engagement_tracker.domain.errors import InvalidInput
    from tests.support import Cast, FakeClock, new_tracker, open_engagement

    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    step = ENGAGEMENT_STEPS["hold_first_meeting"]
    outcome = step.take(app.engagements, eid, cast.coach, held_on=date(2026, 3, 2), command_id="first-meeting")
    assert outcome.status == "recorded" and app.engagements.get(eid).state == "framing.first_meeting"
    again = step.take(app.engagements, eid, cast.coach, held_on=date(2026, 3, 2), command_id="first-meeting")
    assert again.status == "already recorded" and again.versions == outcome.versions
    with pytest.raises(InvalidInput, match="etrack tick records it"):
        ENGAGEMENT_STEPS["miss_deadline"].take(app.engagements, eid, cast.coach)
    with pytest.raises(InvalidInput, match="open one instead"):
        ENGAGEMENT_STEPS["open"].take(app.engagements, eid, cast.coach)
    app.close()


def test_the_command_line_dispatches_through_the_catalogue_not_by_name() -> None:
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "adapters" / "cli" / "steps.py").read_text()
    assert "getattr(app" not in source and "getattr(service" not in source
    assert ".catalogue[step_name].take(" in source
