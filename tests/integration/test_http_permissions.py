"""The permission matrix over HTTP: every endpoint x every caller (each role's token, a party never
granted anything, a coach whose grant was revoked, a revoked token, an expired token, no token, and
another engagement's or cohort's resource). Deny by default: only the callers listed may succeed;
every other one is 401 (no valid token) or 403 (a gate refused), as a problem document, and a
refused call writes nothing (the store's events are counted before and after each call)."""

from __future__ import annotations

from typing import Any

import pytest

from engagement_tracker.adapters.demo import demo_id
from tests.http_support import SHOWN, Live, live_fixture  # noqa: F401  (the live fixture)

pytest.importorskip("fastapi")

CALLERS = ("admin", "auditor", "analyst", "coach", "coachee", "sponsor", "member", "stranger", "ex_coach",
           "revoked", "expired", None)
UNAUTHENTICATED = {"revoked", "expired", None}


def _places(live: Live) -> dict[str, Any]:
    """An active engagement of the demo's coach-1, another coach's engagement, and peer-1's cohort."""
    app = live.app
    coach, coachee, sponsor = demo_id("coach-1"), demo_id("coachee-1"), demo_id("sponsor-1")
    active = other = None
    for eid in app.engagements.ids():
        e = app.engagements.get(eid)
        if e.coach == coach and e.state == "accompaniment.in_progress" and active is None:
            active = e
        if e.coach != coach and coachee != e.coachee and sponsor != e.sponsor and other is None:
            other = e
    cohort = next(app.cohorts.get(c) for c in app.cohorts.ids() if str(demo_id("peer-1")) in app.cohorts.get(c).members)
    assert active is not None and other is not None
    return {"active": active, "other": other, "cohort": cohort}


def _in(e: Any, live: Live) -> set[str]:
    """The tokens whose party has a place in engagement ``e``."""
    return {name for name in ("coach", "coachee", "sponsor") if live.parties[name] in (e.coach, e.coachee, e.sponsor)}


