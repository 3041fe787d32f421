"""A command, page or call that fails after a differentially private release records no release and
spends no budget (issue #24, item 1): inside ``atomically`` a DP release is checked and drawn when
asked, and paid (spend, answer, leaf) only when the unit of work commits.

Each failure path runs on the demo's store, a real SQLite file and a PostgreSQL schema; what a failure
must leave as it was is counted before and after (:func:`recorded`): the analyst's budget, the DP
answers, the release leaves of the audit log, the release ledger and the number of stored events. A
unit that works is run too, so every count can move.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli import main
from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.domain import EngagementTracker, InvalidInput
from engagement_tracker.domain.errors import BudgetExceeded, EtrackError
from tests.support import new_tracker

pytest.importorskip("opendp")

FAMILIES = ("signal", "activity", "testimonial")
ANALYST, ADMIN = access_actor("analyst"), access_actor("admin")
AS_ANALYST = f"analyst:{ANALYST.party}"


def etrack(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    try:
        main(["--db", url, *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


@pytest.fixture
def demo(durable_store_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, EngagementTracker]]:
    """The demo's store with a budget of rho 0.01 for its analyst (epsilon 0.5 costs rho 0.0062: one fits, two don't)."""
    code, err = etrack(capsys, durable_store_url, "demo")
    assert code == 0, err
    code, err = etrack(capsys, durable_store_url, "privacy-budget", "grant", str(ANALYST.party), "0.01",
                       "--as", f"admin:{ADMIN.party}")
    assert code == 0, err
    app = new_tracker(durable_store_url)
    try:
        yield durable_store_url, app
    finally:
        app.close()


def leaves(app: EngagementTracker) -> list[dict[str, Any]]:
    return [leaf.fields for leaf in bootstrap.release_leaves(app).logged()]


def recorded(app: EngagementTracker) -> tuple[Any, ...]:
    """The budget, the DP leaves (each names its recorded answer), the ledger, and the stored events."""
    view = bootstrap.analytics(app).view
    dp_leaves = [f for f in leaves(app) if f.get("answer")]
    answers = [view.dp_answer(f["answer"]) for f in dp_leaves]
    return (app.budgets.balance(ANALYST), len(dp_leaves), answers, *(len(view.ledger(f)) for f in FAMILIES),
            app.recorder.max_notification_id())


def dp_summary(service: Any, epsilon: float = 0.5, by: tuple[str, ...] = ("theme",)) -> Any:
    return service.summary(ANALYST, by, period="year", privacy="dp", epsilon=epsilon)


def test_a_unit_that_raises_after_a_dp_release_spends_nothing(demo: tuple[str, EngagementTracker]) -> None:
    """The page's render raising after its DP section (here: the caller's build raising)."""
    _, app = demo
    service = analyst_service(app)
    before = recorded(app)

    def render() -> None:
        assert dp_summary(service).rows is not None  # drawn and shown to the build
        raise InvalidInput("page", "the page could not be rendered")

    with pytest.raises(InvalidInput):
        service.atomically(render)
    assert recorded(app) == before
    rel = service.atomically(lambda: dp_summary(service))  # the same unit, working: paid once, logged once
    after = recorded(app)
    assert after[0]["spent_rho"] == pytest.approx(rel.rho, abs=1e-9) and after[0]["releases"] == 1
    assert after[1] == 1 and after[2][0] is not None
    assert service.atomically(lambda: dp_summary(service)).repeated  # repeats are free
    assert recorded(app)[:3] == after[:3]


def test_a_refused_exact_release_after_a_dp_one_records_neither(demo: tuple[str, EngagementTracker]) -> None:
    _, app = demo
    service = analyst_service(app)
    before = recorded(app)

    def dp_then_refused() -> None:
        dp_summary(service)
        service.summary(ANALYST, ("theme",), period="year", k=4)  # below the floor (5): refused

    with pytest.raises(InvalidInput, match="below"):
        service.atomically(dp_then_refused)
    assert recorded(app) == before
    service.atomically(lambda: (dp_summary(service), service.summary(ANALYST, ("theme",), period="year")))
    after = recorded(app)
    assert after[0]["releases"] == 1 and after[1] == 1 and after[3] == before[3] + 1


def test_two_dp_releases_in_one_unit_are_checked_together(demo: tuple[str, EngagementTracker]) -> None:
    """Each fits the budget alone, both do not: the second is refused when asked, and the unit records nothing."""
    _, app = demo
    service = analyst_service(app)
    before = recorded(app)
    with pytest.raises(BudgetExceeded):
        service.atomically(lambda: (dp_summary(service), dp_summary(service, by=("context",))))
    assert recorded(app) == before


def test_a_budget_spent_concurrently_fails_the_whole_unit(demo: tuple[str, EngagementTracker]) -> None:
    """Another command (another tracker, outside this unit) spends the budget between this unit's DP release
    and its end: the unit fails with BudgetExceeded, and its exact release is not recorded either."""
    url, app = demo
    service = analyst_service(app)
    other = new_tracker(url)
    try:
        other_service = analyst_service(other)

        theirs: list[Any] = []

        def racing() -> None:
            dp_summary(service)
            service.activity(ANALYST, ("unit",), period="year")  # an exact release, tried now
            theirs.append(contextvars.Context().run(lambda: dp_summary(other_service, by=("context",))))

        before = recorded(app)
        with pytest.raises(BudgetExceeded):
            service.atomically(racing)
        after = recorded(app)
        assert theirs and not theirs[0].repeated  # the other command's release was paid, at once
        assert after[0]["spent_rho"] == pytest.approx(theirs[0].rho, abs=1e-9)  # and only it
        assert after[0]["releases"] == before[0]["releases"] + 1
        assert after[1] == before[1] + 1 and after[3:6] == before[3:6]  # its leaf; no ledger row of the unit
    finally:
        other.close()


def test_out_into_a_missing_directory_spends_nothing(
    demo: tuple[str, EngagementTracker], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    url, app = demo
    before = recorded(app)
    for argv in (["signals", "summary", "--out", str(tmp_path / "missing" / "s.csv")],
                 ["signals", "trends", "--format", "json", "--out", str(tmp_path / "missing" / "t.json")],
                 ["signals", "summary", "--format", "csv", "--out", str(tmp_path)]):
        code, err = etrack(capsys, url, *argv, "--as", AS_ANALYST, "--privacy", "dp", "--epsilon", "0.5")
        assert code == 2, (argv, err)
        assert recorded(app) == before, argv
    code, err = etrack(capsys, url, "signals", "summary", "--as", AS_ANALYST, "--privacy", "dp", "--epsilon", "0.5",
                       "--format", "csv", "--out", str(tmp_path / "s.csv"))
    assert code == 0, err
    assert recorded(app)[0]["releases"] == 1 and (tmp_path / "s.csv").exists()


#: A unit of work: its releases (("dp", epsilon, by) or ("exact", by)), and whether it then fails.
RELEASES = st.one_of(
    st.tuples(st.just("dp"), st.sampled_from([0.05, 0.1]), st.sampled_from(["theme", "context", "polarity"])),
    st.tuples(st.just("exact"), st.sampled_from(["theme", "context", "polarity"])),
)
UNITS = st.lists(st.tuples(st.lists(RELEASES, min_size=1, max_size=3), st.booleans()), min_size=1, max_size=4)


@pytest.fixture
def store(demo: tuple[str, EngagementTracker]) -> EngagementTracker:
    return demo[1]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(units=UNITS)
def test_budget_and_leaves_follow_the_committed_units_only(store: EngagementTracker, units: Any) -> None:
    """Over units mixing exact and DP releases, some failing at their end (or refused on the way): the rho
    spent is the sum of the rho of the committed units' new DP releases, and the leaves are their releases."""
    app = store
    service = analyst_service(app)
    start = recorded(app)
    start_leaves = len(leaves(app))
    paid_rho, logged = 0.0, 0
    for releases, fails in units:
        made: list[Any] = []

        def build(releases: Any = releases, fails: bool = fails, made: list[Any] = made) -> None:
            for r in releases:
                if r[0] == "dp":
                    made.append(("dp", dp_summary(service, r[1], (r[2],))))
                else:
                    made.append(("exact", service.summary(ANALYST, (r[1],), period="year")))
            if fails:
                raise InvalidInput("host", "the caller failed after asking")

        try:
            service.atomically(build)
        except EtrackError:
            continue  # failed or refused: nothing of it may be recorded (checked by the totals below)
        new_dp = {id(rel): rel for kind, rel in made if kind == "dp" and not rel.repeated}
        paid_rho += sum(rel.rho for rel in new_dp.values())
        logged += len(new_dp) + sum(1 for kind, rel in made if kind == "exact" and rel.rows)
    end = recorded(app)
    assert end[0]["spent_rho"] - start[0]["spent_rho"] == pytest.approx(paid_rho, abs=1e-8)
    assert len(leaves(app)) - start_leaves == logged
