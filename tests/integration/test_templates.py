"""Programme templates (issue #27, item 7) on a real SQLite store: an admin declares them, a coach
opens an engagement or a cohort with one, and the template shows as such in its view and its events
(applied in the transaction that opens it); bad input of every kind is refused and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.domain import InvalidInput, NotFound, NotPermitted, Role
from engagement_tracker.domain.cohort import Cohort
from engagement_tracker.domain.engagement import Engagement
from tests.support import Cast, CohortCast, FakeClock, admin, event_count, new_tracker

LEADERSHIP: dict[str, Any] = {
    "objectives": ["Delegate the team's operational decisions", "Run a monthly one-to-one with each report"],
    "indicators": [
        {"objective": "O1", "kind": "observable_result", "label": "Decisions delegated", "unit": "per week"},
        {"objective": "O2", "kind": "organisation_performance", "label": "One-to-ones held", "unit": "per month"},
    ],
}


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    tracker = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    yield tracker
    tracker.close()


def test_an_engagement_opened_with_a_template_shows_it_in_its_view_and_events(app) -> None:  # type: ignore[no-untyped-def]
    by = admin(app)
    declared = app.templates.declare("leadership", "engagement", by, **LEADERSHIP)
    assert declared.value == 1 and declared.status == "recorded"
    cast = Cast.register(app)
    opened = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                                  template="leadership")
    eid = opened.value
    assert list(opened.versions) == [1, 2]  # created and the template applied: one transaction
    events = list(app.events.get(eid))
    assert isinstance(events[1], Engagement.TemplateApplied)
    assert (events[1].template, events[1].version, events[1].content) == ("leadership", 1, LEADERSHIP)
    expected = {"name": "leadership", "version": 1, "content": LEADERSHIP}
    for viewer in (cast.coach, cast.coachee, cast.sponsor):
        assert app.engagements.view(eid, viewer)["template"] == expected
    assert app.engagements.get(eid).state == "framing.first_meeting"  # the workflow is untouched
    assert "TemplateApplied" in [row["event"] for row in app.engagements.timeline(eid, cast.coach)]
    # a new version applies to engagements opened from then on; earlier ones keep theirs
    changed = {**LEADERSHIP, "objectives": [*LEADERSHIP["objectives"][:1], "Hold a weekly team review"]}
    assert app.templates.declare("leadership", "engagement", by, **changed).value == 2
    later = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                                 template="leadership").value
    assert app.engagements.view(later, cast.coach)["template"]["version"] == 2
    assert app.engagements.view(eid, cast.coach)["template"] == expected
    plain = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations").value
    assert "template" not in app.engagements.view(plain, cast.coach)  # as 0.1.0 read it
    rows = app.templates.list(cast.coach)
    assert [(r["name"], r["kind"], r["version"]) for r in rows] == [("leadership", "engagement", 2)]


def test_a_cohort_opened_with_a_template_shows_its_rituals_and_roles(app) -> None:  # type: ignore[no-untyped-def]
    by = admin(app)
    app.templates.declare("lead-time", "cohort", by, rituals=["weekly_standup", "metrics_review"],
                          roles=["facilitator", "scribe", "metrics_keeper"])
    cc = CohortCast.register(app)
    opened = app.cohorts.open(cc.coach, "Supply Chain", "Cohort Lead-time", template="lead-time")
    cid = opened.value
    events = list(app.events.get(cid))
    assert isinstance(events[1], Cohort.TemplateApplied) and events[1].template == "lead-time"
    view = app.cohorts.view(cid, cc.coach)
    assert view["template"] == {"name": "lead-time", "version": 1, "content": {
        "rituals": ["weekly_standup", "metrics_review"], "roles": ["facilitator", "scribe", "metrics_keeper"]}}
    assert app.templates.list(cc.coach, "cohort")[0]["content"]["rituals"] == ["weekly_standup", "metrics_review"]


BAD_DECLARATIONS = [
    ("Leadership!", "engagement", LEADERSHIP, InvalidInput),  # a name
    ("x", "programme", LEADERSHIP, InvalidInput),  # a kind
    ("x", "engagement", {"objectives": [], "indicators": []}, InvalidInput),
    ("x", "engagement", {"objectives": ["a"], "indicators": []}, InvalidInput),  # O1 has no indicator
    ("x", "engagement", {"objectives": ["a"], "indicators": [{"objective": "O2", "kind": "observable_result",
                                                               "label": "l", "unit": "u"}]}, InvalidInput),
    ("x", "engagement", {"objectives": ["a"], "indicators": [{"objective": "O1", "kind": "vibes",
                                                               "label": "l", "unit": "u"}]}, InvalidInput),
    ("x", "engagement", {"objectives": "just one string", "indicators": []}, InvalidInput),
    ("x", "cohort", {"rituals": ["daily_party"], "roles": ["scribe"]}, InvalidInput),
    ("x", "cohort", {"rituals": ["weekly_standup"], "roles": []}, InvalidInput),
    ("x", "cohort", {"objectives": ["a"], "indicators": []}, InvalidInput),  # content of the other kind
]


@pytest.mark.parametrize(("name", "kind", "content", "error"), BAD_DECLARATIONS)
def test_a_bad_declaration_is_refused_and_writes_nothing(app, name, kind, content, error) -> None:  # type: ignore[no-untyped-def]
    by = admin(app)
    before = event_count(app)
    with pytest.raises(error):
        app.templates.declare(name, kind, by, **content)
    assert event_count(app) == before


def test_only_an_admin_declares_and_opening_with_an_unknown_template_writes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    by = admin(app)
    cast = Cast.register(app)
    before = event_count(app)
    with pytest.raises(NotPermitted):
        app.templates.declare("leadership", "engagement", cast.coach, **LEADERSHIP)
    with pytest.raises(NotFound, match="no template is declared yet"):
        app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                             template="leadership")
    assert event_count(app) == before
    app.templates.declare("lead-time", "cohort", by, rituals=["weekly_standup"], roles=["scribe"])
    before = event_count(app)
    with pytest.raises(NotFound, match="lead-time"):  # a cohort template does not open an engagement
        app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                             template="lead-time")
    with pytest.raises(InvalidInput):
        app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "line_manager", "Operations",
                             template="Bad Name")
    with pytest.raises(InvalidInput, match="kind"):  # a name keeps its kind
        app.templates.declare("lead-time", "engagement", by, **LEADERSHIP)
    with pytest.raises(NotPermitted):
        app.templates.list(cast.coachee)
    assert event_count(app) == before
    assert cast.coach.role is Role.COACH


def etrack(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from engagement_tracker.adapters.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_line_declares_lists_and_opens_with_a_template(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    by, cast = admin(app), Cast.register(app)
    app.close()
    db = ["--db", url]
    code, out, _ = etrack([*db, "templates", "declare", "leadership", "--kind", "engagement", "--as",
                           f"admin:{by.party}", "--objective", LEADERSHIP["objectives"][0], "--objective",
                           LEADERSHIP["objectives"][1], "--indicator", "O1:observable_result:Decisions delegated:per week",
                           "--indicator", "O2:organisation_performance:One-to-ones held:per month"], capsys)
    assert (code, out.strip()) == (0, "1")
    code, out, _ = etrack([*db, "templates", "list", "--as", f"coach:{cast.coach.party}", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)[0]["content"] == LEADERSHIP
    code, out, _ = etrack([*db, "open", "--as", f"coach:{cast.coach.party}", "--coachee", str(cast.coachee.party),
                           "--sponsor", str(cast.sponsor.party), "--unit", "Operations", "--template", "leadership"],
                          capsys)
    assert code == 0
    eid = out.strip()
    code, _, err = etrack([*db, "templates", "declare", "bad", "--kind", "engagement", "--as", f"admin:{by.party}",
                           "--objective", "a", "--indicator", "O1-no-colons"], capsys)
    assert code != 0 and "OBJECTIVE:KIND:LABEL:UNIT" in err
    code, _, err = etrack([*db, "templates", "declare", "x", "--kind", "cohort", "--as", f"coach:{cast.coach.party}",
                           "--ritual", "weekly_standup", "--role", "scribe"], capsys)
    assert code != 0  # only an admin declares
    again = new_tracker(url, FakeClock())
    assert again.engagements.view(eid, cast.coach)["template"]["name"] == "leadership"
    again.close()
