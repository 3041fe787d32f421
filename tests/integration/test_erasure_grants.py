"""Erasing a party revokes every grant it holds (issue #21, item 5), on every backend.

The revocations are RoleRevoked events with a reason, recorded by the erasure's own command (one
transaction with Party.Erased); the erased party can grant nothing afterwards; the last admin is
never erased (a typed refusal saying what would be accepted) and a refusal writes nothing and
destroys no key.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engagement_tracker.domain import Actor, NotPermitted, Role, RuleViolation
from engagement_tracker.domain.command_ids import command_id_of
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.domain.party import Party
from tests.integration.test_cli_failures import refused, run
from tests.support import FakeClock, admin, event_count, grant, granted, new_tracker


@pytest.fixture
def app(store_url: str):  # type: ignore[no-untyped-def]
    tracker = new_tracker(store_url, FakeClock())
    yield tracker
    tracker.close()


def _revocations(app, party) -> list[AccessRegister.RoleRevoked]:  # type: ignore[no-untyped-def]
    return [e for e in app.events.get(AccessRegister.ID)
            if isinstance(e, AccessRegister.RoleRevoked) and e.party == party]


def test_erasure_revokes_every_grant_in_the_same_command_with_a_reason(app) -> None:  # type: ignore[no-untyped-def]
    ada = admin(app)
    victim = granted(app, Role.AUDITOR, "Audrey Auditor")
    grant(app, victim.party, Role.ANALYST)
    assert app.held_grants()[str(victim.party)] == {"auditor", "analyst"}

    receipt = app.parties.erase(victim.party, ada).value

    assert str(victim.party) not in app.held_grants()
    assert sorted(receipt["grants_revoked"]) == ["analyst", "auditor"]
    revoked = _revocations(app, victim.party)
    assert sorted(e.role for e in revoked) == ["analyst", "auditor"]
    erased = [e for e in app.events.get(victim.party) if isinstance(e, Party.Erased)]
    assert len(erased) == 1
    assert {command_id_of(e) for e in revoked} == {command_id_of(erased[0])}, "not one command"
    history = [r for r in app.access.history(ada) if r["change"] == "revoked"]
    assert {r["role"] for r in history} == {"analyst", "auditor"}
    assert all("erased (GDPR)" in r["reason"] and r["by"] == str(ada.party) for r in history), history
    assert app.party(victim.party).erased and app.sealer.is_erased(str(victim.party))


def test_an_erased_admin_can_no_longer_grant_and_is_granted_nothing(app) -> None:  # type: ignore[no-untyped-def]
    ada = admin(app)
    bob = granted(app, Role.ADMIN, "Bob Admin")
    app.parties.erase(bob.party, ada)
    assert app.held_grants().keys() == {str(ada.party)}
    someone = app.parties.register("person", "Someone").value
    before = event_count(app)
    with pytest.raises(NotPermitted, match="holds no admin grant"):
        app.access.grant(someone, Role.AUDITOR, bob)
    with pytest.raises(NotPermitted):
        app.parties.erase(ada.party, bob)
    with pytest.raises(RuleViolation, match="was erased: an erased party holds no grant"):
        app.access.grant(bob.party, Role.ADMIN, ada)
    assert event_count(app) == before


def test_the_last_admin_is_never_erased(app) -> None:  # type: ignore[no-untyped-def]
    ada = admin(app)
    grant(app, ada.party, Role.AUDITOR)
    before = event_count(app)
    with pytest.raises(RuleViolation, match=r"last admin.*grant admin to another party first") as refusal:
        app.parties.erase(ada.party, ada)
    assert refusal.value.state == "last admin"
    assert event_count(app) == before, "a refused erasure wrote events"
    assert not app.party(ada.party).erased and not app.sealer.is_erased(str(ada.party))
    assert app.held_grants()[str(ada.party)] == {"admin", "auditor"}
    assert app.party_name(ada.party) == "Ada Admin"

    bob = granted(app, Role.ADMIN, "Bob Admin")  # what the refusal asked for
    receipt = app.parties.erase(ada.party, bob).value
    assert sorted(receipt["grants_revoked"]) == ["admin", "auditor"]
    assert app.held_grants() == {str(bob.party): frozenset({"admin"})}
    with pytest.raises(RuleViolation, match="last admin"):
        app.parties.erase(bob.party, bob)


def test_an_admin_erasing_itself_while_another_admin_remains(app) -> None:  # type: ignore[no-untyped-def]
    ada = admin(app)
    bob = granted(app, Role.ADMIN, "Bob Admin")
    app.parties.erase(bob.party, bob)
    assert app.held_grants() == {str(ada.party): frozenset({"admin"})}
    assert {e.role for e in _revocations(app, bob.party)} == {"admin"}


def test_erasing_again_revokes_what_an_earlier_erasure_left(app) -> None:  # type: ignore[no-untyped-def]
    """A store erased before erasure revoked grants: erasing again revokes what the party still holds."""
    ada = admin(app)
    victim = granted(app, Role.ANALYST, "Anna Analyst")
    app.update(Party, victim.party, "party", lambda p, at: p.erase(ada, at))  # as 0.2 recorded it
    assert app.held_grants()[str(victim.party)] == {"analyst"}
    receipt = app.parties.erase(victim.party, ada).value
    assert receipt["grants_revoked"] == ["analyst"]
    assert str(victim.party) not in app.held_grants()
    again = app.parties.erase(victim.party, ada).value
    assert again["grants_revoked"] == [] and again["receipt"] == receipt["receipt"]


def test_the_command_line_refuses_the_last_admin_and_names_revoked_grants(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    ada = admin(app)
    auditor = granted(app, Role.AUDITOR, "Audrey Auditor")
    app.close()
    before = json.dumps(sorted(new_grants(url).items()))
    line = refused(run("--db", url, "subject", "erase", str(ada.party), "--as", f"admin:{ada.party}", cwd=tmp_path),
                   "RuleViolation", "last admin", "grant admin to another party first")
    assert "Traceback" not in line
    assert json.dumps(sorted(new_grants(url).items())) == before
    done = run("--db", url, "subject", "erase", str(auditor.party), "--as", f"admin:{ada.party}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["grants_revoked"] == ["auditor"] and json.loads(done.stdout)["status"] == "recorded"
    assert str(auditor.party) not in new_grants(url)


def new_grants(url: str) -> dict[str, list[str]]:
    app = new_tracker(url)
    try:
        return {p: sorted(r) for p, r in app.held_grants().items()}
    finally:
        app.close()


def test_an_erasure_refused_for_its_actor_revokes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    victim = granted(app, Role.AUDITOR, "Audrey Auditor")
    before = event_count(app)
    with pytest.raises(NotPermitted):
        app.parties.erase(victim.party, Actor(victim.party, Role.ADMIN))
    assert event_count(app) == before and app.held_grants()[str(victim.party)] == {"auditor"}


def test_an_erasure_racing_a_grant_leaves_the_erased_party_holding_nothing(durable_store_url: str) -> None:
    """Two processes' worth of trackers: one erases a granted party while the other grants it
    another role. Whichever commits first, the erased party holds no grant afterwards."""
    setup = new_tracker(durable_store_url, FakeClock())
    ada = admin(setup)
    victims = [granted(setup, Role.AUDITOR, f"Victim {n}").party for n in range(4)]
    setup.close()
    outcomes: dict[str, list[object]] = {"erase": [], "grant": []}

    def erase(victim: object, barrier: threading.Barrier) -> None:
        app = new_tracker(durable_store_url, FakeClock())
        try:
            barrier.wait()
            outcomes["erase"].append(app.parties.erase(victim, ada).value["grants_revoked"])
        finally:
            app.close()

    def give(victim: object, barrier: threading.Barrier) -> None:
        app = new_tracker(durable_store_url, FakeClock())
        try:
            barrier.wait()
            try:
                app.access.grant(victim, Role.ANALYST, ada)
                outcomes["grant"].append("granted")
            except RuleViolation as exc:  # the erasure committed first
                outcomes["grant"].append(exc)
        finally:
            app.close()

    for victim in victims:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=f, args=(victim, barrier)) for f in (erase, give)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert len(outcomes["erase"]) == len(outcomes["grant"]) == len(victims), outcomes
    check = new_tracker(durable_store_url)
    try:
        held = check.held_grants()
        for victim in victims:
            assert check.party(victim).erased
            assert str(victim) not in held, f"an erased party kept {held.get(str(victim))}"
    finally:
        check.close()
