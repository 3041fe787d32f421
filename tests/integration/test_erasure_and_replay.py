"""Erasure leaves nothing readable in any file; replay equals the live past; disclosure; encryption."""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.bootstrap import new_cipher_key
from engagement_tracker.domain import NotPermitted, Role, RuleViolation, StoreError
from engagement_tracker.domain.application.views import state_as_json
from tests.support import START, Cast, FakeClock, drive, grant, granted, new_tracker, open_engagement
from tests.unit.test_engagement_rules import refused

NOTE = "Marc admitted he is thinking of leaving the company before summer"


def all_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_after_erasure_no_file_holds_names_notes_or_key_bytes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=20), 90, ["career"], NOTE)
    admin = granted(app, Role.ADMIN, "Data Protection Officer")
    auditor = grant(app, admin.party, Role.AUDITOR)
    bootstrap.audit_service(app).trail.catch_up()
    key = sqlite3.connect(tmp_path / "etrack.sqlite-vault").execute(
        "SELECT key FROM etrack_vault WHERE subject = ?", (str(cast.coachee.party),)).fetchone()[0]
    assert key in all_files(tmp_path)  # the key is there before

    erased = app.parties.erase(cast.coachee.party, admin)
    receipt = erased.value
    assert erased.status == "recorded" and erased.aggregate_id == cast.coachee.party
    assert receipt["subject"] == str(cast.coachee.party) and receipt["key_destroyed_now"] is True
    assert receipt["key_present"] is False and len(receipt["receipt"]) == 64
    again = app.parties.erase(cast.coachee.party, admin)  # idempotent: the same receipt, nothing more recorded
    assert again.value["receipt"] == receipt["receipt"] and again.status == "already recorded"

    view = app.engagements.view(eid, cast.coach)
    assert view["parties"]["coachee"]["name"] == "[erased]"
    assert view["sessions"][0]["notes"] == "[erased]" and view["diagnosis"] == "[erased]"
    assert view["parties"]["coach"]["name"] == "Claire Dubois"  # others are untouched
    bootstrap.audit_service(app).trail.catch_up()
    assert bootstrap.audit_service(app).verify(auditor).ok  # history and its chain still verify
    app.close()

    raw = all_files(tmp_path)
    for secret in ("Marc Petit", NOTE, "stakes and first objectives", "Delegate decisions"):
        assert secret.encode() not in raw
    assert key not in raw, "the destroyed key's bytes survive in a file"
    erased_events = list(sqlite3.connect(tmp_path / "etrack.sqlite").execute(
        "SELECT topic, state FROM stored_events WHERE topic = 'etrack:Party.Erased'"))
    assert len(erased_events) == 1 and b"Marc" not in erased_events[0][1]


def test_only_an_admin_erases(tracker, cast) -> None:
    refused(tracker, NotPermitted, lambda: tracker.parties.erase(cast.coachee.party, cast.coach))
    assert tracker.party_name(cast.coachee.party) == "Marc Petit"


# --- replay --------------------------------------------------------------------------------------

STEPS = ["session", "action", "measure", "review", "suspend_resume", "amend"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(STEPS), max_size=8), close=st.booleans())
def test_replay_at_every_version_equals_the_live_past(tmp_path: Path, steps: list[str], close: bool) -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    snapshots: dict[int, Any] = {}

    def remember() -> None:
        e = app.engagements.get(eid)
        snapshots[e.version] = copy.deepcopy(e)

    remember()
    keys = drive(app, cast, eid, "accompaniment.in_progress")
    remember()
    day = START + timedelta(days=20)
    for n, step in enumerate(steps):
        if step == "session":
            try:
                app.engagements.record_session(eid, cast.coach, day + timedelta(days=n), 60, ["career"], f"note {n}")
            except RuleViolation:
                pass
        elif step == "action":
            app.engagements.commit_action(eid, cast.coachee, f"action {n}", day)
        elif step == "measure":
            app.engagements.measure_indicator(eid, cast.sponsor, keys["indicators"][0], 40 - n, day)
        elif step == "review":
            app.engagements.request_review(eid, cast.sponsor)
            app.engagements.hold_review(eid, cast.coach, day, None)
        elif step == "suspend_resume":
            app.engagements.suspend(eid, cast.coachee)
            remember()
            app.engagements.resume(eid, cast.coachee)
        elif step == "amend":
            app.engagements.propose_amendment(eid, cast.coachee, extra_sessions=1)
            app.engagements.agree_amendment(eid, cast.coach)
            remember()
            app.engagements.agree_amendment(eid, cast.sponsor)
        remember()
    if close:
        drive_close = dict.fromkeys(keys["indicators"], ("achieved", "e"))
        app.engagements.hold_closing_session(eid, cast.coach, day + timedelta(days=60), drive_close)
        remember()
    auditor = grant(app, cast.sponsor.party, Role.AUDITOR)
    for version, live in snapshots.items():
        assert app.engagements.get(eid, version=version) == live
        replayed = app.replay(eid, auditor, version=version)
        decisions = state_as_json(live)  # the aggregate's state, then what its events carry for reads
        assert {k: replayed[k] for k in decisions} == decisions
        record = app.engagements.record(eid, version)
        assert {k: replayed[k] for k in replayed if k not in decisions} == state_as_json(
            {f.name: getattr(record, f.name) for f in attrs.fields(type(record))[1:]})
        assert app.replay(eid, auditor, at=live.modified_on)["version"] == version
    app.close()


