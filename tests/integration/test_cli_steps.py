"""`etrack step` and `etrack cohort step` as a user runs them: a real process, a real SQLite file.

Each KEY=VALUE is converted by the type the step's own signature declares; a mistake is one
`error: InvalidInput: <arg>: <what is accepted>` line, exit status 2, and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from engagement_tracker.domain.access import COHORT_STEPS, ENGAGEMENT_STEPS
from engagement_tracker.domain.vocabulary import Role
from tests.integration.test_cli_and_demo import etrack
from tests.support import Cast, CohortCast, FakeClock, drive, event_count, frame_cohort, new_tracker, open_engagement


def as_(actor_role: str, party: UUID) -> list[str]:
    return ["--as", f"{actor_role}:{party}"]


@pytest.fixture
def framed(tmp_path: Path) -> tuple[list[str], Cast, UUID]:
    """An SQLite file holding one engagement in accompaniment; the --db option that reaches it."""
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.close()
    return ["--db", url], cast, eid


def test_record_signal_and_disclosure_work_from_the_command_line(framed: tuple[list[str], Cast, UUID],
                                                                 tmp_path: Path) -> None:
    db, cast, eid = framed
    signal = etrack(*db, "step", str(eid), "record_signal", *as_("coach", cast.coach.party), "theme=turnover",
                    "context=tech", "polarity=drains", "intensity=4", "unit=Operations", "observed_on=2026-02-02",
                    "note=two leavers in the team this month", cwd=tmp_path)
    assert json.loads(signal.stdout)["state"] == "accompaniment.in_progress"
    proposed = etrack(*db, "step", str(eid), "propose_disclosure", *as_("coachee", cast.coachee.party),
                      "items=objectives; dates", cwd=tmp_path)
    assert json.loads(proposed.stdout)["step"] == "propose_disclosure"
    etrack(*db, "step", str(eid), "accept_disclosure", *as_("sponsor", cast.sponsor.party), cwd=tmp_path)
    session = etrack(*db, "step", str(eid), "record_session", *as_("coach", cast.coach.party), "held_on=2026-01-20",
                     "duration_minutes=60", "themes=delegation;priorities", "notes=", cwd=tmp_path)
    assert json.loads(session.stdout)["result"] == 1

    app = new_tracker(db[1])
    e = app.engagements.get(eid)
    assert e.signals_recorded == 1
    assert sorted(e.disclosure) == ["dates", "objectives"]
    first = app.engagements.record(eid).sessions[0]
    assert [str(t) for t in first.themes] == ["delegation", "priorities"]
    assert first.notes is None  # notes= is "no notes" (an optional text left empty)
    indicators = list(e.indicator_objectives)
    app.close()

    evaluations = json.dumps({key: ["achieved", "measured at the closing session"] for key in indicators})
    closing = etrack(*db, "step", str(eid), "hold_closing_session", *as_("coach", cast.coach.party),
                     "held_on=2026-04-20", f"evaluations={evaluations}", cwd=tmp_path)
    assert json.loads(closing.stdout)["state"] == "closing"


def test_a_cohort_coach_records_a_signal_and_a_ritual_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    app.close()
    coach = as_("coach", cc.coach.party)
    out = etrack("--db", url, "cohort", "step", str(cid), "record_signal", *coach, "theme=learning_dip",
                 "context=business", "polarity=gives", "intensity=2", "unit=Supply Chain", "observed_on=2026-02-03",
                 cwd=tmp_path)
    assert json.loads(out.stdout)["step"] == "record_signal"
    m1, m2, m3 = (str(m.party) for m in cc.members[:3])
    ritual = etrack("--db", url, "cohort", "step", str(cid), "hold_ritual", *coach, "kind=weekly_standup",
                    "held_on=2026-02-04", f"facilitator={m1}", f"scribe={m2}", f"metrics_keeper={m3}",
                    "artefact_kind=checklist", "artefact=three decisions", cwd=tmp_path)
    app = new_tracker(url)
    c = app.cohorts.get(cid)
    assert c.signals_recorded == 1
    assert json.loads(ritual.stdout)["result"] == c.rituals_held == 1
    assert str(app.cohorts.record(cid).rituals[0].facilitator) == m1 == c.last_holders["weekly_standup"]["facilitator"]
    app.close()


@pytest.mark.parametrize(("command", "table"), [(["step"], ENGAGEMENT_STEPS), (["cohort", "step"], COHORT_STEPS)])
def test_help_lists_every_step_a_person_takes_with_its_arguments(command: list[str], table: dict[str, frozenset[Role]],
                                                                 tmp_path: Path) -> None:
    help_text = etrack(*command, "--help", cwd=tmp_path).stdout
    listed = help_text.split("Steps:")[1].split("Values:")[0]
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("  ") and not line.startswith("   ")}
    by_hand = {s for s, roles in table.items() if roles != {Role.SYSTEM} and s != "open"}
    assert names == by_hand
    assert "record_signal" in listed and "intensity=INT" in listed and "observed_on=DATE" in listed
    assert "miss_deadline" not in listed and "miss_deadline (recorded by etrack tick)" in help_text
    assert "DATE" in help_text.split("Values:")[1] and "YYYY-MM-DD" in help_text
    if command == ["step"]:
        assert "items=TEXT;..." in listed and "themes=SESSION_THEME;..." in listed
        assert "evaluations={KEY:[OUTCOME,TEXT],...}" in listed and "achieved, partly, not_achieved" in help_text
    else:
        assert "member=ID" in listed and "an id (a UUID)" in help_text


BAD_STEPS = [
    (["record_signal", "theme=turnover"], "context, polarity, intensity, unit, observed_on: required by record_signal"),
    (["record_signal", "theme=turnover", "context=tech", "polarity=drains", "intensity=strong", "unit=Ops",
      "observed_on=2026-02-02"], "intensity: 'strong' is not a whole number"),
    (["hold_review", "held_on=02/03/2026"], "held_on: '02/03/2026' is not a date as YYYY-MM-DD"),
    (["hold_review", "held_on=2026-02-30"], "held_on: '2026-02-30' is not a date as YYYY-MM-DD"),
    (["hold_review", "held_on=2026-02-03", "mood=good"], "mood: hold_review takes no mood; it takes held_on=DATE"),
    (["hold_review", "2026-02-03"], "2026-02-03: expected KEY=VALUE"),
    (["hold_review", "held_on=2026-02-03", "held_on=2026-02-04"], "held_on: given twice"),
    (["record_session", "held_on=2026-02-03", "duration_minutes=60", "themes=delegation;gardening"],
     "themes: item 'gardening': 'gardening' is not one of: leadership"),
    (["measure_indicator", "indicator=I1", "value=lots", "measured_on=2026-02-03"], "value: 'lots' is not a number"),
    (["hold_closing_session", "held_on=2026-04-20", "evaluations=I1:achieved"], "evaluations: not JSON"),
    (["hold_closing_session", "held_on=2026-04-20", 'evaluations={"I1": ["great", "x"]}'],
     "evaluations: at 'I1': item 1: 'great' is not one of: achieved, partly, not_achieved"),
    (["hold_closing_session", "held_on=2026-04-20", 'evaluations={"I1": "achieved"}'],
     "evaluations: at 'I1': 'achieved' is not a JSON list [OUTCOME,TEXT]"),
    (["decline", "reason=bored"], "reason: 'bored' is not one of: coachee_withdrew"),
    (["hold_quarterly_review", "held_on=2026-02-03", "objectives_realigned=perhaps"],
     "objectives_realigned: 'perhaps' is not true or false"),
    (["fly_to_the_moon"], "STEP: 'fly_to_the_moon' is not an engagement step; steps: abandon, accept_disclosure"),
    (["miss_deadline"], "STEP: miss_deadline is recorded by etrack tick, never taken by hand"),
]


@pytest.mark.parametrize(("args", "message"), BAD_STEPS, ids=[a[0] + "-" + str(n) for n, (a, _) in
                                                              enumerate(BAD_STEPS)])
def test_a_bad_step_argument_is_one_clear_line_and_writes_nothing(framed: tuple[list[str], Cast, UUID],
                                                                   tmp_path: Path, args: list[str],
                                                                   message: str) -> None:
    db, cast, eid = framed
    store = tmp_path / "etrack.sqlite"
    before = store.read_bytes()
    proc = etrack(*db, "step", str(eid), *args, *as_("coach", cast.coach.party), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: InvalidInput: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in " ".join(proc.stderr.split()), proc.stderr
    assert proc.stdout == ""
    assert store.read_bytes() == before


def test_a_cohort_step_is_read_by_its_own_signature(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cc = CohortCast.register(app)
    cid = frame_cohort(app, cc)
    app.close()
    cases = [
        (["add_member", "member=Peer 6"], "member: 'Peer 6' is not an id (a UUID)"),
        (["complete_checkpoint", "week=two"], "week: 'two' is not a whole number"),
        (["propose_disclosure", "items=dates"], "STEP: 'propose_disclosure' is not a cohort step"),
    ]
    for args, message in cases:
        proc = etrack("--db", url, "cohort", "step", str(cid), *args, *as_("coach", cc.coach.party), cwd=tmp_path,
                      check=False)
        assert proc.returncode == 2 and message in " ".join(proc.stderr.split()), proc.stderr
        assert "Traceback" not in proc.stderr


def test_no_error_path_prints_a_traceback(framed: tuple[list[str], Cast, UUID], tmp_path: Path) -> None:
    db, cast, eid = framed
    coach = as_("coach", cast.coach.party)
    app = new_tracker(db[1])
    events = event_count(app)
    app.close()
    attempts = [
        [*db, "step", str(eid), "record_signal", *coach, "theme=turnover", "context=tech", "polarity=drains",
         "intensity=9", "unit=Ops", "observed_on=2026-02-02"],  # the domain refuses intensity 9
        [*db, "step", str(eid), "record_signal", *coach, "theme=weather", "context=tech", "polarity=drains",
         "intensity=3", "unit=Ops", "observed_on=2026-02-02"],  # an unknown signal theme
        [*db, "step", str(eid), "propose_disclosure", *as_("coachee", cast.coachee.party), "items=session_notes"],
        [*db, "step", str(eid), "propose_disclosure", *coach, "items=dates"],  # the coach is no party to it
        [*db, "step", "not-an-id", "resume", *coach],
        [*db, "step", "00000000-0000-4000-8000-000000000000", "resume", *coach],
        [*db, "step", str(eid), "resume", "--as", "coach"],
        [*db, "step", str(eid), "resume", "--as", f"wizard:{cast.coach.party}"],
        [*db, "show", str(eid), "--as", f"analyst:{cast.coach.party}"],
        [*db, "tick", "--at", "yesterday"],
        [*db, "replay", str(eid), "--as", f"auditor:{cast.sponsor.party}", "--version", "x"],
        ["--db", f"sqlite:///{tmp_path / 'missing.sqlite'}", "step", str(eid), "resume", *coach],
    ]
    for args in attempts:
        proc = etrack(*args, cwd=tmp_path, check=False)
        assert proc.returncode in (2, 3, 4), (args, proc.stderr)  # usage, refused, store (exits.py)
        assert "Traceback" not in proc.stderr + proc.stdout, (args, proc.stderr)
    assert not (tmp_path / "missing.sqlite").exists()  # a step never creates a store
    app = new_tracker(db[1])
    assert event_count(app) == events
    app.close()
