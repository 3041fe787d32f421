"""The served calendar (issue #27, item 2): ``GET /calendar/{token}.ics`` on a real uvicorn over a real
SQLite file. The token in the path identifies the person; the feed holds only what that person may see,
nothing confidential; an unknown, revoked or expired token is a 401 problem document with no feed; the
token is never echoed nor counted by path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from tests.http_support import free_port, start_server
from tests.support import START, Cast, FakeClock, admin, drive, open_engagement

pytest.importorskip("fastapi")
Calendar = pytest.importorskip("icalendar").Calendar

PLACE = "Salle Kepler, Lyon"
SECRETS = ("Marc", "Claire", "Sophie", PLACE, "pair on incidents", "Delegate decisions", "stakes and first")
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engagement_tracker.adapters.http import create_app

    path: Path = tmp_path_factory.mktemp("calendar") / "etrack.sqlite"
    clock = FakeClock()
    app = open_tracker(f"sqlite:///{path}", clock=clock)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    at = datetime.combine(START + timedelta(days=30), datetime.min.time(), UTC) + timedelta(hours=13)
    plan = app.sessions.schedule_session(eid, cast.coach, at, 60, PLACE).value
    app.engagements.commit_action(eid, cast.coachee, "pair on incidents", START + timedelta(days=40))
    by = admin(app)
    tokens = {name: str(app.access.issue_token(actor.party, by, label="calendar").value.secret)
              for name, actor in (("coach", cast.coach), ("coachee", cast.coachee), ("sponsor", cast.sponsor))}
    revoked = app.access.issue_token(cast.coachee.party, by, label="calendar")
    app.access.revoke_token(revoked.value.token, by)
    tokens["revoked"] = str(revoked.value.secret)
    tokens["expired"] = str(app.access.issue_token(cast.coach.party, by, timedelta(hours=1)).value.secret)
    clock.now += timedelta(hours=2)
    port = free_port()
    server, thread = start_server(create_app(app), port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield {"client": client, "tokens": tokens, "eid": eid, "plan": plan, "app": app}
    finally:
        server.should_exit = True
        thread.join(30)
        app.close()


def uids(data: bytes) -> dict[str, str]:
    return {str(e["UID"]): str(e["SUMMARY"]) for e in Calendar.from_ical(data).walk("VEVENT")}


def test_each_person_reads_their_own_feed_and_nothing_confidential(served: dict[str, Any]) -> None:
    client, tokens, eid, plan = served["client"], served["tokens"], served["eid"], served["plan"]
    feeds = {}
    for name in ("coach", "coachee", "sponsor"):
        r = client.get(f"/calendar/{tokens[name]}.ics")
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"].startswith("text/calendar")
        assert "no-store" in r.headers["cache-control"]
        for secret in SECRETS:
            assert secret not in r.text, (name, secret)
        assert "LOCATION" not in r.text and "DESCRIPTION" not in r.text and "ATTENDEE" not in r.text
        feeds[name] = uids(r.content)
    session = f"{eid}-{plan}@etrack"
    assert feeds["coach"][session] == feeds["coachee"][session] == "Coaching session"
    assert session not in feeds["sponsor"]  # a sponsor never sees the sessions' dates
    assert any("-action:" in uid for uid in feeds["coachee"])
    assert not any("-action:" in uid for uid in feeds["sponsor"])  # nor the coachee's actions
    assert any("-contract_end" in uid for uid in feeds["sponsor"])
    assert not any("-off_track" in uid for uid in feeds["coachee"])  # the coach's own reminders stay the coach's
    # the feed is the one the CLI writes: the same entries
    app = served["app"]
    assert set(feeds["coachee"]) == {e["uid"] for e in app.calendars.entries(
        served["app"].engagements.get(eid).coachee, _coachee(served))}


def _coachee(served: dict[str, Any]) -> Any:
    from engagement_tracker.domain.values import Actor
    from engagement_tracker.domain.vocabulary import Role

    return Actor(served["app"].engagements.get(served["eid"]).coachee, Role.COACHEE)


@pytest.mark.parametrize("name", ["revoked", "expired", "unknown", "malformed"])
def test_a_revoked_expired_or_unknown_token_is_a_401_problem_and_no_feed(served: dict[str, Any], name: str) -> None:
    client, tokens = served["client"], served["tokens"]
    token = {"unknown": "etk_" + "A" * 43, "malformed": "not-a-token"}.get(name) or tokens[name]
    before = served["app"].recorder.max_notification_id()
    r = client.get(f"/calendar/{token}.ics")
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "BEGIN:VCALENDAR" not in r.text
    assert token not in r.text and token not in str(r.headers)
    assert r.json()["instance"] == "/calendar/{token}.ics"
    assert served["app"].recorder.max_notification_id() == before  # a refused read writes nothing


def test_the_token_is_never_counted_by_path(served: dict[str, Any]) -> None:
    client, tokens = served["client"], served["tokens"]
    assert client.get(f"/calendar/{tokens['coach']}.ics").status_code == 200
    metrics = client.get("/metrics").text
    assert 'route="/calendar/{token}.ics"' in metrics
    for token in tokens.values():
        assert token not in metrics


def test_an_erased_persons_token_reads_no_feed(served: dict[str, Any]) -> None:
    # last in this module: the erasure is for good
    app, client, tokens = served["app"], served["client"], served["tokens"]
    sponsor = app.engagements.get(served["eid"]).sponsor
    app.parties.erase(sponsor, admin(app))
    r = client.get(f"/calendar/{tokens['sponsor']}.ics")
    assert r.status_code == 401
    assert "BEGIN:VCALENDAR" not in r.text
