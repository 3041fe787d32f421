"""Grants (issue #11): a role is honoured only while its party holds the grant.

A made-up party claiming admin, or a registered coachee claiming admin, erases nobody, reads no
trail, signs no checkpoint, replays nothing and releases no aggregate; nothing is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import Actor, NotPermitted, Role, RuleViolation
from engagement_tracker.domain.errors import InvalidInput, NotFound
from tests.support import Cast, FakeClock, admin, drive, event_count, grant, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]


def privileged_calls(app, actor: Actor, victim, eid):  # type: ignore[no-untyped-def]
    audit, analyst = bootstrap.audit_service(app), bootstrap.analyst_service(app)
    key = Ed25519PrivateKey.generate()
    return {
        "erase": lambda: app.parties.erase(victim, actor),
        "read the trail": lambda: audit.entries(actor),
        "verify": lambda: audit.verify(actor),
        "sign a checkpoint": lambda: audit.checkpoint(actor, key),
        "replay": lambda: app.replay(eid, actor),
        "release signals": lambda: analyst.summary(actor),
        "release activity": lambda: analyst.activity(actor),
        "read the access history": lambda: app.access.history(actor),
        "list parties": lambda: app.parties.list(actor),
        "grant": lambda: app.access.grant(actor.party, Role.AUDITOR, actor).value,
        "read an engagement's metadata": lambda: app.engagements.view(eid, actor),
    }


@pytest.mark.parametrize("who", ["made-up", "registered coachee"])
def test_a_party_claiming_admin_without_the_grant_can_do_nothing_privileged(tracker, cast, who: str) -> None:
    eid = open_engagement(tracker, cast)
    drive(tracker, cast, eid, "framing.diagnosis")
    party = uuid4() if who == "made-up" else cast.coachee.party
    for role in (Role.ADMIN, Role.AUDITOR, Role.ANALYST):
        attacker = Actor(party, role)
        for action, call in privileged_calls(tracker, attacker, cast.coachee.party, eid).items():
            before = event_count(tracker)
            with pytest.raises(NotPermitted):
                call()
            assert event_count(tracker) == before, f"a refused {action} wrote events"
    assert not tracker.sealer.is_erased(str(cast.coachee.party)), "the refused erasure destroyed the key"
    assert not tracker.party(cast.coachee.party).erased
    with pytest.raises(NotPermitted, match=f"party {party} holds no admin grant; an admin grants it with "
                                           f"etrack grant admin {party}"):
        tracker.parties.erase(cast.coachee.party, Actor(party, Role.ADMIN))


def test_a_revoked_grant_is_refused_from_the_next_call(tracker, cast) -> None:
    eid = open_engagement(tracker, cast)
    auditor = grant(tracker, cast.sponsor.party, Role.AUDITOR)
    assert tracker.replay(eid, auditor)["version"] == 1
    tracker.access.revoke(auditor.party, Role.AUDITOR, admin(tracker), reason="audit over")
    with pytest.raises(NotPermitted, match="holds no auditor grant"):
        tracker.replay(eid, auditor)
    coach = cast.other_coach
    tracker.access.revoke(coach.party, Role.COACH, admin(tracker))
    with pytest.raises(NotPermitted, match="holds no coach grant"):
        tracker.engagements.open(coach, cast.other_coachee.party, cast.sponsor.party, "hr", "Ops")
    with pytest.raises(NotPermitted, match="holds no coach grant"):
        tracker.cohorts.open(coach, "Ops", "Cohort")


def test_the_register_rules(tracker) -> None:
    first = admin(tracker)
    parties = tracker.parties.list(first)
    with pytest.raises(RuleViolation, match="already has an admin"):
        tracker.access.initialise("Second Admin")
    assert tracker.parties.list(first) == parties  # refused before anything was registered
    other = tracker.parties.register("person", "Bea").value
    tracker.access.grant(other, "analyst", first, reason="quarterly report")
    with pytest.raises(RuleViolation, match="already holds analyst"):
        tracker.access.grant(other, "analyst", first)
    with pytest.raises(RuleViolation, match="holds no auditor grant"):
        tracker.access.revoke(other, "auditor", first)
    with pytest.raises(RuleViolation, match="last admin"):
        tracker.access.revoke(first.party, "admin", first)
    with pytest.raises(InvalidInput, match="grantable roles"):
        tracker.access.grant(other, "coachee", first)
    with pytest.raises(NotFound):
        tracker.access.grant(uuid4(), "coach", first)
    with pytest.raises(NotPermitted, match="only an admin"):
        tracker.access.grant(other, "coach", Actor(other, Role.ANALYST))
    tracker.access.grant(other, "admin", first)
    tracker.access.revoke(first.party, "admin", Actor(other, Role.ADMIN))  # not the last one any more
    assert tracker.held_grants()[str(other)] == frozenset({"analyst", "admin"})
    history = tracker.access.history(Actor(other, Role.ADMIN))
    assert [(h["change"], h["role"], h["party"], h["by"]) for h in history] == [
        ("granted", "admin", str(first.party), str(first.party)),
        ("granted", "analyst", str(other), str(first.party)),
        ("granted", "admin", str(other), str(first.party)),
        ("revoked", "admin", str(first.party), str(other)),
    ]
    assert history[1]["reason"] == "quarterly report"
    rows = {r["id"]: r for r in tracker.parties.list(Actor(other, Role.ADMIN))}
    assert rows[str(other)]["grants"] == ["admin", "analyst"] and rows[str(first.party)]["grants"] == []
    assert "name" not in rows[str(other)]


def test_a_grant_reason_is_sealed_under_the_granted_partys_key(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    grant(app, cast.sponsor.party, Role.AUDITOR)
    app.access.revoke(cast.sponsor.party, Role.AUDITOR, admin(app), reason="a very private reason")
    app.close()
    assert b"a very private reason" not in (tmp_path / "etrack.sqlite").read_bytes()


def etrack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=cwd,
                          capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200", **(env or {})})


def test_init_grant_revoke_and_history_from_the_command_line(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'etrack.sqlite'}"]
    first = etrack(*db, "init", "--admin-name", "Ada Admin", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    admin_id = first.stdout.strip()
    again = etrack(*db, "init", "--admin-name", "Eve", cwd=tmp_path)
    assert again.returncode == 3 and "already has an admin" in again.stderr
    party = etrack(*db, "party", "register", "--name", "Aude", cwd=tmp_path).stdout.strip()
    as_admin = {"ETRACK_AS": f"admin:{admin_id}"}  # --as from the environment
    ok = etrack(*db, "grant", "auditor", party, "--reason", "2026 audit", cwd=tmp_path, env=as_admin)
    assert ok.returncode == 0, ok.stderr
    history = etrack(*db, "access", "history", "--as", f"auditor:{party}", "--format", "json", cwd=tmp_path)
    rows = json.loads(history.stdout)
    assert [(r["change"], r["role"], r["party"]) for r in rows] == [
        ("granted", "admin", admin_id), ("granted", "auditor", party)]
    assert "reason" not in rows[1]  # reasons are for admins
    parties = json.loads(etrack(*db, "parties", "--format", "json", cwd=tmp_path, env=as_admin).stdout)
    assert {p["id"]: p["grants"] for p in parties} == {admin_id: ["admin"], party: ["auditor"]}
    assert etrack(*db, "revoke", "auditor", party, cwd=tmp_path, env=as_admin).returncode == 0
    refused = etrack(*db, "access", "history", "--as", f"auditor:{party}", cwd=tmp_path)
    assert refused.returncode == 3 and "holds no auditor grant" in refused.stderr


def test_a_made_up_admin_erasing_from_the_command_line_is_one_error_line(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'etrack.sqlite'}"]
    victim = etrack(*db, "--create", "party", "register", "--name", "Marc Petit", cwd=tmp_path).stdout.strip()
    made_up = uuid4()
    proc = etrack(*db, "subject", "erase", victim, "--as", f"admin:{made_up}", cwd=tmp_path)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: NotPermitted:") and "Traceback" not in proc.stderr
    assert f"holds no admin grant; an admin grants it with etrack grant admin {made_up}" in lines[0]
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}")
    assert not app.sealer.is_erased(victim) and app.party_name(victim) == "Marc Petit"
    app.close()


def test_a_damaged_access_register_refuses_every_privileged_call(tmp_path: Path) -> None:
    import sqlite3

    from engagement_tracker.domain.errors import StoreError
    from engagement_tracker.domain.grants import AccessRegister

    db = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    cast = Cast.register(app)  # the admin's grant, then the coaches' (register versions 1 to 4)
    auditor = grant(app, cast.sponsor.party, Role.AUDITOR)
    bootstrap.audit_trail(app).catch_up()
    app.close()
    with sqlite3.connect(db) as con:  # a forger removes one grant from the middle
        con.execute("DELETE FROM stored_events WHERE originator_id IN (?, ?) AND originator_version = 3",
                    (str(AccessRegister.ID), AccessRegister.ID.hex))
    app = new_tracker(f"sqlite:///{db}", FakeClock())
    with pytest.raises(StoreError, match=r"access register .* is damaged"):
        bootstrap.audit_service(app).entries(auditor)
    assert not bootstrap.audit_trail(app).verify().ok  # the chain names the deleted record
    app.close()


def test_an_eraser_that_is_not_an_actor_is_named_as_the_actor() -> None:
    app = new_tracker("memory:", FakeClock())
    party = app.parties.register("person", "Marc Petit").value
    with pytest.raises(InvalidInput) as refused:
        app.parties.erase(party, "admin")  # type: ignore[arg-type]
    assert refused.value.field == "actor"
    assert app.sealer.is_erased(str(party)) is False


def test_racing_initialisers_leave_one_admin_and_no_orphan_party(durable_store_url: str) -> None:
    """Six initialisers at once: one admin; every other is refused and leaves nothing (its party
    and its grant are one transaction)."""
    import threading

    apps = [new_tracker(durable_store_url) for _ in range(6)]
    barrier = threading.Barrier(len(apps))
    outcomes: list[object] = [None] * len(apps)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = apps[i].access.initialise(f"Admin {i}").value
        except RuleViolation as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [o for o in outcomes if not isinstance(o, RuleViolation)]
    assert len(winners) == 1, outcomes
    app = apps[0]
    assert list(app.held_grants()) == [str(winners[0])]
    parties = app.parties.list(Actor(winners[0], Role.ADMIN))  # type: ignore[arg-type]
    assert len(parties) == 1  # no orphan party from a refused initialiser
    for a in apps:
        a.close()