def test_replay_shows_sealed_fields_sealed_and_refuses_non_auditors(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "framing.tripartite")
    auditor = grant(tracker, cast.sponsor.party, Role.AUDITOR)
    state = tracker.replay(eid, auditor)
    assert state["diagnosis"] == {"sealed": True, "subject": str(cast.coachee.party),
                                  "digest": tracker.engagements.record(eid).diagnosis.digest}
    assert "stakes" not in json.dumps(state)
    assert tracker.replay(eid, auditor, version=1)["state"] == "framing.first_meeting"
    for bad in ({"version": 0}, {"version": 99}):
        with pytest.raises(Exception, match="has versions 1 to"):
            tracker.replay(eid, auditor, **bad)
    with pytest.raises(NotPermitted):
        tracker.replay(eid, cast.coach)


# --- disclosure ----------------------------------------------------------------------------------


def test_the_sponsor_sees_only_what_coachee_and_sponsor_agreed(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    refused(tracker, NotPermitted, lambda: tracker.engagements.propose_disclosure(eid, cast.coach, ["objectives"]).value)
    refused(tracker, RuleViolation, lambda: tracker.engagements.accept_disclosure(eid, cast.sponsor).value)
    refused(tracker, Exception, lambda: tracker.engagements.propose_disclosure(eid, cast.coachee, ["session_notes"]).value)
    tracker.engagements.propose_disclosure(eid, cast.coachee, ["objectives"])
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.accept_disclosure(eid, cast.coachee).value)
    assert "the other party accepts" in str(err)
    assert "objectives" not in tracker.engagements.view(eid, cast.sponsor)  # proposed is not agreed
    tracker.engagements.accept_disclosure(eid, cast.sponsor)
    view = tracker.engagements.view(eid, cast.sponsor)
    assert [o["statement"] for o in view["objectives"]] == ["Shorter incident resolution", "Delegate decisions"]
    assert "indicators" not in view and "dates" not in view and "evaluations" not in view
    events = [row["event"] for row in tracker.engagements.timeline(eid, cast.coach)]
    assert events[-2:] == ["DisclosureProposed", "DisclosureAgreed"]  # each change is in the trail


# --- whole-store encryption ----------------------------------------------------------------------


def test_an_encrypted_store_verifies_without_the_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    key = new_cipher_key()
    app = new_tracker(url, FakeClock(), ETRACK_CIPHER_KEY=key)
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    auditor = grant(app, cast.sponsor.party, Role.AUDITOR)
    entries = bootstrap.audit_service(app).entries(auditor)
    assert {e.role for e in entries} >= {"coach", "coachee"}
    app.close()
    raw = (tmp_path / "etrack.sqlite").read_bytes()
    assert b"framing" not in raw and b"_type_" not in raw  # no event state in clear

    keyless = new_tracker(url, FakeClock())
    assert bootstrap.audit_trail(keyless).verify().ok  # the chain covers the stored bytes
    with pytest.raises(StoreError, match="access register"):  # but no grant can be checked without the key
        bootstrap.audit_service(keyless).verify(auditor)
    with pytest.raises(StoreError, match="ETRACK_CIPHER_KEY is missing or wrong"):
        keyless.engagements.get(eid)
    keyless.close()
    wrong = new_tracker(url, FakeClock(), ETRACK_CIPHER_KEY=new_cipher_key())
    with pytest.raises(StoreError):
        wrong.engagements.get(eid)
    wrong.close()


# --- the command line, as an auditor runs it ----------------------------------------------------


def etrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_an_auditor_checkpoints_verifies_and_exports_from_the_command_line(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "closed")
    auditor = str(grant(app, cast.sponsor.party, Role.AUDITOR))
    app.close()
    public = etrack("audit", "keygen", "signing.pem", cwd=tmp_path).stdout.strip()
    assert len(public) == 64
    assert etrack("audit", "checkpoint", "--as", auditor, "--key", "signing.pem", "--out", "cp.json",
                  cwd=tmp_path).returncode == 0
    ok = etrack("audit", "verify", "--as", auditor, "--checkpoint", "cp.json", "--public-key", public, "--json",
                cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    export = etrack("audit", "export", "--as", auditor, cwd=tmp_path).stdout.splitlines()
    assert len(export) == json.loads(ok.stdout)["checked"]
    assert all(len(json.loads(line)["entry_hash"]) == 64 for line in export)
    with sqlite3.connect(tmp_path / "etrack.sqlite") as con:
        con.execute("DELETE FROM stored_events WHERE rowid = 7")
    bad = etrack("audit", "verify", "--as", auditor, "--checkpoint", "cp.json", "--json", cwd=tmp_path)
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and (report["first_bad_position"], report["kind"]) == (7, "deleted")
    refused_read = etrack("audit", "export", "--as", f"coach:{cast.coach.party}", cwd=tmp_path)
    assert refused_read.returncode == 3 and "NotPermitted" in refused_read.stderr


def test_erasing_a_cohort_member_erases_what_they_wrote(tracker) -> None:
    from tests.support import CohortCast, frame_cohort

    cc = CohortCast.register(tracker)
    cid = frame_cohort(tracker, cc)
    author, reader = cc.members[1], cc.members[0]
    tracker.cohorts.start_experiment(cid, author, "E1")
    tracker.cohorts.end_experiment(cid, author, "E1")
    tracker.cohorts.give_feedback(cid, author, "E1", "my own words about the night shift")
    tracker.cohorts.record_decision(cid, reader, "a decision by someone else", "M1", 3.0, START, reader.party)
    admin = granted(tracker, Role.ADMIN, "DPO")
    tracker.parties.erase(author.party, admin)
    view = tracker.cohorts.view(cid, reader)
    assert view["experiments"][0]["feedback"] == "[erased]"
    assert view["decision_list"][0]["statement"] == "a decision by someone else"