def matrix(live: Live) -> list[tuple[str, str, dict[str, Any] | None, set[str]]]:
    """(method, path, JSON body, the callers that may succeed)."""
    p = _places(live)
    active, other, cohort = p["active"], p["other"], p["cohort"]
    stranger = str(live.parties["stranger"])
    cohort_people = {"member"} | ({"coach"} if cohort.coach == live.parties["coach"] else set())
    org_readers = {"admin", "auditor"}
    return [
        ("GET", "/me", None, {"admin", "auditor", "analyst", "coach", "coachee", "sponsor", "member", "stranger",
                              "ex_coach"}),
        ("GET", "/parties", None, {"admin"}),
        ("GET", "/grants", None, org_readers),
        ("GET", "/access/history", None, org_readers),
        ("GET", "/tokens", None, {"admin"}),
        ("GET", f"/engagements/{SHOWN}", None, {"coach", "coachee", "sponsor"} | org_readers),
        ("GET", f"/engagements/{SHOWN}/timeline", None, {"coach", "coachee", "sponsor"} | org_readers),
        ("GET", f"/engagements/{other.id}", None, org_readers | _in(other, live)),  # another engagement's
        ("GET", f"/engagements/{other.id}/timeline", None, org_readers | _in(other, live)),
        ("GET", f"/cohorts/{cohort.id}", None, cohort_people | org_readers),
        ("GET", "/signals/summary", None, {"analyst", "admin"}),
        ("GET", "/signals/trends", None, {"analyst", "admin"}),
        # over Q1: the whole year's activity is closed once the release calendar recorded Q3 (the demo's tick)
        ("GET", "/activity?since=2026-01&until=2026-03", None, {"analyst", "admin"}),
        ("GET", "/testimonials", None, {"analyst", "admin"}),
        ("GET", "/budgets", None, {"analyst", "admin"}),
        ("GET", "/audit/entries", None, org_readers),
        ("GET", "/audit/verify", None, org_readers),
        ("GET", "/audit/consistency?old=1", None, org_readers),
        ("GET", f"/replay/{SHOWN}", None, org_readers),
        ("GET", f"/coach-hours?coach={live.parties['coach']}", None, {"coach", "auditor", "admin"}),
        ("GET", f"/coach-load?coach={live.parties['coach']}", None, {"coach", "admin"}),
        ("GET", "/testimonials/quotes", None, {"analyst", "admin"}),
        ("GET", "/releases/plan?period=2026-Q2", None, {"analyst", "admin"}),
        ("GET", "/releases/calendar", None, {"analyst", "admin"}),
        ("GET", "/signals/dp-preview?epsilon=0.5", None, {"analyst", "admin"}),
        # writes: every caller but the allowed ones is refused, and nothing is written
        ("POST", "/parties", {"kind": "person", "name": "Pat"}, {"admin"}),
        ("POST", f"/parties/{stranger}/erase", None, {"admin"}),
        ("POST", "/grants", {"party": stranger, "role": "auditor"}, {"admin"}),
        ("DELETE", f"/grants/{demo_id('analyst')}/analyst", None, {"admin"}),
        ("POST", "/tokens", {"party": stranger}, {"admin"}),
        ("POST", "/budgets", {"analyst": str(demo_id("analyst")), "rho": 1.0}, {"admin"}),
        ("POST", "/engagements", {"coachee": str(demo_id("coachee-3")), "sponsor": str(demo_id("sponsor-2")),
                                  "sponsor_function": "hr", "org_unit": "Operations"}, {"coach"}),
        ("POST", "/cohorts", {"org_unit": "Operations", "name": "Cohort X"}, {"coach"}),
        ("POST", f"/engagements/{active.id}/steps/record_session",
         {"held_on": "2026-10-16", "duration_minutes": 60, "themes": ["delegation"], "notes": "n"}, {"coach"}),
        ("POST", f"/engagements/{active.id}/steps/request_review", None, _in(active, live)),
        ("POST", f"/engagements/{other.id}/steps/request_review", None, _in(other, live)),
        ("POST", f"/cohorts/{cohort.id}/steps/record_decision",
         {"statement": "d", "metric": None, "value": None, "decided_on": "2026-10-16", "owner": str(demo_id("peer-1"))},
         cohort_people),
        ("POST", "/audit/checkpoints", None, org_readers),
        ("PUT", "/releases/calendar", {"shapes": "activity:metric", "period": "quarter"}, {"admin"}),
    ]


def test_every_endpoint_denies_by_default_and_a_refusal_writes_nothing(live: Live) -> None:
    checked = 0
    for method, path, body, allowed in matrix(live):
        for caller in CALLERS:
            if caller in allowed:
                continue
            before = live.events()
            r = live.client(caller).request(method, path, json=body)
            expected = 401 if caller in UNAUTHENTICATED else 403
            assert r.status_code == expected, (method, path, caller, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("application/problem+json")
            assert live.events() == before, (method, path, caller)
            checked += 1
    assert checked > 250


def test_every_allowed_read_succeeds(live: Live) -> None:
    for method, path, _body, allowed in matrix(live):
        if method != "GET":
            continue
        for caller in sorted(allowed):
            r = live.client(caller).get(path)
            assert r.status_code == 200, (path, caller, r.text[:300])


def test_allowed_writes_are_recorded_and_still_gated_per_resource(live: Live) -> None:
    p = _places(live)
    coach = live.client("coach")
    r = coach.post(f"/engagements/{p['active'].id}/steps/request_review")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "recorded"
    # the same coach on another coach's engagement: refused, nothing written
    before = live.events()
    r = coach.post(f"/engagements/{p['other'].id}/steps/record_session",
                   json={"held_on": "2026-10-16", "duration_minutes": 60, "themes": ["delegation"], "notes": "n"})
    assert r.status_code == 403 and live.events() == before
    # claiming a role the party does not hold is refused by the same gates
    r = live.client("sponsor", **{"Etrack-Role": "coach"}).post(
        f"/engagements/{SHOWN}/steps/request_review")
    assert r.status_code == 403 and live.events() == before
    assert r.json()["type"] == "urn:etrack:error:NotPermitted"
