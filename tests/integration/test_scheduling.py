"""Scheduled sessions (issue #27, item 1): steps of accompaniment beside the workflow, from Python
and from the command line, on a real SQLite file; the place is sealed; a refusal writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engagement_tracker.adapters.cli import main
from engagement_tracker.domain import Engagement
from engagement_tracker.domain.application.steps import ENGAGEMENT_STEPS
from engagement_tracker.domain.engagement_record import EngagementRecord
from engagement_tracker.domain.errors import InvalidInput, NotPermitted, RuleViolation, StepNotAllowed
from tests.support import START, Cast, FakeClock, drive, event_count, new_tracker, open_engagement

PLACE = "Salle Kepler, 4 rue de la Paix, Lyon"


def _etrack(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_planning_changes_no_state_and_holding_links_the_session(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    at = datetime(2026, 2, 2, 14, tzinfo=UTC)
    before = app.engagements.get(eid).state
    step = ENGAGEMENT_STEPS["schedule_session"]
    assert step.roles == ("coach", "coachee") and [p.name for p in step.parameters] == [
        "starts_at", "duration_minutes", "place"]
    p1 = step.take(app.engagements, eid, cast.coachee, starts_at=at, duration_minutes=60, place=PLACE).value
    assert p1 == "P1" and app.engagements.get(eid).state == before
    app.sessions.reschedule_session(eid, cast.coach, p1, at + timedelta(days=2), 90)
    number = app.sessions.hold_scheduled_session(eid, cast.coach, p1, ["delegation"], "notes").value
    record = EngagementRecord.of(app.history(Engagement, eid, "engagement"))
    assert record.schedule[p1]["status"] == "held" and record.schedule[p1]["session"] == number
    held = record.sessions[-1]
    assert (held.number, held.held_on, held.duration_minutes) == (number, (at + timedelta(days=2)).date(), 90)
    assert app.sealing.unseal(record.schedule[p1]["place"]) == PLACE
    assert app.engagements.get(eid).state == before
    app.close()
    assert PLACE.encode() not in (tmp_path / "etrack.sqlite").read_bytes()  # sealed, never in clear


@pytest.mark.parametrize("case", ["sponsor", "framing", "held", "unknown", "naive", "long"])
def test_a_refused_plan_writes_nothing(tracker, case: str) -> None:  # type: ignore[no-untyped-def]
    cast = Cast.register(tracker)
    eid = open_engagement(tracker, cast)
    if case != "framing":
        drive(tracker, cast, eid, "accompaniment.in_progress")
    at = datetime.combine(START + timedelta(days=20), datetime.min.time(), UTC)
    if case == "held":
        key = tracker.sessions.schedule_session(eid, cast.coach, at, 60, "Room").value
        tracker.sessions.cancel_session(eid, cast.coach, key)
    before = event_count(tracker)
    expected: type[Exception] = {"sponsor": NotPermitted, "framing": StepNotAllowed, "held": RuleViolation,
                                 "unknown": InvalidInput, "naive": InvalidInput, "long": InvalidInput}[case]
    with pytest.raises(expected):
        if case == "sponsor":
            tracker.sessions.schedule_session(eid, cast.sponsor, at, 60, "Room")
        elif case in ("framing", "naive", "long"):
            tracker.sessions.schedule_session(eid, cast.coach, at.replace(tzinfo=None) if case == "naive" else at,
                                              60 if case != "long" else 24 * 60, "Room")
        elif case == "held":
            tracker.sessions.hold_scheduled_session(eid, cast.coach, "P1", ["delegation"])
        else:
            tracker.sessions.reschedule_session(eid, cast.coach, "P7", at, 60)
    assert event_count(tracker) == before


def test_the_command_line_takes_the_planning_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.close()
    coach, coachee, sponsor = (f"{a.role.value}:{a.party}" for a in (cast.coach, cast.coachee, cast.sponsor))
    assert _etrack("--db", url, "step", str(eid), "schedule_session", "--as", coachee,
                   "starts_at=2026-02-02T14:00+01:00", "duration_minutes=60", "place=https://meet.example/abc") == 0
    assert '"P1"' in capsys.readouterr().out
    assert _etrack("--db", url, "step", str(eid), "cancel_session", "--as", sponsor, "key=P1") == 3
    assert "NotPermitted" in capsys.readouterr().err
    assert _etrack("--db", url, "step", str(eid), "hold_scheduled_session", "--as", coach, "key=P1",
                   "themes=delegation") == 0
    capsys.readouterr()
    assert _etrack("--db", url, "timeline", str(eid), "--as", coach, "--format", "json") == 0
    events = [row["event"] for row in json.loads(capsys.readouterr().out)]
    assert events[-3:] == ["SessionScheduled", "SessionHeld", "ScheduledSessionHeld"]
