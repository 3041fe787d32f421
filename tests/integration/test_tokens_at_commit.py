"""A bearer token is checked in the transaction that records what it allowed (issue #23).

A request is authenticated when it arrives; a revocation (``TokenRevoked``) may commit while the
request's command is still deciding. Each race here runs a real uvicorn in front of the acting
application: the request passes authentication and its gates, then is held (its application's
clock waits, inside the recording scope, once the token is relied on) while an admin revokes the
token through another application on the same store (in memory, the same one). The revocation
committed first, so the request is answered 401 and records nothing. A token that expires while
the command decides is refused the same way; a request that commits before the revocation stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from engagement_tracker.domain import EngagementTracker, Role
from engagement_tracker.domain.access import relied_on_tokens
from tests.http_support import free_port, start_server
from tests.integration.test_grants_at_commit import WAIT, PausingClock, catch_up_clock, run_held
from tests.support import admin, event_count, granted, new_tracker

pytest.importorskip("fastapi")


class TokenClock(PausingClock):
    """Holds its first reader, once armed, that runs inside a recording scope relying on a token: the
    request is then authenticated, past its gates, and has not yet written."""

    def __call__(self):  # type: ignore[no-untyped-def]
        if self.armed and relied_on_tokens():
            self.armed = False
            self.reached.set()
            assert self.go.wait(WAIT)
        return super(PausingClock, self).__call__()


@pytest.fixture
def served(store_url: str) -> Iterator[dict[str, Any]]:
    """The acting application behind a live uvicorn, the admin's application on the same store, an
    engagement and a token for its coach."""
    from engagement_tracker.adapters.http import create_app

    clock = TokenClock()
    acting = new_tracker(store_url, clock)
    boss = admin(acting)
    coach = granted(acting, Role.COACH, "Claire Dubois")
    coachee = acting.parties.register("person", "Marc Petit").value
    sponsor = acting.parties.register("person", "Sophie Laurent").value
    eid = acting.engagements.open(coach, coachee, sponsor, "hr", "Ops").value
    issued = acting.access.issue_token(coach.party, boss, timedelta(days=1), label="laptop").value
    other = acting if store_url == "memory:" else new_tracker(store_url)
    server, thread = start_server(create_app(acting, project=False), port := free_port())
    try:
        yield {"url": f"http://127.0.0.1:{port}", "app": acting, "other": other, "clock": clock, "eid": eid,
               "token": issued, "coach": coach}
    finally:
        server.should_exit = True
        thread.join(30)
        if other is not acting:
            other.close()
        acting.close()


def hold_first_meeting(s: dict[str, Any]) -> Any:
    import httpx

    with httpx.Client(base_url=s["url"], timeout=WAIT) as client:
        return client.post(f"/engagements/{s['eid']}/steps/hold_first_meeting",
                           json={"held_on": str(date(2026, 10, 20))},
                           headers={"Authorization": f"Bearer {s['token'].secret}", "Idempotency-Key": str(uuid4())})


def version(app: EngagementTracker, eid: object) -> int:
    return int(app.engagements.get(eid).version)


def test_a_step_whose_token_is_revoked_meanwhile_is_refused_and_records_nothing(served: dict[str, Any]) -> None:
    app, other, clock, eid = served["app"], served["other"], served["clock"], served["eid"]
    before, at = event_count(app), version(app, eid)

    def revocation() -> None:
        catch_up_clock(other)
        other.access.revoke_token(served["token"].token, admin(other))

    clock.armed = True
    response = run_held(lambda: hold_first_meeting(served), clock.reached, clock.go, revocation)
    assert response.status_code == 401, response.text
    problem = response.json()
    assert problem["status"] == 401 and "revoked" in problem["detail"]
    assert served["token"].secret not in response.text
    assert event_count(app) == before + 1  # the revocation alone
    assert version(app, eid) == at
    assert hold_first_meeting(served).status_code == 401  # and from then on


def test_a_step_whose_token_expires_meanwhile_is_refused_and_records_nothing(served: dict[str, Any]) -> None:
    app, clock, eid = served["app"], served["clock"], served["eid"]
    before, at = event_count(app), version(app, eid)

    def expiry() -> None:
        clock.now += timedelta(days=2)  # past the token's one day

    clock.armed = True
    response = run_held(lambda: hold_first_meeting(served), clock.reached, clock.go, expiry)
    assert response.status_code == 401, response.text
    assert "expired" in response.json()["detail"]
    assert event_count(app) == before
    assert version(app, eid) == at


def test_a_step_that_commits_while_another_token_is_revoked_stands(served: dict[str, Any]) -> None:
    """The register moved (another party's token revoked): the command is checked again and recorded."""
    app, other, clock, eid = served["app"], served["other"], served["clock"], served["eid"]
    spare = app.access.issue_token(served["coach"].party, admin(app), label="phone").value
    before, at = event_count(app), version(app, eid)

    def revocation() -> None:
        catch_up_clock(other)
        other.access.revoke_token(spare.token, admin(other))

    clock.armed = True
    response = run_held(lambda: hold_first_meeting(served), clock.reached, clock.go, revocation)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "recorded"
    assert event_count(app) == before + 2  # the other revocation, then the step
    assert version(app, eid) == at + 1


def test_a_step_that_commits_before_the_revocation_stands(served: dict[str, Any]) -> None:
    app, eid = served["app"], served["eid"]
    at = version(app, eid)
    assert hold_first_meeting(served).status_code == 200
    app.access.revoke_token(served["token"].token, admin(app))
    assert version(app, eid) == at + 1  # recorded before: it stays
    assert hold_first_meeting(served).status_code == 401


def test_an_admin_whose_token_is_revoked_meanwhile_registers_nobody(served: dict[str, Any]) -> None:
    """An admin route (a gate read in the endpoint, no engagement): the same rule."""
    import httpx

    app, other, clock = served["app"], served["other"], served["clock"]
    boss = admin(app)
    issued = app.access.issue_token(boss.party, boss, label="admin laptop").value
    before, parties = event_count(app), len(app.parties.list(boss))

    def register() -> Any:
        with httpx.Client(base_url=served["url"], timeout=WAIT) as client:
            return client.post("/parties", json={"kind": "person", "name": "Nina Nouvelle"},
                               headers={"Authorization": f"Bearer {issued.secret}"})

    def revocation() -> None:
        catch_up_clock(other)
        other.access.revoke_token(issued.token, admin(other))

    clock.armed = True
    response = run_held(register, clock.reached, clock.go, revocation)
    assert response.status_code == 401, response.text
    assert event_count(app) == before + 1  # the revocation alone
    assert len(app.parties.list(boss)) == parties


def test_outside_a_request_no_token_is_relied_on() -> None:
    assert relied_on_tokens() == ()


def test_every_recording_path_refuses_a_token_expired_by_its_commit() -> None:
    """The expiry is checked where every recording transaction gets its guard (``grant_guard(now)``: the
    command path and the analysts' releases alike), not on one path only."""
    from datetime import UTC, datetime

    from engagement_tracker.domain.access import TokenReliance, grant_guard, rely_on_token, relying_on_grants
    from engagement_tracker.domain.errors import NotAuthenticated

    at = datetime(2026, 10, 1, tzinfo=UTC)
    with relying_on_grants():
        rely_on_token(TokenReliance("t", "p", at, lambda: None))
        assert grant_guard() is None  # no clock given: the register's version alone (none read here)
        with pytest.raises(NotAuthenticated, match="expired"):
            grant_guard(lambda: at)
        grant_guard(lambda: at - timedelta(seconds=1))  # still valid a second before
