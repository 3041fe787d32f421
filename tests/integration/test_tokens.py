"""Tokens bound to recorded parties (the access register's TokenIssued / TokenRevoked): only a hash
is stored, an admin issues and revokes them (its grant checked at commit), and a token is refused
at once once revoked, expired or its party erased; ``etrack token issue|list|revoke``."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.http.identity import Throttle
from engagement_tracker.domain.application.tokens import TOKEN_FORM, digest_of, new_secret
from engagement_tracker.domain.errors import InvalidInput, NotAuthenticated, NotPermitted, RuleViolation
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from tests.integration.test_cli_and_demo import etrack
from tests.integration.test_grants_at_commit import revoke, run_held, stores  # noqa: F401  (the stores fixture)
from tests.support import FakeClock, event_count, granted
from tests.support import admin as support_admin


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    app = open_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", clock=clock)
    admin = Actor(app.access.initialise("Ada Admin").value, Role.ADMIN)
    party = app.parties.register("person", "Sam Sponsor").value
    yield app, admin, party, clock, tmp_path / "etrack.sqlite"
    app.close()


def test_only_the_hash_is_stored_and_the_history_names_issue_and_revocation(store) -> None:  # type: ignore[no-untyped-def]
    app, admin, party, _clock, path = store
    issued = app.access.issue_token(party, admin, timedelta(days=90), "laptop")
    secret = issued.value.secret
    assert secret is not None and TOKEN_FORM.fullmatch(secret) and issued.status == "recorded"
    assert app.access.authenticate(secret) == party
    raw = b"".join(bytes(row[0]) for row in sqlite3.connect(path).execute("SELECT state FROM stored_events"))
    assert secret.encode() not in raw and secret[4:].encode() not in raw
    assert digest_of(secret).encode() in raw
    assert b"laptop" not in raw  # the label is sealed under the party's key
    [row] = app.access.tokens(admin)
    assert row["label"] == "laptop" and row["valid"] and "digest" not in row and secret not in str(row)
    app.access.revoke_token(issued.value.token, admin)
    with pytest.raises(NotAuthenticated):
        app.access.authenticate(secret)
    changes = [h["change"] for h in app.access.history(admin)]
    assert changes[-2:] == ["token issued", "token revoked"]
    with pytest.raises(RuleViolation):
        app.access.revoke_token(issued.value.token, admin)


def test_expiry_and_erasure_end_a_token_at_once(store) -> None:  # type: ignore[no-untyped-def]
    app, admin, party, clock, _path = store
    short = app.access.issue_token(party, admin, timedelta(hours=1)).value.secret
    forever = app.access.issue_token(party, admin).value.secret
    assert app.access.authenticate(short) == app.access.authenticate(forever) == party
    clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(NotAuthenticated):
        app.access.authenticate(short)
    assert app.access.authenticate(forever) == party
    app.parties.erase(party, admin)
    with pytest.raises(NotAuthenticated, match="erased"):
        app.access.authenticate(forever)
    with pytest.raises(RuleViolation):
        app.access.issue_token(party, admin)


def test_only_a_granted_admin_issues_and_nothing_is_written_otherwise(store) -> None:  # type: ignore[no-untyped-def]
    app, admin, party, _clock, _path = store
    before = app.recorder.max_notification_id()
    for actor in (Actor(party, Role.AUDITOR), Actor(party, Role.ADMIN)):  # a claim, or a role not granted
        with pytest.raises(NotPermitted):
            app.access.issue_token(party, actor)
    with pytest.raises(NotPermitted):
        app.access.tokens(Actor(party, Role.ADMIN))
    with pytest.raises(InvalidInput):
        app.access.issue_token(party, admin, timedelta(days=-1))
    with pytest.raises(InvalidInput):
        app.access.issue_token(party, admin, label="")
    assert app.recorder.max_notification_id() == before  # nothing written


def test_an_admin_revoked_while_issuing_issues_nothing(stores) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app, other, clock = stores
    second = granted(app, Role.ADMIN, "Bob Admin")
    party = app.parties.register("person", "Sam Sponsor").value
    before = event_count(app)
    clock.armed = True  # the issue passes its gate, then waits while the revocation commits
    outcome = run_held(lambda: app.access.issue_token(party, second), clock.reached, clock.go, revoke(other, second))
    assert isinstance(outcome, NotPermitted), outcome  # at commit, or by the register re-read after the clash
    assert event_count(app) == before + 1  # the revocation alone
    assert app.access.tokens(support_admin(app)) == []


def test_a_retried_issue_with_its_command_id_is_recorded_once_and_shows_no_second_secret(store) -> None:  # type: ignore[no-untyped-def]
    app, admin, party, _clock, _path = store
    first = app.access.issue_token(party, admin, command_id="issue-sam-1")
    again = app.access.issue_token(party, admin, command_id="issue-sam-1")
    assert first.value.secret is not None and again.value.secret is None
    assert again.status == "already recorded" and again.value.token == first.value.token
    assert len(app.access.tokens(admin)) == 1


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=60), st.builds(new_secret)))
def test_no_secret_but_an_issued_one_authenticates(candidate: str) -> None:
    app = open_tracker("memory:", clock=FakeClock())
    try:
        admin = Actor(app.access.initialise("Ada").value, Role.ADMIN)
        issued = app.access.issue_token(admin.party, admin).value.secret
        if candidate == issued:  # pragma: no cover - 2**-256
            return
        with pytest.raises(NotAuthenticated) as refused:
            app.access.authenticate(candidate)
        assert len(candidate) < 8 or candidate not in str(refused.value)  # never echoed
    finally:
        app.close()


def test_repeated_bad_tokens_from_one_address_are_slowed_boundedly() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(Throttle.FREE_FAILURES):
        assert throttle.delay("10.0.0.1") == 0.0
        throttle.failed("10.0.0.1")
    delays = []
    for _ in range(10):
        delays.append(throttle.delay("10.0.0.1"))
        throttle.failed("10.0.0.1")
    assert delays[0] > 0 and delays == sorted(delays) and max(delays) == Throttle.MAX_DELAY
    assert throttle.delay("10.0.0.2") == 0.0  # another address is not slowed
    now[0] += Throttle.WINDOW + 1
    assert throttle.delay("10.0.0.1") == 0.0  # the window passed
    for n in range(Throttle.MAX_ADDRESSES + 10):
        throttle.failed(f"a{n}")
    assert len(throttle._failures) == Throttle.MAX_ADDRESSES  # bounded memory


def test_etrack_token_issue_list_revoke(tmp_path: Path) -> None:
    db = ("--db", str(tmp_path / "etrack.sqlite"))
    admin = etrack(*db, "init", "--admin-name", "Ada Admin", cwd=tmp_path).stdout.strip()
    pid = etrack(*db, "party", "register", "--name", "Sam Sponsor", cwd=tmp_path).stdout.strip()
    issued = etrack(*db, "token", "issue", pid, "--as", f"admin:{admin}", "--expires", "90d", "--label", "laptop",
                    cwd=tmp_path)
    secret = issued.stdout.strip()
    assert TOKEN_FORM.fullmatch(secret)
    assert "shown once" in issued.stderr and secret not in issued.stderr
    listed = etrack(*db, "token", "list", "--as", f"admin:{admin}", "--format", "json", cwd=tmp_path).stdout
    assert '"laptop"' in listed and secret not in listed and digest_of(secret) not in listed
    import json

    token_id = json.loads(listed)[0]["token"]
    refused = etrack(*db, "token", "issue", pid, "--as", f"auditor:{admin}", cwd=tmp_path, check=False)
    assert refused.returncode == 3
    bad = etrack(*db, "token", "issue", pid, "--as", f"admin:{admin}", "--expires", "soon", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "90d" in bad.stderr
    etrack(*db, "token", "revoke", token_id, "--as", f"admin:{admin}", cwd=tmp_path)
    rows = json.loads(etrack(*db, "token", "list", "--as", f"admin:{admin}", "--format", "json", cwd=tmp_path).stdout)
    assert rows[0]["revoked_at"] is not None and rows[0]["valid"] is False
