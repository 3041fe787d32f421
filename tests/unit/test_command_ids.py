"""Command ids: recorded in every event of a command; a command is recorded once, and the caller told which."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.domain import Actor, AlreadyExists, InvalidInput, Role
from engagement_tracker.domain.command_ids import COMMAND_ID_FORM, command_id_of, require_command_id
from tests.support import START, Cast, FakeClock, admin, drive, in_accompaniment, new_tracker, open_engagement


def versions(app, ident) -> int:
    return len(list(app.events.get(ident)))


def test_every_event_of_a_command_carries_its_id() -> None:
    app = new_tracker("memory:", FakeClock())
    cast, eid = in_accompaniment(app)
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["career"], "notes", command_id="req-1")
    last = list(app.events.get(eid))[-1]
    assert last.command_id == "req-1"
    assert app.last_command is not None and app.last_command.recorded_now
    # commands given no id get one made by the application (a UUID), different each time
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=13), 60, ["career"])
    app.engagements.record_session(eid, cast.coach, START + timedelta(days=14), 60, ["career"])
    made = [command_id_of(e) for e in list(app.events.get(eid))[-2:]]
    assert made[0] != made[1] and all(UUID(m) for m in made if m is not None) and None not in made
    assert all(command_id_of(e) is not None for e in app.events.get(eid))
    app.close()


def test_a_repeated_command_id_writes_nothing_and_returns_the_stored_outcome() -> None:
    app = new_tracker("memory:", FakeClock())
    cast, eid = in_accompaniment(app)
    at = START + timedelta(days=12)
    first = app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-1")
    assert app.last_command.status == "recorded"
    before = versions(app, eid)
    again = app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-1")
    assert again == first  # the stored outcome (the session's number), not a new session
    assert versions(app, eid) == before
    assert app.last_command.status == "already recorded"
    assert "nothing more was written" in app.last_command.describe()
    # a different id is a different command
    assert app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-2") == first + 1
    key = app.engagements.commit_action(eid, cast.coachee, "delegate", command_id="a-1")
    app.engagements.record_session(eid, cast.coach, at, 60, ["career"], command_id="s-3")
    assert app.engagements.commit_action(eid, cast.coachee, "delegate", command_id="a-1") == key  # after later commands too
    app.close()


def test_creating_commands_with_an_id_create_once() -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    p1 = app.parties.register("person", "Jane", command_id="reg-jane")
    assert app.parties.register("person", "Jane", command_id="reg-jane") == p1
    assert not app.last_command.recorded_now
    e1 = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-1")
    n = versions(app, e1)
    assert app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-1") == e1
    assert versions(app, e1) == n
    # an explicit id already taken by another command is still AlreadyExists
    with pytest.raises(AlreadyExists):
        open_engagement(app, cast, e1)
    c1 = app.cohorts.open(cast.coach, "Ops", "Circle", command_id="cohort-1")
    assert app.cohorts.open(cast.coach, "Ops", "Circle", command_id="cohort-1") == c1
    app.close()


def test_grants_and_erasure_take_command_ids() -> None:
    app = new_tracker("memory:", FakeClock())
    adm = admin(app)
    party = app.parties.register("person", "Ana")
    app.access.grant(party, Role.AUDITOR, adm, command_id="g-1")
    n = versions(app, app.access_register().id)
    app.access.grant(party, Role.AUDITOR, adm, command_id="g-1")
    assert versions(app, app.access_register().id) == n and not app.last_command.recorded_now
    app.access.grant(party, Role.ANALYST, adm, command_id="g-2")
    assert app.last_command.recorded_now
    app.close()


def test_initialise_with_a_command_id_is_idempotent() -> None:
    app = new_tracker("memory:", FakeClock())
    first = app.access.initialise("Ada", command_id="init")
    assert app.access.initialise("Ada", command_id="init") == first
    assert not app.last_command.recorded_now
    app.close()


@pytest.mark.parametrize("bad", ["", " x", "a" * 129, "semi;colon", 12, None.__class__, b"bytes", "é"])
def test_a_malformed_command_id_is_refused_and_writes_nothing(bad: object) -> None:
    app = new_tracker("memory:", FakeClock())
    cast, eid = in_accompaniment(app)
    before = versions(app, eid)
    with pytest.raises(InvalidInput) as err:
        app.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["career"], command_id=bad)
    assert err.value.field == "command_id" and "UUID" in str(err.value)
    assert len(str(err.value)) < 300  # a huge id is echoed cut
    assert versions(app, eid) == before
    app.close()


def test_uuid_command_ids_are_stored_in_canonical_form() -> None:
    cid = uuid4()
    assert require_command_id(cid) == require_command_id(str(cid).upper()) == str(cid)


@settings(max_examples=50, deadline=None)
@given(st.from_regex(COMMAND_ID_FORM, fullmatch=True))
def test_every_token_of_the_documented_form_is_accepted(token: str) -> None:
    stored = require_command_id(token)
    try:
        assert stored == str(UUID(token))
    except ValueError:
        assert stored == token


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["s-1", "s-2", "s-3", "a-1", "a-2"]), min_size=1, max_size=12))
def test_any_sequence_of_retries_records_each_command_once(sequence: list[str]) -> None:
    """Random retries of a few commands: each distinct id is stored exactly once, in first-call order."""
    app = new_tracker("memory:", FakeClock())
    cast, eid = in_accompaniment(app)
    outcomes: dict[str, object] = {}
    for cid in sequence:
        first_call = cid not in outcomes
        if cid.startswith("s"):
            result = app.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["career"], command_id=cid)
        else:
            result = app.engagements.commit_action(eid, cast.coachee, f"action {cid}", command_id=cid)
        assert outcomes.setdefault(cid, result) == result  # a retry returns the first outcome
        assert app.last_command.recorded_now == first_call
    stored = [command_id_of(e) for e in app.events.get(eid)]
    assert [c for c in stored if c in outcomes] == list(dict.fromkeys(sequence))
    app.close()


def test_a_replayed_step_needs_no_new_decision_from_the_current_state() -> None:
    """A retry after later steps moved the engagement on (it is closed now) still returns the stored outcome."""
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "met")
    app.engagements.confirm_will(eid, cast.coach, command_id="will-coach")
    app.engagements.confirm_will(eid, cast.coachee)
    assert app.engagements.get(eid).state == "framing.diagnosis"
    before = versions(app, eid)
    app.engagements.confirm_will(eid, cast.coach, command_id="will-coach")  # no StepNotAllowed: it was recorded
    assert versions(app, eid) == before and not app.last_command.recorded_now
    assert isinstance(cast.coach, Actor)
    app.close()
