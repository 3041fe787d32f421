"""A person's rights (issue #27, item 5): the export holds every event that names the person, with
what is sealed for them opened; rectification is an event; an erased person's export says erased."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from engagement_tracker.adapters.cli import main
from engagement_tracker.domain import EngagementTracker, Role
from engagement_tracker.domain.application.subject_access import OTHERS_TEXT, WITHHELD_TEXT
from engagement_tracker.domain.application.views import state_as_json
from engagement_tracker.domain.errors import NotPermitted, RuleViolation
from engagement_tracker.domain.values import Actor
from tests.integration.test_sqlite_roundtrip import record_every_event_type
from tests.support import Cast, FakeClock, admin, drive, event_count, granted, new_tracker

_OWN = {"originator_id", "originator_version", "timestamp", "command_id"}


def naming(app: EngagementTracker, party: UUID) -> set[tuple[str, int]]:
    """The oracle: every stored event whose JSON form (sealed values shown sealed, with their subject)
    carries the party's id, found by a plain text search over the whole store."""
    found = set()
    for n in app.recorder.select_notifications(1, 100_000):
        event = app.mapper.to_domain_event(n)
        fields = {k: v for k, v in vars(event).items() if k not in _OWN}
        if event.originator_id == party or str(party) in json.dumps(state_as_json(fields), default=str):
            found.add((str(event.originator_id), event.originator_version))
    return found


@pytest.fixture
def history(tracker: EngagementTracker) -> tuple[EngagementTracker, Cast, list[UUID]]:
    cast = Cast.register(tracker)
    return tracker, cast, record_every_event_type(tracker, cast)


def exported(app: EngagementTracker, party: UUID) -> dict:  # type: ignore[type-arg]
    return app.subjects.export(party, admin(app))


def test_the_export_holds_every_event_that_names_the_person(history) -> None:  # type: ignore[no-untyped-def]
    app, cast, _ids = history
    for who in (cast.coachee, cast.coach, cast.sponsor):
        data = exported(app, who.party)
        listed = {(e["id"], e["version"]) for e in data["events"]}
        assert listed == naming(app, who.party), who.role
        assert len(listed) == len(data["events"])  # each once
        assert json.loads(json.dumps(data)) == data  # JSON as it is (article 20: a machine-readable copy)


def test_what_is_sealed_for_the_person_is_opened_for_them_and_nothing_else(history) -> None:  # type: ignore[no-untyped-def]
    app, cast, (full, *_rest) = history
    mine = exported(app, cast.coachee.party)
    text = json.dumps(mine, ensure_ascii=False)
    assert "an action" in text and "it helped" in text and "synthesis" in text  # the coachee's own content, opened
    assert '"sealed": true' not in text and "ciphertext" not in text
    sessions = [e for e in mine["events"] if e["event"] == "Engagement.SessionHeld"]
    assert sessions and all(e["data"]["session"]["notes"] in (None, WITHHELD_TEXT) for e in sessions)
    assert any(e["data"]["session"]["notes"] == WITHHELD_TEXT for e in sessions)  # the coach's notes stay the coach's
    assert mine["name"] == app.parties.name(cast.coachee.party)
    assert [d["event"] for d in mine["disclosures"] if d["engagement"] == str(full)] == [
        "Engagement.DisclosureProposed", "Engagement.DisclosureAgreed"]
    readers = next(e for e in mine["engagements"] if e["id"] == str(full))
    assert {(r["party"], r["as"]) for r in readers["readers"]} >= {
        (str(cast.coach.party), "coach"), (str(cast.sponsor.party), "sponsor"), (str(cast.coachee.party), "coachee")}
    assert readers["sponsor_sees"] == ["indicators", "objectives"]
    sponsor = json.dumps(exported(app, cast.sponsor.party), ensure_ascii=False)
    assert "an action" not in sponsor and "it helped" not in sponsor  # the coachee's content is not the sponsor's
    # the sponsor's export names each engagement's phase, never its step (the contract scope: access.hides_steps)
    suspended = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Operations").value
    drive(app, cast, suspended, "accompaniment.in_progress")
    app.engagements.suspend(suspended, cast.coachee, "a leave")
    as_sponsor = {e["id"]: e["state"] for e in exported(app, cast.sponsor.party)["engagements"]}
    as_coachee = {e["id"]: e["state"] for e in exported(app, cast.coachee.party)["engagements"]}
    assert as_coachee[str(suspended)] == "accompaniment.suspended"  # the coachee reads the step
    assert as_sponsor[str(suspended)] == "accompaniment"  # the sponsor, the phase only
    assert all("." not in state for state in as_sponsor.values())
    assert OTHERS_TEXT in sponsor


