"""The Mermaid diagrams are drawn from the workflows' own tables (issue #14)."""

from __future__ import annotations

import re

import pytest

from engagement_tracker.domain.workflow import COHORT_WORKFLOW, ENGAGEMENT_WORKFLOW, Workflow

WORKFLOWS = [ENGAGEMENT_WORKFLOW, COHORT_WORKFLOW]
ARROW = re.compile(r"^\s*(\S+) --> (\S+)(?: : (.*))?$")


def sid(state: str) -> str:
    return state.replace(".", "_")


def arrow_lines(text: str) -> list[tuple[str, str, str]]:
    found = []
    for line in text.splitlines():
        m = ARROW.match(line)
        if m:
            found.append((m.group(1), m.group(2), m.group(3) or ""))
    return found


def notes(text: str) -> dict[str, set[str]]:
    """State id -> steps listed in its note (single-line and block notes)."""
    out: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        single = re.match(r"note (?:right|left) of (\S+)\s*:\s*(.*)$", stripped)
        block = re.match(r"note (?:right|left) of (\S+)$", stripped)
        if single:
            out.setdefault(single.group(1), set()).update(s.strip() for s in single.group(2).split(","))
        elif block:
            current = block.group(1)
            out.setdefault(current, set())
        elif stripped == "end note":
            current = None
        elif current is not None:
            out[current].update(s.strip() for s in stripped.split(",") if s.strip())
    return out


def state_changing(wf: Workflow) -> list[tuple[str, str, str, list[str]]]:
    """From to_dict(): steps whose destination differs from the source, one per (source, step, dest)."""
    found = []
    for s in wf.to_dict()["steps"]:
        if not s["internal"] and wf.resolve(s["from"]) != s["to"]:
            found.append((s["from"], s["to"], s["step"], s["guards"]))
    return found


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_the_text_starts_with_the_diagram_type(wf: Workflow) -> None:
    assert wf.to_mermaid().splitlines()[0] == "stateDiagram-v2"


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_every_state_change_is_exactly_one_arrow(wf: Workflow) -> None:
    arrows = arrow_lines(wf.to_mermaid())
    between = [a for a in arrows if "[*]" not in (a[0], a[1])]
    expected = state_changing(wf)
    assert expected and len(between) == len(expected)
    for source, dest, step, guards in expected:
        label = f"{step} [{', '.join(guards)}]" if guards else step
        matching = [a for a in between if a[0] == sid(source) and a[2] == label]
        assert len(matching) == 1, (source, step, dest, matching)
        # the arrow points at the destination, or at the phase that enters it
        assert wf.resolve(matching[0][1].replace("_", ".", 1) if "." in dest else matching[0][1]) == dest


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_initial_and_final_states_are_marked(wf: Workflow) -> None:
    arrows = arrow_lines(wf.to_mermaid())
    assert ("[*]", "framing", "") in arrows
    for state in wf.final:
        assert (sid(state), "[*]", "") in arrows


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_every_in_state_step_is_in_the_note_of_each_state_allowing_it(wf: Workflow) -> None:
    text = wf.to_mermaid()
    listed = notes(text)
    changing = {(s, step) for s, _, step, _ in state_changing(wf)}
    entries = wf.to_dict()["steps"]
    for state in wf.leaf_states:
        for step in wf.allowed(state):
            # the entries that apply: those of the nearest scope (the state, then its phase)
            scope = next(sc for sc in (state, wf.phase(state)) if any(
                e["step"] == step and e["from"] == sc for e in entries))
            applying = [e for e in entries if e["step"] == step and e["from"] == scope]
            stays = any(e["internal"] or e["to"] == state for e in applying)
            if stays:
                assert step in listed.get(sid(state), set()), (state, step)
            else:
                assert step not in listed.get(sid(state), set()), (state, step)
                assert any(state == src or state.startswith(src + ".") for src, st in changing if st == step)


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_no_styles_no_active_state_no_self_loops(wf: Workflow) -> None:
    for line in wf.to_mermaid().splitlines():
        stripped = line.strip()
        assert "classDef" not in stripped
        assert not stripped.startswith(("style ", "class "))
        assert ":::" not in stripped
        m = ARROW.match(line)
        if m:
            assert m.group(1) != m.group(2), line


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda w: w.name)
def test_ids_hold_no_dots_and_composites_keep_readable_names(wf: Workflow) -> None:
    text = wf.to_mermaid()
    for a, b, _ in arrow_lines(text):
        assert "." not in a and "." not in b
    for state in wf.leaf_states:
        if "." in state:
            phase, step = state.split(".")
            assert f'state "{step}" as {phase}_{step}' in text


def test_the_closing_session_is_an_arrow_from_in_progress_to_closing() -> None:
    lines = ENGAGEMENT_WORKFLOW.to_mermaid().splitlines()
    assert "    accompaniment_in_progress --> closing : hold_closing_session [every indicator evaluated]" in lines


def test_phases_are_composites_and_abandon_is_drawn_once_per_phase() -> None:
    text = ENGAGEMENT_WORKFLOW.to_mermaid()
    lines = [line.strip() for line in text.splitlines()]
    for phase in ("framing", "accompaniment"):
        assert f"state {phase} {{" in lines
    assert "[*] --> framing_first_meeting" in lines
    guards = "first meeting held, not yet confirmed by this party, the other party confirmed"
    assert f"framing_first_meeting --> framing_diagnosis : confirm_will [{guards}]" in lines
    abandons = [a for a in arrow_lines(text) if a[2] == "abandon"]
    assert sorted(a[0] for a in abandons) == ["accompaniment", "closing", "framing"]
    assert {a[1] for a in abandons} == {"abandoned"}
    assert text.count("{") == text.count("}") == 2


def test_the_cohort_framing_is_not_painted() -> None:
    text = COHORT_WORKFLOW.to_mermaid()
    assert "fill" not in text and "red" not in text and "active" not in text
