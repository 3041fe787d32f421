"""KEY=VALUE arguments are read by the step's own signature: every annotation, every refusal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from engagement_tracker.adapters.cli.arguments import COHORT, ENGAGEMENT, StepTable, arguments_of, kind_of
from engagement_tracker.domain.access import COHORT_STEPS, ENGAGEMENT_STEPS
from engagement_tracker.domain.application.steps import Step, _parameters
from engagement_tracker.domain.errors import InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Outcome, SessionTheme

PARTY = "4f1c2b9e-0d3a-4c55-8e6f-7a8b9c0d1e2f"


def parse(annotation: Any, raw: str) -> Any:
    return kind_of(annotation)[0].parse(raw)


@pytest.mark.parametrize(("annotation", "raw", "value"), [
    (str, "a; b = c", "a; b = c"),
    (int, "90", 90),
    (int, "-3", -3),
    (float, "2.5", 2.5),
    (float, "48", 48.0),
    (bool, "true", True),
    (bool, "No", False),
    (bool, "1", True),
    (date, "2026-03-02", date(2026, 3, 2)),
    (datetime, "2026-03-02T14:30", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
    (datetime, "2026-03-02T14:30+02:00", datetime(2026, 3, 2, 14, 30, tzinfo=timezone(timedelta(hours=2)))),
    (UUID, PARTY, UUID(PARTY)),
    (object, PARTY, UUID(PARTY)),
    (SessionTheme | str, "delegation", "delegation"),
    (Iterable[SessionTheme | str], "delegation; priorities;", ["delegation", "priorities"]),
    (Sequence[str], "one;two", ["one", "two"]),
    (list[int], "1;2", [1, 2]),
    (tuple[str, ...], "a", ["a"]),
    (Mapping[str, tuple[Outcome | str, str]], '{"I1": ["achieved", "seen"]}', {"I1": ("achieved", "seen")}),
    (dict[str, int], '{"a": 1}', {"a": 1}),
])
def test_each_annotation_reads_its_value(annotation: Any, raw: str, value: Any) -> None:
    assert parse(annotation, raw) == value


@pytest.mark.parametrize(("annotation", "raw", "says"), [
    (int, "1.5", "is not a whole number"),
    (int, "ninety", "is not a whole number"),
    (float, "nan", "is not a number"),
    (float, "2,5", "is not a number"),
    (bool, "maybe", "is not true or false"),
    (date, "2026-3-2", "is not a date as YYYY-MM-DD"),
    (date, "20260302", "is not a date as YYYY-MM-DD"),
    (date, "2026-02-30", "is not a date as YYYY-MM-DD"),
    (datetime, "tomorrow", "is not an ISO date-time"),
    (object, "Claire", "is not an id (a UUID)"),
    (SessionTheme | str, "gardening", "is not one of: leadership"),
    (Iterable[SessionTheme | str], "delegation;gardening", "item 'gardening'"),
    (Mapping[str, tuple[Outcome | str, str]], "{", "not JSON"),
    (Mapping[str, tuple[Outcome | str, str]], "[]", "is not a JSON object"),
    (Mapping[str, tuple[Outcome | str, str]], '{"I1": ["achieved"]}', "at 'I1': ['achieved'] is not a JSON list"),
    (Mapping[str, tuple[Outcome | str, str]], '{"I1": ["achieved", 3]}', "at 'I1': item 2: 3 is not text"),
    (dict[str, int], '{"a": true}', "at 'a': True is not a whole number"),
])
def test_a_bad_value_says_what_is_accepted(annotation: Any, raw: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse(annotation, raw)


def test_an_annotation_without_a_command_line_form_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no command-line form"):
        kind_of(bytes)
    with pytest.raises(TypeError, match="no command-line form"):
        kind_of(int | str)


class Commands:
    """A stand-in application: the arguments are the parameters after the subject and the actor."""

    def plan(self, engagement_id: object, actor: Actor, at: datetime, owner: object | None, note: str | None = None,
             count: int = 1) -> None:
        """Nothing."""


def test_arguments_come_after_the_actor_with_required_and_optional_marks() -> None:
    found = arguments_of(Step("engagement", "plan", ("coach",), _parameters(Commands.plan), "Nothing."))
    assert [(a.name, a.kind.label, a.required, a.nullable) for a in found] == [
        ("at", "TIME", True, False), ("owner", "ID", True, True), ("note", "TEXT", False, True),
        ("count", "INT", False, False),
    ]
    assert [a.usage() for a in found] == ["at=TIME", "owner=ID?", "[note=TEXT]", "[count=INT]"]
    assert found[1].convert("") is None and found[2].convert("") is None


def test_every_step_a_person_takes_is_listed_and_no_system_step() -> None:
    for table, roles in ((ENGAGEMENT, ENGAGEMENT_STEPS), (COHORT, COHORT_STEPS)):
        assert table.system == {"miss_deadline"}
        assert set(table.steps) == set(roles) - {"open", "miss_deadline"}


def test_parse_names_the_key_and_what_it_accepts() -> None:
    assert ENGAGEMENT.parse("record_signal", [
        "theme=turnover", "context=tech", "polarity=drains", "intensity=4", "unit=Ops", "observed_on=2026-02-02",
    ]) == {"theme": "turnover", "context": "tech", "polarity": "drains", "intensity": 4, "unit": "Ops",
           "observed_on": date(2026, 2, 2)}
    assert ENGAGEMENT.parse("propose_disclosure", ["items=objectives;dates"]) == {"items": ["objectives", "dates"]}
    assert COHORT.parse("record_decision", ["statement=go", "metric=", "value=", "decided_on=", f"owner={PARTY}"]) == {
        "statement": "go", "metric": None, "value": None, "decided_on": None, "owner": UUID(PARTY)}
    refusals = {
        ("hold_review", ("held_on=2026-02-30",)): "held_on: '2026-02-30' is not a date as YYYY-MM-DD",
        ("hold_review", ()): "held_on: required by hold_review, which takes held_on=DATE [summary=TEXT]",
        ("resume", ("now=1",)): "now: resume takes no now; it takes (no arguments)",
        ("miss_deadline", ()): "STEP: miss_deadline is recorded by etrack tick, never taken by hand",
        ("open", ()): "STEP: 'open' is not an engagement step",
    }
    for (step, args), message in refusals.items():
        with pytest.raises(InvalidInput) as err:
            ENGAGEMENT.parse(step, list(args))
        assert str(err.value).startswith(message)


def test_the_help_names_every_value_kind_used() -> None:
    table: StepTable = ENGAGEMENT
    kinds = table.kinds()
    assert kinds["OUTCOME"] == "one of: achieved, partly, not_achieved"
    assert kinds["DATE"] == "a date as YYYY-MM-DD" and "[KEY=X]" in kinds and "KEY=X?" not in kinds
    assert "KEY=X?" in COHORT.kinds()
