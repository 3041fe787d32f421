"""Planning releases over HTTP (issue #24): the planner, the DP preview and the release calendar, on a
real uvicorn over the demo's SQLite store. Each answers what its command line twin answers; the planner
and the preview record nothing and spend nothing; the calendar is an admin's command, recorded once per
idempotency key, and a refused or malformed one writes nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.rows import PLAN_COLUMNS
from engagement_tracker.adapters.demo import demo_id
from engagement_tracker.domain import Actor, Role
from tests.http_support import Live, live_fixture  # noqa: F401  (the live fixture)

pytest.importorskip("fastapi")

ANALYST = Actor(demo_id("analyst"), Role.ANALYST)
ADMIN = Actor(demo_id("admin"), Role.ADMIN)
PROBLEM = "application/problem+json"


def ledger_size(live: Live) -> int:
    return sum(len(analyst_service(live.app).analytics.view.ledger(f)) for f in ("signal", "activity", "testimonial"))


def test_the_plan_is_the_command_lines_in_every_format_and_records_nothing(live: Live) -> None:
    before = (live.events(), ledger_size(live))
    expected = analyst_service(live.app).plan(ANALYST, "2026-Q2")
    r = live.client("analyst").get("/releases/plan", params={"period": "2026-Q2"})
    assert r.status_code == 200, r.text
    got: list[dict[str, Any]] = r.json()
    assert [{c: row[c] for c in PLAN_COLUMNS} for row in got] == [{c: row.get(c) for c in PLAN_COLUMNS} for row in expected]
    assert {row["status"] for row in got} <= {"releasable", "closed", "reserved", "empty", "cut"}
    as_csv = live.client("analyst").get("/releases/plan", params={"period": "2026-Q2"}, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(rows[0]) == PLAN_COLUMNS and [row["status"] for row in rows] == [row["status"] for row in got]
    assert (live.events(), ledger_size(live)) == before  # trials only: nothing recorded


def test_a_malformed_period_is_a_problem_naming_it(live: Live) -> None:
    r = live.client("analyst").get("/releases/plan", params={"period": "spring"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert "period" in r.json()["detail"]


def test_the_dp_preview_is_free_and_states_its_parameters(live: Live) -> None:
    budget = live.app.budgets.balance(ANALYST)
    r = live.client("analyst").get("/signals/dp-preview", params={"epsilon": 0.5})
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview == analyst_service(live.app).preview(ANALYST, 0.5)  # what Python answers
    assert preview["epsilon"] == 0.5 and "mechanism" in preview and "threshold" in preview
    assert live.app.budgets.balance(ANALYST) == budget  # nothing spent
    bad = live.client("analyst").get("/signals/dp-preview", params={"epsilon": 0})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)


def test_the_release_calendar_is_read_by_analysts_and_set_by_admins_once_per_key(live: Live) -> None:
    shown = live.client("analyst").get("/releases/calendar")
    assert shown.status_code == 200, shown.text
    assert shown.json() == live.app.release_calendar.show(ANALYST)
    before = live.events()
    refused = live.client("analyst").put("/releases/calendar", json={"shapes": "activity:metric"})
    assert refused.status_code == 403 and live.events() == before
    malformed = live.client("admin").put("/releases/calendar", json={"shapes": "activity:colour", "period": "quarter"})
    assert malformed.status_code == 422 and malformed.headers["content-type"].startswith(PROBLEM)
    assert live.events() == before
    wrong_period = live.client("admin").put("/releases/calendar", json={"shapes": "activity:metric", "period": "week"})
    assert wrong_period.status_code == 422 and live.events() == before
    key = {"Idempotency-Key": "calendar-http-1"}
    body = {"shapes": "activity:metric; signal:theme,period", "period": "quarter"}
    first = live.client("admin").put("/releases/calendar", json=body, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "recorded" and first.headers["Idempotent-Replayed"] == "false"
    assert first.json()["value"]["shapes"] == live.app.release_calendar.show(ADMIN)["shapes"]
    assert first.json()["value"]["declared"] is True
    after = live.events()
    again = live.client("admin").put("/releases/calendar", json=body, headers=key)
    assert again.json()["status"] == "already recorded" and again.headers["Idempotent-Replayed"] == "true"
    assert live.events() == after
