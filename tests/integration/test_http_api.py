"""The HTTP API against a real uvicorn on loopback: each role does its part with a token an admin
issued, failures are RFC 9457 problem documents, and HTTP semantics hold (Idempotency-Key, ETag and
If-Match, cursor pages, formats by Accept, the streamed export, health and metrics)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from engagement_tracker.adapters.demo import SAMPLE_NOTES, demo_id
from engagement_tracker.projections.privacy import calibrate
from tests.http_support import SHOWN, Live, live_fixture  # noqa: F401  (the live fixture)

pytest.importorskip("fastapi")

PROBLEM = "application/problem+json"


def test_the_openapi_document_is_3_1_and_declares_every_response(live: Live) -> None:
    doc = live.client().get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert len(operations) > 80  # every step of both workflows, and the rest
    steps = {path.rsplit("/", 1)[-1] for path, _, _ in operations if "/engagements/{target}/steps/" in path}
    assert {"record_session", "hold_first_meeting", "measure_indicator"} <= steps
    for path, method, op in operations:
        declared = set(op["responses"])
        assert declared & {"200", "201"}, (method, path)
        if path not in ("/healthz", "/metrics", "/readyz", "/openapi.json"):
            assert {"401", "403", "404", "409", "412", "422", "503"} <= declared, (method, path)
            assert PROBLEM in op["responses"]["403"]["content"]


def test_me_names_the_party_and_its_places_only(live: Live) -> None:
    me = live.client("sponsor").get("/me").json()
    assert me["party"] == str(live.parties["sponsor"])
    assert me["grants"] == []
    assert {"kind": "engagement", "id": str(SHOWN), "role": "sponsor", "state": "closed"} in me["places"]
    assert all(p["role"] == "sponsor" for p in me["places"])


def test_a_sponsor_reads_the_contract_scope_and_never_session_content(live: Live) -> None:
    as_coach = live.client("coach").get(f"/engagements/{SHOWN}")
    as_sponsor = live.client("sponsor").get(f"/engagements/{SHOWN}")
    assert as_coach.status_code == as_sponsor.status_code == 200
    # the coach's ETag is the version; the sponsor's scope hides it (it would count the steps the contract
    # does not share), so the sponsor's ETag is a digest of what the sponsor sees, and never the version
    assert as_coach.headers["etag"] == f'"{as_coach.json()["version"]}"'
    assert as_sponsor.headers["etag"].startswith('"v-') and as_coach.json()["version"] is not None
    assert str(as_coach.json()["version"]) not in as_sponsor.headers["etag"].strip('"').removeprefix("v-")[:3]
    assert "version" not in as_sponsor.json() and "state" not in as_sponsor.json()
    assert live.client("sponsor").get(f"/engagements/{SHOWN}").headers["etag"] == as_sponsor.headers["etag"]
    timeline = live.client("sponsor").get(f"/engagements/{SHOWN}/timeline").json()["items"]
    assert timeline and all("version" not in row and "." not in row["state"] for row in timeline)
    notes = [n for n in SAMPLE_NOTES if n in as_coach.text]
    assert notes  # the coach reads the confidential session notes ...
    assert not any(n in as_sponsor.text for n in SAMPLE_NOTES)  # ... the sponsor never does
    assert "diagnosis" in as_coach.json() and "diagnosis" not in as_sponsor.json()


def test_an_unknown_revoked_or_expired_token_is_401_at_once_and_never_echoed(live: Live) -> None:
    for name in ("revoked", "expired"):
        r = live.client(name).get("/me")
        assert r.status_code == 401, name
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert live.tokens[name] not in r.text
    unknown = "etk_" + "A" * 43
    r = live.client(unknown).get("/me")
    assert r.status_code == 401 and unknown not in r.text
    assert live.client().get("/me").status_code == 401
    assert live.client(Authorization="Basic eA==").get("/me").status_code == 401


def test_a_step_by_the_engagements_coach_is_recorded_once_per_idempotency_key(live: Live) -> None:
    coach = live.client("coach")
    opened = coach.post("/engagements", json={"coachee": str(demo_id("coachee-2")), "sponsor": str(live.parties["sponsor"]),
                                              "sponsor_function": "line_manager", "org_unit": "Operations"},
                        headers={"Idempotency-Key": "http-open-1"})
    assert opened.status_code == 201, opened.text
    eid = opened.json()["value"]
    assert opened.headers["etag"] == '"1"'
    again = coach.post("/engagements", json={"coachee": str(demo_id("coachee-2")), "sponsor": str(live.parties["sponsor"]),
                                             "sponsor_function": "line_manager", "org_unit": "Operations"},
                       headers={"Idempotency-Key": "http-open-1"})
    assert again.json()["value"] == eid and again.headers["idempotent-replayed"] == "true"

    before = live.events()
    first = coach.post(f"/engagements/{eid}/steps/hold_first_meeting", json={"held_on": str(date(2026, 10, 20))},
                       headers={"Idempotency-Key": "http-step-1", "If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "recorded" and first.headers["idempotent-replayed"] == "false"
    assert first.headers["etag"] == '"2"'
    replay = coach.post(f"/engagements/{eid}/steps/hold_first_meeting", json={"held_on": str(date(2026, 10, 20))},
                        headers={"Idempotency-Key": "http-step-1"})
    assert replay.status_code == 200
    assert replay.json()["status"] == "already recorded" and replay.headers["idempotent-replayed"] == "true"
    assert live.events() == before + 1

    stale = coach.post(f"/engagements/{eid}/steps/confirm_will", headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current"] == 2
    assert live.events() == before + 1  # nothing written

    refused = coach.post(f"/engagements/{eid}/steps/start_accompaniment")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"] == "urn:etrack:error:StepNotAllowed" and problem["state"] == "framing.first_meeting"
    assert "confirm_will" in problem["allowed"]
    bad = coach.post(f"/engagements/{eid}/steps/record_diagnosis", json={"stakes": 5})
    assert bad.status_code == 422 and bad.json()["field"] == "stakes"
    unknown = coach.post(f"/engagements/{eid}/steps/record_diagnosis", json={"nope": "x", "stakes": "s"})
    assert unknown.status_code == 422
    assert live.events() == before + 1


def test_lists_page_by_cursor(live: Live) -> None:
    coach = live.client("coach")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = coach.get(f"/engagements/{SHOWN}/timeline", params=params)
        assert page.status_code == 200
        body = page.json()
        seen += [row["version"] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in page.headers
            break
        assert 'rel="next"' in page.headers["link"]
    whole = coach.get(f"/engagements/{SHOWN}/timeline", params={"limit": 500}).json()["items"]
    assert seen == [row["version"] for row in whole] and pages > 1
    assert coach.get(f"/engagements/{SHOWN}/timeline", params={"cursor": "x"}).status_code == 422


def test_analysts_rows_by_accept(live: Live) -> None:
    analyst = live.client("analyst")
    as_json = analyst.get("/signals/summary", params={"by": "theme"})
    assert as_json.status_code == 200, as_json.text
    rows = as_json.json()
    assert rows and {"scope", "theme", "value", "status", "k"} <= set(rows[0])
    assert not any("party" in key or "person" in key for key in rows[0])
    as_csv = analyst.get("/signals/summary", params={"by": "theme"}, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert [r["theme"] for r in csv.DictReader(io.StringIO(as_csv.text))] == [r["theme"] or "" for r in rows]
    as_jsonl = analyst.get("/signals/summary", params={"by": "theme"}, headers={"Accept": "application/jsonl"})
    assert [json.loads(line) for line in as_jsonl.text.splitlines()] == rows
    q1 = {"since": "2026-01", "until": "2026-03"}  # the whole year's activity is closed by the release calendar
    parquet = analyst.get("/activity", params=q1, headers={"Accept": "application/vnd.apache.parquet"})
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == len(analyst.get("/activity", params=q1).json())
    assert analyst.get("/budgets").json()["analyst"] == str(live.parties["analyst"])


def test_the_auditor_pages_the_trail_streams_the_export_and_replays(live: Live) -> None:
    auditor = live.client("auditor")
    first = auditor.get("/audit/entries", params={"limit": 50})
    assert first.status_code == 200
    second = auditor.get("/audit/entries", params={"limit": 50, "cursor": first.json()["next_cursor"]}).json()
    assert second["items"][0]["position"] == first.json()["items"][-1]["position"] + 1
    with auditor.stream("GET", "/audit/export") as streamed:
        assert streamed.headers["content-type"].startswith("application/jsonl")
        lines = [json.loads(line) for line in streamed.iter_lines() if line]
    assert len(lines) >= live.events() - 5 and lines[0]["position"] == 1
    assert auditor.get("/audit/verify").json()["ok"] is True
    proof = auditor.get("/audit/consistency", params={"old": 10, "new": 20})
    assert proof.status_code == 200 and proof.json()["old_size"] == 10
    past = auditor.get(f"/replay/{SHOWN}", params={"version": 3})
    assert past.status_code == 200 and past.json()["version"] == 3
    hours = auditor.get("/coach-hours", params={"coach": str(live.parties["coach"])})
    assert hours.status_code == 200 and hours.json()["lines"]
    assert live.client("coach").get("/coach-hours").json()["coach"] == str(live.parties["coach"])


def test_admins_issue_and_revoke_tokens_over_http(live: Live) -> None:
    admin = live.client("admin")
    issued = admin.post("/tokens", json={"party": str(demo_id("peer-2")), "expires_days": 7, "label": "phone"})
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    secret, token = issued.json()["value"]["secret"], issued.json()["value"]["token"]
    assert live.client(secret).get("/me").json()["party"] == str(demo_id("peer-2"))
    listed = admin.get("/tokens", params={"party": str(demo_id("peer-2"))}).json()["items"]
    assert [row["label"] for row in listed] == ["phone"] and secret not in json.dumps(listed)
    assert admin.delete(f"/tokens/{token}").status_code == 200
    assert live.client(secret).get("/me").status_code == 401
    assert live.client("coach").post("/tokens", json={"party": str(demo_id("peer-2"))}).status_code == 403
    for days in (0, 10**12):  # a lifetime out of bounds is malformed input, never a 500
        assert admin.post("/tokens", json={"party": str(demo_id("peer-2")), "expires_days": days}).status_code == 422


def test_health_readiness_metrics_and_headers(live: Live) -> None:
    c = live.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["position"] >= 1
    csp = ready.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "http" not in csp
    metrics = c.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'etrack_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text
    assert "etrack_http_request_duration_seconds_bucket" in metrics.text
    assert all(token not in metrics.text for token in live.tokens.values())


def test_a_differentially_private_release_is_a_post_paid_from_the_budget(live: Live) -> None:
    analyst, admin = live.client("analyst"), live.client("admin")
    ask = {"epsilon": 0.5, "by": "theme", "period": "quarter"}
    unpaid = analyst.post("/signals/dp-releases", json=ask)
    assert unpaid.status_code == 403 and unpaid.json()["type"] == "urn:etrack:error:BudgetExceeded"
    granted = admin.post("/budgets", json={"analyst": str(live.parties["analyst"]), "rho": 2.0})
    assert granted.status_code == 201, granted.text
    released = analyst.post("/signals/dp-releases", json=ask, headers={"Accept": "text/csv"})
    assert released.status_code == 200, released.text
    assert {"low_95", "high_95", "epsilon"} <= set(released.text.splitlines()[0].split(","))  # noisy cells, intervals
    assert {"mechanism", "rho", "delta", "threshold"} <= set(released.text.splitlines()[0].split(","))
    policy = released.headers["Etrack-Release-Policy"]  # stated even when no row is
    assert all(w in policy for w in ("gaussian_threshold", "epsilon 0.5", "delta 1e-06", "zCDP rho", "shown only from"))
    spent = round(calibrate(0.5).rho, 9)  # the zCDP cost of epsilon 0.5
    assert analyst.get("/budgets").json()["spent_rho"] == spent
    again = analyst.post("/signals/dp-releases", json=ask)  # the same query on the same data: nothing spent
    assert again.status_code == 200 and analyst.get("/budgets").json()["spent_rho"] == spent
    assert analyst.get("/signals/summary", params={"privacy": "dp"}).status_code == 200  # a GET never spends
    assert analyst.get("/budgets").json()["spent_rho"] == spent


def test_an_admin_erases_a_party_over_http_and_its_token_stops_at_once(live: Live) -> None:
    admin = live.client("admin")
    made = admin.post("/parties", json={"kind": "person", "name": "Erin Erased"})
    party = made.json()["value"]
    secret = admin.post("/tokens", json={"party": party}).json()["value"]["secret"]
    assert live.client(secret).get("/me").status_code == 200
    erased = admin.post(f"/parties/{party}/erase", headers={"Idempotency-Key": f"erase-{party}"})
    assert erased.status_code == 200 and erased.json()["status"] == "recorded", erased.text
    assert erased.json()["value"]["key_present"] is False and len(erased.json()["value"]["receipt"]) == 64
    again = admin.post(f"/parties/{party}/erase", headers={"Idempotency-Key": f"erase-{party}"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["value"]["receipt"] == \
        erased.json()["value"]["receipt"]
    assert live.client(secret).get("/me").status_code == 401  # an erased party's token is refused
    load = live.client("coach").get("/coach-load")
    assert load.status_code == 200 and load.json()["coach"] == str(demo_id("coach-1"))
    quotes = live.client("analyst").get("/testimonials/quotes")
    assert quotes.status_code == 200 and isinstance(quotes.json(), list)
    assert all(set(q) <= {"quarter", "text", "period"} for q in quotes.json()), quotes.json()[:1]


def test_a_sponsors_write_is_guarded_by_the_digest_it_saw_and_answers_no_version(live: Live) -> None:
    """A sponsor's scope hides the version and the step (access.hides_steps): its If-Match is the ETag it read (a digest
    of its view), a stale one is 412 naming a digest, and its outcome carries no version; a refusal names the phase."""
    coach, sponsor = live.client("coach"), live.client("sponsor")
    opened = coach.post("/engagements", json={"coachee": str(demo_id("coachee-3")), "sponsor": str(live.parties["sponsor"]),
                                              "sponsor_function": "hr", "org_unit": "Operations"})
    eid = opened.json()["value"]
    seen = sponsor.get(f"/engagements/{eid}").headers["etag"]
    assert seen.startswith('"v-')
    coach.post(f"/engagements/{eid}/steps/hold_first_meeting", json={"held_on": "2026-10-20"})  # a step it does not see
    assert sponsor.get(f"/engagements/{eid}").headers["etag"] == seen  # nothing it sees changed: nor does its ETag
    before = live.events()
    refused = sponsor.post(f"/engagements/{eid}/steps/request_review")
    assert refused.status_code == 409
    assert refused.json()["state"] == "framing" and "first_meeting" not in refused.text
    assert live.events() == before
    stale = sponsor.post(f"/engagements/{eid}/steps/propose_disclosure", json={"items": ["objectives"]},
                         headers={"If-Match": '"v-0000"'})
    assert stale.status_code == 412 and str(stale.json()["current"]).startswith("v-")
    assert "version" not in stale.json()["detail"] and live.events() == before
    done = sponsor.post(f"/engagements/{eid}/steps/propose_disclosure", json={"items": ["objectives"]},
                        headers={"If-Match": seen})
    assert done.status_code == 200, done.text
    assert done.json()["versions"] == [] and done.json()["status"] == "recorded"
    assert done.headers["etag"].startswith('"v-') and done.headers["etag"] != seen
    assert done.headers["etag"] == sponsor.get(f"/engagements/{eid}").headers["etag"]
    assert live.events() == before + 1
