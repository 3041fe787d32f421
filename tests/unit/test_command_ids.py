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
    outcome = app.engagements.record_session(eid, cast.coach, START + timedelta(days=12), 60, ["career"], "notes",
                                             command_id="req-1")
    last = list(app.events.get(eid))[-1]
    assert last.command_id == "req-1" == outcome.command_id
    assert outcome.recorded_now and outcome.status == "recorded" and outcome.versions == (last.originator_version,)
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
    recorded = app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-1")
    first = recorded.value
    assert recorded.status == "recorded"
    before = versions(app, eid)
    replayed = app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-1")
    assert replayed.value == first  # the stored outcome (the session's number), not a new session
    assert versions(app, eid) == before
    assert replayed.status == "already recorded" and replayed.versions == recorded.versions
    assert "nothing more was written" in replayed.describe()
    # a different id is a different command
    assert app.engagements.record_session(eid, cast.coach, at, 60, ["career"], "notes", command_id="s-2").value == first + 1
    key = app.engagements.commit_action(eid, cast.coachee, "delegate", command_id="a-1").value
    app.engagements.record_session(eid, cast.coach, at, 60, ["career"], command_id="s-3")
    assert app.engagements.commit_action(eid, cast.coachee, "delegate", command_id="a-1").value == key  # after later commands too
    app.close()


def test_creating_commands_with_an_id_create_once() -> None:
    app = new_tracker("memory:", FakeClock())
    cast = Cast.register(app)
    p1 = app.parties.register("person", "Jane", command_id="reg-jane").value
    again = app.parties.register("person", "Jane", command_id="reg-jane")
    assert again.value == p1 and not again.recorded_now and again.status == "already recorded"
    e1 = app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-1").value
    n = versions(app, e1)
    assert app.engagements.open(cast.coach, cast.coachee.party, cast.sponsor.party, "hr", "Ops", command_id="open-1").value == e1
    assert versions(app, e1) == n
    # an explicit id already taken by another command is still AlreadyExists
    with pytest.raises(AlreadyExists):
        open_engagement(app, cast, e1)
    c1 = app.cohorts.open(cast.coach, "Ops", "Circle", command_id="cohort-1").value
    assert app.cohorts.open(cast.coach, "Ops", "Circle", command_id="cohort-1").value == c1
    app.close()


def test_grants_and_erasure_take_command_ids() -> None:
    app = new_tracker("memory:", FakeClock())
    adm = admin(app)
    party = app.parties.register("person", "Ana").value
    assert app.access.grant(party, Role.AUDITOR, adm, command_id="g-1").recorded_now
    n = versions(app, app.access_register().id)
    again = app.access.grant(party, Role.AUDITOR, adm, command_id="g-1")
    assert versions(app, app.access_register().id) == n and not again.recorded_now
    assert app.access.grant(party, Role.ANALYST, adm, command_id="g-2").recorded_now
    app.close()


def test_initialise_with_a_command_id_is_idempotent() -> None:
    app = new_tracker("memory:", FakeClock())
    first = app.access.initialise("Ada", command_id="init")
    assert first.recorded_now
    again = app.access.initialise("Ada", command_id="init")
    assert again.value == first.value and not again.recorded_now
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
            outcome = app.engagements.record_session(
                    eid, cast.coach, START + timedelta(days=12), 60, ["career"], command_id=cid)
        else:
            outcome = app.engagements.commit_action(eid, cast.coachee, f"action {cid}", command_id=cid)
        assert outcomes.setdefault(cid, outcome.value) == outcome.value  # a retry returns the first outcome
        assert outcome.recorded_now == first_call
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
    again = app.engagements.confirm_will(eid, cast.coach, command_id="will-coach")  # no StepNotAllowed: recorded
    assert versions(app, eid) == before and not again.recorded_now
    assert isinstance(cast.coach, Actor)
    app.close()


def test_last_command_still_works_for_one_minor_version_and_warns() -> None:
    app = new_tracker("memory:", FakeClock())
    pid = app.parties.register("person", "Jane", command_id="reg-jane")
    with pytest.warns(DeprecationWarning, match="a command returns its outcome"):
        last = app.last_command
    assert last is not None and last.command_id == pid.command_id == "reg-jane" and last.recorded_now
    app.close()


def test_one_create_exactly_once_path_serves_every_creating_command() -> None:
    """Parties, engagements and cohorts are created by ``create``; grants and budgets (a register, a
    budget started by its first grant) by ``update(..., start=...)``: none has a loop of its own."""
    import inspect

    from engagement_tracker.domain.application import budget_commands, cohort_commands, engagement_commands, grant_commands
    from engagement_tracker.domain.application import parties as parties_module

    for module in (parties_module, engagement_commands, cohort_commands):
        assert "self.path.create(" in inspect.getsource(module), module.__name__
    for module in (parties_module, engagement_commands, cohort_commands, grant_commands, budget_commands):
        source = inspect.getsource(module)
        assert ".attempts(" not in source and ".commit(" not in source, f"{module.__name__} retries on its own"
