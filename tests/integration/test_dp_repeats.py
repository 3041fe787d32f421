"""A repeated differentially private query is detected and charged atomically: identical
queries asked at the same moment (threads of one process, or separate processes) are charged
once and all get the one stored answer; a query that fails spends nothing and stores nothing."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.domain import BudgetExceeded, EngagementTracker, EtrackError, Role, StoreError
from engagement_tracker.domain.privacy_budget import PrivacyBudget
from engagement_tracker.projections.privacy import calibrate
from tests.integration.test_differential_privacy import many_facts, service_with
from tests.integration.workers import dp_query
from tests.support import admin, granted, new_tracker

SIX = 6
EPSILON = 0.5
#: Room (in rho) for five answers at EPSILON: six charged answers would be refused the sixth time.
BUDGET = 5.5 * calibrate(EPSILON).rho
#: An epsilon whose rho the budget cannot pay.
TOO_MUCH = 3.0


def prepared(url: str) -> tuple[EngagementTracker, Any]:
    """A store with facts enough for a DP release, and an analyst holding BUDGET."""
    app = new_tracker(url)
    analyst = granted(app, Role.ANALYST, "Ana Lyst")
    app.budgets.grant(analyst.party, BUDGET, admin(app))
    service_with(app, many_facts())
    return app, analyst


def spends(app: EngagementTracker, analyst: Any) -> list[float]:
    return [e.epsilon for e in app.events.get(PrivacyBudget.id_for(analyst.party))
            if isinstance(e, PrivacyBudget.BudgetSpent)]


def charged_once(app: EngagementTracker, analyst: Any, answers: list[Any]) -> None:
    """Six answers, all the same stored one; one spend of EPSILON; exactly one caller paid."""
    assert len(answers) == SIX and all(a[0] != "refused" for a in answers), answers
    rows = [a[0] for a in answers]
    assert rows[0] and all(r == rows[0] for r in rows)
    assert sorted(a[1] for a in answers) == [False] + [True] * (SIX - 1)  # one paid, five were told "repeated"
    assert spends(app, analyst) == [EPSILON]
    budget = app.budgets.balance(analyst)
    assert (budget["spent_rho"], budget["releases"]) == (round(calibrate(EPSILON).rho, 9), 1)
    again = bootstrap.analyst_service(app).summary(analyst, ["theme"], period="year", privacy="dp", epsilon=EPSILON)
    assert [r.to_dict() for r in again.rows] == rows[0] and again.repeated  # the stored answer, for free
    assert spends(app, analyst) == [EPSILON]


def test_six_identical_queries_in_threads_are_charged_once(durable_store_url: str) -> None:
    """Threads of one long-running process sharing one application, released together by a barrier."""
    app, analyst = prepared(durable_store_url)
    try:
        service = bootstrap.analyst_service(app)
        barrier = threading.Barrier(SIX, timeout=60)
        answers: list[Any] = []
        lock = threading.Lock()

        def ask() -> None:
            barrier.wait()
            try:
                rel = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=EPSILON)
                answer: Any = ([r.to_dict() for r in rel.rows], rel.repeated)
            except EtrackError as exc:
                answer = ("refused", f"{type(exc).__name__}: {exc}")
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=ask) for _ in range(SIX)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        charged_once(app, analyst, answers)
    finally:
        app.close()


def test_six_identical_queries_in_processes_are_charged_once(durable_store_url: str) -> None:
    """Six processes, each with its own connection to the store, released together by a barrier."""
    app, analyst = prepared(durable_store_url)
    try:
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(SIX, timeout=120), ctx.Queue()
        workers = [ctx.Process(target=dp_query, args=(durable_store_url, str(analyst.party), EPSILON, barrier, results))
                   for _ in range(SIX)]
        for w in workers:
            w.start()
        answers = []
        for _ in range(SIX):
            try:
                answers.append(results.get(timeout=240))
            except queue.Empty:
                break
        for w in workers:
            w.join(60)
        assert [w.exitcode for w in workers] == [0] * SIX
        charged_once(app, analyst, answers)
    finally:
        app.close()


def test_a_query_refused_by_the_budget_spends_nothing_and_stores_nothing(durable_store_url: str) -> None:
    app, analyst = prepared(durable_store_url)
    try:
        service = bootstrap.analyst_service(app)
        with pytest.raises(BudgetExceeded, match="remains"):
            service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=TOO_MUCH)
        assert spends(app, analyst) == []
        app.budgets.grant(analyst.party, 1.0, admin(app))
        later = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=TOO_MUCH)
        assert not later.repeated and spends(app, analyst) == [TOO_MUCH]  # nothing was stored before
    finally:
        app.close()


def test_a_paid_query_whose_answer_could_not_be_stored_is_not_charged_again(tmp_path: Any) -> None:
    """The spend commits, then the store refuses the answer (a trigger on the real SQLite file): the
    caller gets a StoreError; asked again, the query is paid already, so it spends nothing and
    stores its answer, which every later ask returns."""
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app, analyst = prepared(url)
    try:
        with sqlite3.connect(tmp_path / "etrack.sqlite") as db:
            db.execute("CREATE TRIGGER refuse_answers BEFORE INSERT ON analytic_dp_answers "
                       "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END")
        service = bootstrap.analyst_service(app)
        with pytest.raises(StoreError, match="answer"):
            service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=EPSILON)
        assert spends(app, analyst) == [EPSILON]
        with sqlite3.connect(tmp_path / "etrack.sqlite") as db:
            db.execute("DROP TRIGGER refuse_answers")
        first = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=EPSILON)
        again = service.summary(analyst, ["theme"], period="year", privacy="dp", epsilon=EPSILON)
        assert first.rows and first.repeated and again.rows == first.rows  # paid before: nothing spent now
        assert spends(app, analyst) == [EPSILON]
    finally:
        app.close()
