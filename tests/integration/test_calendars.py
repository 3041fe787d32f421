"""Calendars (issue #27, item 2): a person's feed through icalendar, read back by icalendar and by
vobject (a second parser); stable UIDs; nothing confidential; each role sees only its deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import vobject
from icalendar import Calendar

from engagement_tracker.adapters.calendar_feed import ics_of
from engagement_tracker.adapters.cli import main
from engagement_tracker.domain.errors import NotPermitted
from tests.support import START, Cast, FakeClock, drive, new_tracker, open_engagement

PLACE = "Salle Kepler, Lyon"
SECRETS = ("Marc", "Claire", "Sophie", PLACE, "pair on incidents", "Delegate decisions", "quiet session")


@pytest.fixture
def team(tracker):  # type: ignore[no-untyped-def]
    cast = Cast.register(tracker, team=True)
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    at = datetime.combine(START + timedelta(days=30), datetime.min.time(), UTC) + timedelta(hours=13)
    p1 = tracker.sessions.schedule_session(eid, cast.coach, at, 60, PLACE).value
    p2 = tracker.sessions.schedule_session(eid, cast.coachee, at + timedelta(days=14), 90, PLACE).value
    tracker.sessions.cancel_session(eid, cast.coach, p2)
    tracker.engagements.commit_action(eid, cast.coachee, "pair on incidents", START + timedelta(days=40))
    return tracker, cast, eid, p1, p2


def feed(app, actor) -> bytes:  # type: ignore[no-untyped-def]
    now = app.now()
    return ics_of(app.calendars.entries(actor.party, actor, now), now)


def events(data: bytes) -> dict[str, dict[str, object]]:
    parsed = Calendar.from_ical(data)
    return {str(e["UID"]): {"summary": str(e["SUMMARY"]), "start": e.decoded("DTSTART"), "status": str(e["STATUS"]),
                            "sequence": int(e["SEQUENCE"])} for e in parsed.walk("VEVENT")}


def test_the_coachs_feed_holds_sessions_and_deadlines_and_nothing_confidential(team) -> None:  # type: ignore[no-untyped-def]
    app, cast, eid, p1, p2 = team
    data = feed(app, cast.coach)
    for secret in SECRETS:
        assert secret.encode() not in data, secret
    assert b"LOCATION" not in data and b"DESCRIPTION" not in data and b"ATTENDEE" not in data
    got = events(data)
    assert got[f"{eid}-{p1}@etrack"]["summary"] == "Coaching session"
    assert got[f"{eid}-{p1}@etrack"]["start"] == datetime.combine(START + timedelta(days=30), datetime.min.time(),
                                                                   UTC) + timedelta(hours=13)
    assert got[f"{eid}-{p2}@etrack"]["status"] == "CANCELLED"
    kinds = {uid.split("-", 5)[-1].split(":")[0] for uid in got}
    assert {"action", "quarterly_review", "contract_end"} <= kinds


def test_uids_are_stable_and_an_update_replaces_the_event(team) -> None:  # type: ignore[no-untyped-def]
    app, cast, eid, p1, _p2 = team
    before = events(feed(app, cast.coachee))
    assert events(feed(app, cast.coachee)).keys() == before.keys()
    moved = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    app.sessions.reschedule_session(eid, cast.coachee, p1, moved, 60)
    after = events(feed(app, cast.coachee))
    uid = f"{eid}-{p1}@etrack"
    assert after.keys() == before.keys()
    assert (after[uid]["start"], after[uid]["sequence"]) == (moved, before[uid]["sequence"] + 1)


def test_the_sponsor_sees_that_a_review_is_due_not_what_about(team) -> None:  # type: ignore[no-untyped-def]
    app, cast, _eid, _p1, _p2 = team
    got = events(feed(app, cast.sponsor))
    assert got and {e["summary"] for e in got.values()} <= {"Quarterly coaching review due", "Coaching contract ends"}
    assert "Quarterly coaching review due" in {e["summary"] for e in got.values()}
    coachee = {e["summary"] for e in events(feed(app, cast.coachee)).values()}
    assert "Coaching action due" in coachee and "Quarterly coaching review due" not in coachee


def test_a_second_parser_reads_the_same_feed(team) -> None:  # type: ignore[no-untyped-def]
    app, cast, _eid, _p1, _p2 = team
    data = feed(app, cast.coach)
    first = events(data)
    second = vobject.readOne(data.decode())
    seen = {}
    for vevent in second.vevent_list:
        start = vevent.dtstart.value
        seen[vevent.uid.value] = (vevent.summary.value, start)
    assert set(seen) == set(first)
    for uid, (summary, start) in seen.items():
        assert summary == first[uid]["summary"]
        assert start == first[uid]["start"] and isinstance(start, datetime) == isinstance(first[uid]["start"], datetime)
        if not isinstance(start, datetime):
            assert isinstance(start, date)


def test_only_the_person_reads_their_calendar(team) -> None:  # type: ignore[no-untyped-def]
    app, cast, _eid, _p1, _p2 = team
    with pytest.raises(NotPermitted):
        app.calendars.entries(cast.coachee.party, cast.coach)


def test_the_command_line_writes_the_feed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.sessions.schedule_session(eid, cast.coach, datetime(2026, 2, 2, 14, tzinfo=UTC), 60, PLACE)
    app.close()
    out = tmp_path / "me.ics"
    try:
        main(["--db", url, "calendar", str(cast.coachee.party), "--as", f"coachee:{cast.coachee.party}",
              "--out", str(out)])
    except SystemExit as exc:
        assert not exc.code
    data = out.read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR") and PLACE.encode() not in data
    assert f"{eid}-P1@etrack".encode() in data
