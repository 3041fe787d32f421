"""Refusals found in review: every text field, every late or repeated step, retries, reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engagement_tracker.domain import (
    AlreadyExists,
    InvalidInput,
    NotPermitted,
    RuleViolation,
    SealingError,
    StepNotAllowed,
    SubjectErased,
)
from engagement_tracker.domain.values import Sealed
from tests.support import START, Cast, drive, event_count, new_tracker, open_engagement
from tests.unit.test_engagement_rules import refused

LONG = "x" * 20_001
DAY = START + timedelta(days=20)

# (milestone, command taking (app, cast, eid, text)) for every sealed text field of a step
TEXT_FIELDS: dict[str, tuple[str, Any]] = {
    "diagnosis": ("framing.diagnosis", lambda a, c, e, t: a.engagements.record_diagnosis(e, c.coach, t).value),
    "objective": ("framing.tripartite", lambda a, c, e, t: a.engagements.hold_tripartite_meeting(
            e, c.coach, DAY, [t], ["ok"]).value),
    "label": ("framing.formalisation", lambda a, c, e, t: a.engagements.define_indicator(
        e, c.coach, "O1", "observable_result", t, 1, 2, "hours").value),
    "notes": ("accompaniment.in_progress", lambda a, c, e, t: a.engagements.record_session(
            e, c.coach, DAY, 60, ["career"], t).value),
    "description": ("accompaniment.in_progress", lambda a, c, e, t: a.engagements.commit_action(e, c.coachee, t).value),
    "summary": ("accompaniment.in_progress", lambda a, c, e, t: (a.engagements.request_review(e, c.coach).value,
                                                                  a.engagements.hold_review(e, c.coach, DAY, t).value)[1]),
    "reason": ("accompaniment.in_progress", lambda a, c, e, t: a.engagements.suspend(e, c.coachee, t).value),
    "detail": ("framing.diagnosis", lambda a, c, e, t: a.engagements.abandon(e, c.sponsor, "other", t).value),
    "evidence": ("accompaniment.in_progress", lambda a, c, e, t: a.engagements.hold_closing_session(
        e, c.coach, DAY, dict.fromkeys(a.engagements.get(e).indicator_objectives, ("achieved", t))).value),
    "synthesis": ("closing", lambda a, c, e, t: a.engagements.hold_closing_meeting(
        e, c.coach, DAY + timedelta(days=200), t, "r").value),
    "recommendations": ("closing", lambda a, c, e, t: a.engagements.hold_closing_meeting(
        e, c.coach, DAY + timedelta(days=200), "s", t).value),
}


@pytest.mark.parametrize("field", sorted(TEXT_FIELDS))
@pytest.mark.parametrize("text", ["", " \t\n ", LONG, 42])
def test_every_text_field_refuses_empty_oversized_and_non_text(tracker, cast, field: str, text: Any) -> None:
    milestone, command = TEXT_FIELDS[field]
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, milestone)
    if field == "summary":
        tracker.engagements.request_review(eid, cast.coach)
        command = lambda a, c, e, t: a.engagements.hold_review(e, c.coach, DAY, t).value  # noqa: E731
    err = refused(tracker, InvalidInput, lambda: command(tracker, cast, eid, text))
    assert "limit is" in str(err) or "empty" in str(err) or "expected text" in str(err)
    state = tracker.engagements.get(eid).state
    # every refusal names where it stood: the state, or to a sponsor (the "detail" of abandon) the phase only
    assert err.state == (state.split(".")[0] if field == "detail" else state)
    assert field != "detail" or state not in str(err)


@pytest.mark.parametrize("field,value", [
    ("org_unit", "Marc Petit's team, who struggles with his manager"),
    ("org_unit", "x" * 81),
    ("unit", "Julie's hours, mostly at night"),
])
def test_clear_labels_refuse_free_text(tracker, cast, field: str, value: str) -> None:
    if field == "org_unit":
        err = refused(tracker, InvalidInput, lambda: tracker.engagements.open(
            cast.coach, cast.coachee.party, cast.sponsor.party, "hr", value).value)
    else:
        eid = open_engagement(tracker, cast)
        drive(tracker, cast, eid, "framing.formalisation")
        err = refused(tracker, InvalidInput, lambda: tracker.engagements.define_indicator(
            eid, cast.coach, "O1", "observable_result", "label", 1, 2, value).value)
    assert err.field == field


def test_permission_and_state_come_before_content_checks(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    refused(tracker, NotPermitted, lambda: tracker.engagements.record_session(eid, cast.sponsor, DAY, 60, ["career"], "").value)
    tracker.engagements.suspend(eid, cast.coach)
    err = refused(tracker, StepNotAllowed, lambda: tracker.engagements.record_session(
            eid, cast.coach, DAY, 60, ["career"], "").value)
    assert err.state == "accompaniment.suspended" and "resume" in err.allowed


def test_repeated_and_empty_steps_are_refused(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    key = tracker.engagements.commit_action(eid, cast.coachee, "do it").value
    tracker.engagements.complete_action(eid, cast.coachee, key)
    err = refused(tracker, InvalidInput, lambda: tracker.engagements.drop_action(eid, cast.coachee, key).value)
    assert "already done" in str(err)
    refused(tracker, StepNotAllowed, lambda: tracker.engagements.hold_review(eid, cast.coach, DAY).value)
    refused(tracker, InvalidInput, lambda: tracker.engagements.propose_amendment(eid, cast.coach).value)
    err = refused(tracker, InvalidInput, lambda: tracker.engagements.propose_amendment(eid, cast.coach, new_end=START).value)
    assert "does not extend" in str(err)
    tracker.engagements.propose_amendment(eid, cast.coach, extra_sessions=1)
    err = refused(tracker, RuleViolation, lambda: tracker.engagements.agree_amendment(eid, cast.coach).value)
    assert "coach already agreed" in str(err)
    refused(tracker, RuleViolation, lambda: tracker.engagements.propose_amendment(eid, cast.sponsor, extra_sessions=2).value)


def test_dates_follow_the_engagements_order(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "framing.tripartite")
    err = refused(tracker, InvalidInput, lambda: tracker.engagements.hold_tripartite_meeting(
        eid, cast.coach, START - timedelta(days=1), ["a"], ["b"]).value)
    assert "before the first meeting" in str(err)
    drive_id = open_engagement(tracker, cast)
    keys = drive(tracker, cast, drive_id, "accompaniment.in_progress")
    tracker.engagements.record_session(drive_id, cast.coach, DAY, 60, ["career"], None)
    err = refused(tracker, InvalidInput, lambda: tracker.engagements.hold_closing_session(
        drive_id, cast.coach, DAY - timedelta(days=1), dict.fromkeys(keys["indicators"], ("achieved", "e"))).value)
    assert "before the last session" in str(err)


def test_ids_cannot_be_reused(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    refused(tracker, AlreadyExists, lambda: open_engagement(tracker, cast, eid))
    refused(tracker, AlreadyExists, lambda: tracker.parties.register("person", "Someone", party_id=cast.coach.party).value)


def test_the_sponsor_timeline_holds_only_contract_steps(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.record_session(eid, cast.coach, DAY, 60, ["career"], "private")
    tracker.engagements.commit_action(eid, cast.coachee, "private action")
    tracker.engagements.suspend(eid, cast.coachee)
    early = {row["event"] for row in tracker.engagements.timeline(eid, cast.sponsor)}
    assert early == {"Created"}  # no dates shared yet
    tracker.engagements.propose_disclosure(eid, cast.coachee, ["dates"])
    tracker.engagements.accept_disclosure(eid, cast.sponsor)
    events = {row["event"] for row in tracker.engagements.timeline(eid, cast.sponsor)}
    assert events.isdisjoint({"SessionHeld", "ActionCommitted", "Suspended", "WillConfirmed", "DiagnosisRecorded"})
    assert {"Created", "ContractFixed", "AccompanimentStarted"} <= events
    coach_events = {row["event"] for row in tracker.engagements.timeline(eid, cast.coach)}
    assert {"SessionHeld", "Suspended"} <= coach_events


def test_the_coachee_reads_everything_but_the_coachs_notes(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.record_session(eid, cast.coach, DAY, 60, ["career"], "coach's private note")
    view = tracker.engagements.view(eid, cast.coachee)
    assert view["scope"] == "coachee" and view["sessions"][0]["themes"] == ["career"]
    assert "notes" not in view["sessions"][0] and "coach's private note" not in repr(view)


def test_tampered_or_erased_content_is_a_typed_error(tracker, cast) -> None:
    sealed = tracker.sealer.seal(str(cast.coachee.party), "secret")
    tampered = Sealed(sealed.subject, sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1]), sealed.digest)
    with pytest.raises(SealingError, match="tampered"):
        tracker.sealer.unseal(tampered)
    moved = Sealed(str(cast.sponsor.party), sealed.ciphertext, sealed.digest)
    with pytest.raises(SealingError):
        tracker.sealer.unseal(moved)
    assert tracker.sealer.erase_subject(str(cast.coachee.party))
    with pytest.raises(SubjectErased):
        tracker.sealer.unseal(sealed)
    assert tracker.sealing.unseal(sealed) == "[erased]"


def test_the_event_store_file_holds_no_key(tmp_path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url)
    Cast.register(app)  # five parties, the admin who grants the coaches, and the register's four events
    assert event_count(app) == 10
    app.close()
    tables = {r[0] for r in sqlite3.connect(tmp_path / "etrack.sqlite").execute(
        "select name from sqlite_master where type='table'")}
    assert "etrack_vault" not in tables
    keys = sqlite3.connect(tmp_path / "etrack.sqlite-vault").execute("select key from etrack_vault").fetchall()
    raw = (tmp_path / "etrack.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("etrack.sqlite-wal"))
    assert len(keys) == 6 and not any(k in raw for (k,) in keys)


def test_the_sponsor_sees_the_phase_and_only_agreed_items(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    keys = drive(tracker, cast, eid, "accompaniment.in_progress")
    tracker.engagements.measure_indicator(eid, cast.coach, keys["indicators"][0], 40, DAY)
    tracker.engagements.suspend(eid, cast.coachee)
    view = tracker.engagements.view(eid, cast.sponsor)
    assert view["phase"] == "accompaniment"
    for hidden in ("state", "version", "updated_at", "allowed_steps", "sessions_held"):
        assert hidden not in view
    tracker.engagements.propose_disclosure(eid, cast.coachee, ["indicators"])
    tracker.engagements.accept_disclosure(eid, cast.sponsor)
    measurements = tracker.engagements.view(eid, cast.sponsor)["indicators"][0]["measurements"]
    assert measurements and "measured_on" not in measurements[0]  # no dates without "dates"
    tracker.engagements.propose_disclosure(eid, cast.sponsor, ["dates"])
    tracker.engagements.accept_disclosure(eid, cast.coachee)
    events = {row["event"] for row in tracker.engagements.timeline(eid, cast.sponsor)}
    assert "IndicatorMeasured" not in events  # "indicators" is no longer agreed
    assert {row["state"] for row in tracker.engagements.timeline(eid, cast.sponsor)} <= {"framing", "accompaniment"}
