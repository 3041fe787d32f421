"""Read commands open the store for reading (cli/store.reader): they bring no projection up to date
on the way out and adopt nothing; a DP release, which spends budget, is a command and takes the
write path. Checked on a real SQLite file: the audit trail (which only the write path's projection
runner feeds here) stays as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engagement_tracker.adapters.cli import main
from engagement_tracker.domain import Role
from tests.support import Cast, FakeClock, drive, granted, new_tracker, open_engagement

READS = {
    "activity": lambda s: ["activity", "--as", s["analyst"]],
    "signals summary": lambda s: ["signals", "summary", "--as", s["analyst"]],
    "signals trends": lambda s: ["signals", "trends", "--as", s["analyst"]],
    "testimonials ratings": lambda s: ["testimonials", "ratings", "--as", s["analyst"]],
    "testimonials quotes": lambda s: ["testimonials", "quotes", "--as", s["analyst"]],
    "privacy-budget show": lambda s: ["privacy-budget", "show", "--as", s["analyst"]],
    "access history": lambda s: ["access", "history", "--as", s["admin"]],
    "parties": lambda s: ["parties", "--as", s["admin"]],
}


def trail_entries(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        return conn.execute("select count(*) from audit_trail").fetchone()[0] if "audit_trail" in tables else 0


def run(capsys: pytest.CaptureFixture[str], *args: str) -> int:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "etrack.sqlite"
    app = new_tracker(f"sqlite:///{path}", FakeClock())
    cast = Cast.register(app)
    drive(app, cast, open_engagement(app, cast), "accompaniment.in_progress")
    analyst = granted(app, Role.ANALYST, "Anna")
    admin = granted(app, Role.ADMIN, "Ada")
    app.budgets.grant(analyst.party, 2.0, admin)
    app.close()
    return {"url": f"sqlite:///{path}", "path": str(path), "analyst": f"analyst:{analyst.party}",
            "admin": f"admin:{admin.party}"}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_command_brings_no_projection_up_to_date(store: dict[str, str], name: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert trail_entries(Path(store["path"])) == 0  # written through Python: no runner fed the trail
    assert run(capsys, "--db", store["url"], *READS[name](store)) == 0
    assert trail_entries(Path(store["path"])) == 0


def test_a_dp_release_spends_budget_so_it_takes_the_write_path(store: dict[str, str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--db", store["url"], "signals", "summary", "--as", store["analyst"], "--by", "theme",
               "--period", "year", "--privacy", "dp", "--epsilon", "1") == 0
    assert trail_entries(Path(store["path"])) > 0  # the spend was recorded, then the projections caught up


@pytest.mark.parametrize(("args", "field", "says"), [
    (["--k", "5", "--privacy", "dp", "--epsilon", "1"], "k", "--k applies to exact releases; --privacy dp takes --epsilon"),
    (["--epsilon", "1"], "epsilon", "--epsilon applies to --privacy dp only"),
    (["--privacy", "dp"], "epsilon", "--privacy dp needs --epsilon E"),
])
def test_k_and_epsilon_are_checked_once_by_the_service_for_python_and_the_command_line(
    store: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], field: str, says: str,
) -> None:
    from engagement_tracker.domain import Actor
    from engagement_tracker.domain.errors import InvalidInput

    with pytest.raises(SystemExit) as stopped:
        main(["--db", store["url"], "signals", "summary", "--as", store["analyst"], *args])
    assert stopped.value.code == 2  # a usage error, as before
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    app = new_tracker(store["url"])
    try:
        analyst = Actor(store["analyst"].split(":")[1], Role.ANALYST)
        k = 5 if "--k" in args else None
        epsilon = 1.0 if "--epsilon" in args else None
        privacy = "dp" if "dp" in args else "exact"
        with pytest.raises(InvalidInput) as refused:
            app.analysts.summary(analyst, ["theme"], None, "year", k, privacy=privacy, epsilon=epsilon)
        assert refused.value.field == field and says in refused.value.problem
        assert app.budgets.balance(analyst, analyst.party)["spent_rho"] == 0  # nothing was spent or recorded
    finally:
        app.close()