def test_only_a_granted_admin_exports_or_rectifies(history) -> None:  # type: ignore[no-untyped-def]
    app, cast, _ids = history
    auditor = granted(app, Role.AUDITOR, "Alex Auditor")
    for actor in (cast.coach, auditor, Actor(cast.coach.party, Role.ADMIN), cast.coachee):
        with pytest.raises(NotPermitted):
            app.subjects.export(cast.coachee.party, actor)
        before = event_count(app)
        with pytest.raises(NotPermitted):
            app.subjects.rectify(cast.coachee.party, actor, name="Someone Else")
        assert event_count(app) == before


def test_rectification_is_an_event_and_history_keeps_the_first_value(tracker: EngagementTracker) -> None:
    ada = admin(tracker)
    pid = tracker.parties.register("person", "Marc Petti", "marc@exmaple.org").value
    result = tracker.subjects.rectify(pid, ada, name="Marc Petit", command_id="rectify-1")
    assert result.status == "recorded"
    assert tracker.subjects.rectify(pid, ada, name="Marc Petit", command_id="rectify-1").status == "already recorded"
    tracker.subjects.rectify(pid, ada, contact="marc@example.org")
    assert tracker.parties.name(pid) == "Marc Petit"
    assert tracker.sealing.unseal(tracker.parties.get(pid).contact) == "marc@example.org"
    data = exported(tracker, pid)
    assert (data["name"], data["contact"]) == ("Marc Petit", "marc@example.org")
    kinds = [e["event"] for e in data["events"] if e["id"] == str(pid)]
    assert kinds == ["Party.Created", "Party.Rectified", "Party.Rectified"]
    assert data["events"][0]["data"]["name"] == "Marc Petti"  # what was recorded first, shown as recorded
    rectified = data["events"][1]["data"]
    assert rectified["actor"] == {"party": str(ada.party), "role": "admin"} and rectified["contact"] is None
    before = event_count(tracker)
    with pytest.raises(RuleViolation):
        tracker.subjects.rectify(pid, ada)  # nothing to correct
    tracker.parties.erase(pid, ada)
    with pytest.raises(RuleViolation, match="erased"):
        tracker.subjects.rectify(pid, ada, name="Anyone")
    assert event_count(tracker) == before + 1  # the erasure only


def test_an_erased_persons_export_says_erased_and_opens_nothing(history) -> None:  # type: ignore[no-untyped-def]
    app, cast, _ids = history
    ada = admin(app)
    app.parties.erase(cast.coachee.party, ada)
    data = exported(app, cast.coachee.party)
    assert data["erased"] is True and data["erased_at"] is not None
    assert data["name"] == data["contact"] == "[erased]"
    text = json.dumps(data, ensure_ascii=False)
    assert "an action" not in text and "it helped" not in text
    assert {(e["id"], e["version"]) for e in data["events"]} == naming(app, cast.coachee.party)


def test_the_command_line_writes_json_and_a_readable_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    ada = admin(app)
    pid = app.parties.register("person", "Zoé <b>Lefèvre</b>", "zoe@example.org").value
    app.close()
    assert _etrack("--db", url, "party", "rectify", str(pid), "--as", f"admin:{ada.party}",
                   "--contact", "zoe.lefevre@example.org") == 0
    assert _etrack("--db", url, "subject", "export", str(pid), "--as", f"admin:{ada.party}",
                   "--out", str(tmp_path / "me.json")) == 0
    data = json.loads((tmp_path / "me.json").read_text())
    assert data["contact"] == "zoe.lefevre@example.org" and len(data["events"]) == 2
    assert _etrack("--db", url, "subject", "export", str(pid), "--as", f"admin:{ada.party}", "--format", "html",
                   "--out", str(tmp_path / "me.html")) == 0
    page = (tmp_path / "me.html").read_text()
    assert "Zoé &lt;b&gt;Lefèvre&lt;/b&gt;" in page and "<b>Lefèvre" not in page  # escaped, never markup
    from engagement_tracker.adapters.pages.render import external_references

    assert external_references(page) == []
    capsys.readouterr()
    assert _etrack("--db", url, "party", "rectify", str(pid), "--as", f"admin:{ada.party}") == 2


def _etrack(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_page_shows_engagements_readers_and_disclosures(history) -> None:  # type: ignore[no-untyped-def]
    from engagement_tracker.adapters.pages.render import external_references
    from engagement_tracker.adapters.pages.subject import subject_page

    app, cast, (full, *_rest) = history
    page = subject_page(exported(app, cast.coachee.party))
    assert f"Engagement {full}" in page and "DisclosureAgreed: indicators, objectives" in page
    assert str(cast.sponsor.party) in page and "an action" in page and WITHHELD_TEXT.split(":")[0] in page
    assert external_references(page) == []
