"""Programme templates over HTTP on a real uvicorn (issue #27, item 7): an admin declares one
(POST /templates), a coach lists them and opens an engagement and a cohort with one; the view shows
it as such; a coach cannot declare and an unknown template is a 404 problem with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engagement_tracker.adapters import open_tracker
from tests.http_support import free_port, start_server
from tests.integration.test_templates import LEADERSHIP
from tests.support import Cast, FakeClock, admin

pytest.importorskip("fastapi")
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from engagement_tracker.adapters.http import create_app

    path: Path = tmp_path_factory.mktemp("templates") / "etrack.sqlite"
    app = open_tracker(f"sqlite:///{path}", clock=FakeClock())
    by = admin(app)
    cast = Cast.register(app)
    tokens = {"admin": app.access.issue_token(by.party, by).value.secret,
              "coach": app.access.issue_token(cast.coach.party, by).value.secret}
    port = free_port()
    server, thread = start_server(create_app(app), port)
    clients = {name: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                  headers={"Authorization": f"Bearer {secret}"}) for name, secret in tokens.items()}
    try:
        yield {"app": app, "cast": cast, **clients}
    finally:
        for c in clients.values():
            c.close()
        server.should_exit = True
        thread.join(30)
        app.close()


def test_declared_over_http_and_applied_at_opening(served: dict[str, Any]) -> None:
    admin_c, coach_c, cast = served["admin"], served["coach"], served["cast"]
    r = admin_c.post("/templates", json={"name": "leadership", "kind": "engagement", **LEADERSHIP},
                     headers={"Idempotency-Key": "tpl-1"})
    assert r.status_code == 201, r.text
    assert r.json()["value"] == 1
    again = admin_c.post("/templates", json={"name": "leadership", "kind": "engagement", **LEADERSHIP},
                         headers={"Idempotency-Key": "tpl-1"})
    assert again.headers["Idempotent-Replayed"] == "true"  # a retry declares no second version
    r = admin_c.post("/templates", json={"name": "lead-time", "kind": "cohort", "rituals": ["weekly_standup"],
                                         "roles": ["facilitator", "scribe"]})
    assert r.status_code == 201, r.text
    listed = coach_c.get("/templates").json()
    assert [(t["name"], t["version"]) for t in listed] == [("lead-time", 1), ("leadership", 1)]

    r = coach_c.post("/engagements", json={"coachee": str(cast.coachee.party), "sponsor": str(cast.sponsor.party),
                                           "sponsor_function": "line_manager", "org_unit": "Operations",
                                           "template": "leadership"})
    assert r.status_code == 201, r.text
    view = coach_c.get(f"/engagements/{r.json()['aggregate_id']}").json()
    assert view["template"] == {"name": "leadership", "version": 1, "content": LEADERSHIP}
    r = coach_c.post("/cohorts", json={"org_unit": "Supply Chain", "name": "Cohort Lead-time", "template": "lead-time"})
    assert r.status_code == 201, r.text
    assert coach_c.get(f"/cohorts/{r.json()['aggregate_id']}").json()["template"]["name"] == "lead-time"


def test_refusals_are_problems_and_write_nothing(served: dict[str, Any]) -> None:
    coach_c, admin_c, cast, app = served["coach"], served["admin"], served["cast"], served["app"]
    before = app.recorder.max_notification_id()
    r = coach_c.post("/templates", json={"name": "mine", "kind": "cohort", "rituals": ["weekly_standup"],
                                         "roles": ["scribe"]})
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    r = coach_c.post("/engagements", json={"coachee": str(cast.coachee.party), "sponsor": str(cast.sponsor.party),
                                           "sponsor_function": "line_manager", "org_unit": "Operations",
                                           "template": "no-such-template"})
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = admin_c.post("/templates", json={"name": "x", "kind": "engagement", "objectives": ["a"], "indicators": []})
    assert r.status_code == 422 and "indicator" in r.json()["detail"]
    assert app.recorder.max_notification_id() == before
