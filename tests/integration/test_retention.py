"""Retention on a real SQLite store and vault (issue #27, item 6): tick erases a closed engagement's
session notes once the policy's years have passed, by destroying their key (no file keeps its bytes),
records it as an event the audit trail shows, keeps everything else, and a bad policy is refused."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import InvalidInput, NotPermitted, Role
from engagement_tracker.domain.retention import session_subject, years_after
from tests.support import START, Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement, tick_at

NOTE = "Marc admitted he is thinking of leaving the company before summer"


def all_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_tick_destroys_the_session_key_of_an_engagement_ended_past_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock(), ETRACK_RETENTION_SESSION_CONTENT_YEARS="5")
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 90, ["career"], NOTE)
    running = open_engagement(app, Cast.register(app))  # never ends: its content is kept
    app.engagements.hold_closing_session(eid, cast.coach, START + timedelta(days=100),
                                         dict.fromkeys(keys["indicators"], ("achieved", "measured")))
    app.engagements.hold_closing_meeting(eid, cast.coach, START + timedelta(days=110), "what changed", "keep it")
    ended = app.engagements.get(eid).ended_at
    assert ended is not None
    admin = granted(app, Role.ADMIN, "Data Protection Officer")
    auditor = grant(app, admin.party, Role.AUDITOR)
    subject = session_subject(cast.coachee.party, eid)
    key = sqlite3.connect(tmp_path / "etrack.sqlite-vault").execute(
        "SELECT key FROM etrack_vault WHERE subject = ?", (subject,)).fetchone()[0]
    assert key in all_files(tmp_path)

    due = years_after(ended, 5)
    assert app.retention.pending(admin, due - timedelta(days=1)) == [
        {"engagement": str(eid), "ended_at": ended.isoformat(), "due_at": due.isoformat(), "due_now": False,
         "sessions": 1, "legacy_notes": 0}]
    with pytest.raises(NotPermitted):
        app.retention.pending(cast.coach)
    assert not [r for r in tick_at(app, due - timedelta(seconds=1)) if r["deadline"].startswith("retention")]
    assert app.engagements.view(eid, cast.coach)["sessions"][0]["notes"] == NOTE  # not yet

    rows = [r for r in tick_at(app, due) if r["deadline"].startswith("retention")]
    assert rows == [{"kind": "engagement", "id": str(eid), "deadline": "retention:session_content",
                     "due_at": due.isoformat()}]
    assert key not in all_files(tmp_path)  # the key is gone from every file
    view = app.engagements.view(eid, cast.coach)
    assert view["sessions"][0]["notes"] == "[erased]"
    assert view["session_content_erased_at"] == due.isoformat()
    assert view["diagnosis"] == "stakes and first objectives"  # the rest of the engagement stays
    assert view["parties"]["coachee"]["name"] == "Marc Petit"
    assert app.engagements.get(running).session_content_erased_at is None
    assert [r for r in tick_at(app, due + timedelta(days=30)) if r["deadline"].startswith("retention")] == []
    timeline = app.engagements.timeline(eid, cast.coach)
    assert timeline[-1]["event"] == "SessionContentErased" and timeline[-1]["role"] == "system"

    service = bootstrap.audit_service(app)
    service.trail.catch_up()
    assert service.verify(auditor).ok  # the log still verifies
    assert any("SessionContentErased" in str(e.to_dict()) for e in service.entries(auditor, 1, 10_000))
    app.close()


@pytest.mark.parametrize("raw", ["0", "-1", "five", "101", "2.5"])
def test_a_bad_retention_policy_is_refused_when_the_tracker_opens(raw: str) -> None:
    with pytest.raises(InvalidInput, match="ETRACK_RETENTION_SESSION_CONTENT_YEARS"):
        new_tracker("memory:", FakeClock(), ETRACK_RETENTION_SESSION_CONTENT_YEARS=raw)


def test_without_a_policy_tick_erases_nothing() -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "closed")
    assert [r for r in tick_at(app, app.clock() + timedelta(days=100 * 366)) if r["deadline"].startswith("retention")] == []
    assert app.engagements.get(eid).session_content_erased_at is None
    app.close()


def test_the_frozen_0_1_0_store_under_a_policy_legacy_notes_are_recorded_and_hidden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notes recorded before per-engagement session keys were sealed under the coachee's key: the policy
    records their erasure and the views hide them, the pending list counts them, and (the documented
    limit) their ciphertext stays decryptable until the coachee is erased. The log still verifies."""
    import shutil
    from datetime import UTC, datetime
    from uuid import UUID

    from engagement_tracker.adapters import open_tracker
    from engagement_tracker.domain import Actor
    from engagement_tracker.domain.engagement import Engagement
    from engagement_tracker.domain.engagement_record import EngagementRecord
    from tests.integration.test_fixture_v0_1_0 import ADMIN, AUDITOR, FIXTURE, FROZEN, VIEW_NOW

    for name in FROZEN:
        shutil.copyfile(FIXTURE / name, tmp_path / name)
    for var in [k for k in __import__("os").environ if k.startswith("ETRACK_")]:
        monkeypatch.delenv(var)
    app = open_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", clock=lambda: VIEW_NOW, create=False,
                       env={"ETRACK_RETENTION_SESSION_CONTENT_YEARS": "1"})
    app.access.initialise(party_id=ADMIN.party)
    app.access.grant(AUDITOR.party, Role.AUDITOR, ADMIN)
    later = datetime(2040, 1, 1, tzinfo=UTC)
    pending = app.retention.pending(ADMIN, later)
    assert pending and all(row["due_now"] for row in pending)
    assert any(row["legacy_notes"] for row in pending)
    erased = {r["id"] for r in app.tick(later).value if r["deadline"] == "retention:session_content"}
    assert erased == {row["engagement"] for row in pending}
    legacy_seen = 0
    for eid in erased:
        e = app.engagements.get(eid)
        view = app.engagements.view(eid, Actor(e.coach, Role.COACH))
        assert all(s.get("notes") in (None, "[erased]") for s in view["sessions"])
        record = EngagementRecord.of(list(app.events.get(UUID(eid))))
        for s in record.sessions:
            if s.notes is not None and s.notes.subject == str(e.coachee) and not app.sealer.is_erased(str(e.coachee)):
                legacy_seen += 1
                assert app.sealer.unseal(s.notes)  # the documented limit: readable until the coachee is erased
        assert isinstance(list(app.events.get(UUID(eid)))[-1], Engagement.SessionContentErased)
    assert legacy_seen
    assert app.retention.pending(ADMIN, later) == []
    service = bootstrap.audit_service(app)
    service.trail.catch_up()
    assert service.verify(AUDITOR).ok
    app.close()


def test_erasing_the_coachee_destroys_their_engagements_session_keys_too(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 90, ["career"], NOTE)
    subject = session_subject(cast.coachee.party, eid)
    key = sqlite3.connect(tmp_path / "etrack.sqlite-vault").execute(
        "SELECT key FROM etrack_vault WHERE subject = ?", (subject,)).fetchone()[0]
    app.parties.erase(cast.coachee.party, granted(app, Role.ADMIN, "DPO"))
    assert app.sealer.is_erased(subject)
    assert key not in all_files(tmp_path)
    assert app.engagements.view(eid, cast.coach)["sessions"][0]["notes"] == "[erased]"
    app.close()
