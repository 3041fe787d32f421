"""A command, page or call that fails records no release and spends no budget (issue #24, item 1);
every period the README names (month, quarter, year) gives a synthesis note.

Each failure path of each analyst command and page runs against the demo's store, on SQLite and
on PostgreSQL, through the console script in this process; the release ledger (every family) and
the analyst's privacy budget are counted before and after. A command that works is run too, so
the counts can move: a test that could not fail would prove nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli import main
from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.adapters.pages.synthesis import synthesis_data, synthesis_note
from engagement_tracker.domain import EngagementTracker, InvalidInput
from tests.support import new_tracker

FAMILIES = ("signal", "activity", "testimonial")
ANALYST, ADMIN = access_actor("analyst"), access_actor("admin")
AS_ANALYST = f"analyst:{ANALYST.party}"


def etrack(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    """Run the console script in this process on ``url``: its exit status and stderr (never a traceback)."""
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
    """The demo's store (SQLite file or PostgreSQL schema), and a tracker that reads it."""
    code, err = etrack(capsys, durable_store_url, "demo")
    assert code == 0, err
    app = new_tracker(durable_store_url)
    try:
        yield durable_store_url, app
    finally:
        app.close()


def recorded(app: EngagementTracker) -> tuple[Any, ...]:
    """What a failure must leave as it was: the ledger of every family and the analyst's budget."""
    view = bootstrap.analytics(app).view
    return (*(len(view.ledger(f)) for f in FAMILIES), app.budgets.balance(ANALYST))


#: Every failure path of the analysts' commands and pages: (the arguments, the exit status).
FAILING: list[tuple[Callable[[Path], list[str]], int]] = [
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--by", "theme,nope"], 2),
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--k", "2"], 2),  # below the floor
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--period", "quarter", "--since", "2026-02"], 2),
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--since", "2026-13"], 2),
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--out", str(d / "missing" / "s.csv")], 2),
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--format", "csv", "--out", str(d)], 2),
    (lambda d: ["signals", "summary", "--as", f"analyst:{ADMIN.party}"], 3),  # holds no analyst grant
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--privacy", "dp", "--epsilon", "0.5"], 3),  # no budget
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--privacy", "dp", "--epsilon", "99"], 2),
    (lambda d: ["signals", "summary", "--as", AS_ANALYST, "--privacy", "dp", "--k", "5", "--epsilon", "1"], 2),
    (lambda d: ["signals", "trends", "--as", AS_ANALYST, "--k", "2"], 2),
    (lambda d: ["signals", "trends", "--as", AS_ANALYST, "--out", str(d / "missing" / "t.json"), "--format", "json"],
     2),
    (lambda d: ["signals", "trends", "--as", AS_ANALYST, "--privacy", "dp", "--epsilon", "0.5"], 3),
    (lambda d: ["activity", "--as", AS_ANALYST, "--by", "theme"], 2),
    (lambda d: ["activity", "--as", AS_ANALYST, "--until", "2025-12", "--since", "2026-01"], 2),
    (lambda d: ["activity", "--as", AS_ANALYST, "--out", str(d)], 2),
    (lambda d: ["testimonials", "ratings", "--as", AS_ANALYST, "--k", "2"], 2),
    (lambda d: ["testimonials", "ratings", "--as", AS_ANALYST, "--by", "theme"], 2),
    (lambda d: ["report", "synthesis", "--period", "2026-Q9", "--as", AS_ANALYST, "--out", str(d / "n.html")], 2),
    (lambda d: ["report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST, "--out", str(d / "no" / "n.html")],
     2),
    (lambda d: ["report", "synthesis", "--period", "2026-Q4", "--as", f"analyst:{ADMIN.party}",
                "--out", str(d / "n.html")], 3),
    (lambda d: ["report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST, "--k", "2",
                "--out", str(d / "n.html")], 2),
]


def test_every_failing_analyst_command_records_no_release_and_spends_nothing(
    demo: tuple[str, EngagementTracker], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    url, app = demo
    code, err = etrack(capsys, url, "privacy-budget", "grant", str(ANALYST.party), "0.005", "--as",
                       f"admin:{ADMIN.party}")
    assert code == 0, err  # a budget too small for epsilon 0.5 (rho 0.0062): the DP cases are refused for it
    before = recorded(app)
    for args, status in FAILING:
        argv = args(tmp_path)
        code, err = etrack(capsys, url, *argv)
        assert code == status, (argv, err)
        assert recorded(app) == before, argv
        assert not (tmp_path / "n.html").exists(), argv
    # (by unit: by metric over the year is closed once the calendar recorded Q3 at the demo's tick)
    code, err = etrack(capsys, url, "activity", "--as", AS_ANALYST, "--by", "unit", "--period", "year")
    assert code == 0, err
    assert recorded(app)[1] == before[1] + 1  # the ledger counts what succeeds


def test_a_note_that_fails_after_its_first_sections_records_none_of_them(
    demo: tuple[str, EngagementTracker], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The note asks for activity first (k 6 is above its floor, 5), then for signals, where an earlier
    release raised the floor to 7: the command fails, and the activity release is not recorded either."""
    url, app = demo
    code, err = etrack(capsys, url, "signals", "summary", "--as", AS_ANALYST, "--by", "theme", "--period", "year",
                       "--k", "7")
    assert code == 0, err
    before = recorded(app)
    assert before[0] == 1  # that release is in the ledger
    code, err = etrack(capsys, url, "report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST, "--k", "6",
                       "--out", str(tmp_path / "n.html"))
    assert code == 2 and "below 7" in err
    assert recorded(app) == before
    assert not (tmp_path / "n.html").exists()
    code, err = etrack(capsys, url, "report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST,
                       "--out", str(tmp_path / "n.html"))  # each section at its family's floor
    assert code == 0, err
    assert recorded(app)[1] == before[1] + 1  # now the activity release is recorded


def test_a_note_whose_printer_fails_records_nothing(
    demo: tuple[str, EngagementTracker], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The page is made (its releases checked), then the printer fails: exit 4, no file, no release."""
    pytest.importorskip("playwright")
    url, app = demo
    before = recorded(app)
    code, err = etrack(capsys, url, "report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST,
                       "--format", "pdf", "--chromium", "/bin/false", "--out", str(tmp_path / "n.pdf"))
    assert code == 4, err
    assert recorded(app) == before
    assert not [f for f in tmp_path.iterdir() if "n.pdf" in f.name]  # neither the file nor its staged part
    code, err = etrack(capsys, url, "report", "synthesis", "--period", "2026-Q4", "--as", AS_ANALYST,
                       "--out", str(tmp_path / "n.html"))
    assert code == 0, err
    assert recorded(app)[1] == before[1] + 1  # the same note, made: its activity release is recorded


def test_in_python_a_note_or_a_batch_that_raises_records_nothing(demo: tuple[str, EngagementTracker]) -> None:
    _, app = demo
    service = analyst_service(app)
    before = recorded(app)

    def quotes() -> list[dict[str, Any]]:
        raise InvalidInput("quotes", "the host's quotes could not be read")

    with pytest.raises(InvalidInput):
        synthesis_note(service, ANALYST, "2026-Q4", quotes_of=quotes)
    assert recorded(app) == before

    def two_then_fail() -> None:
        service.activity(ANALYST, ("unit",), period="year")
        service.summary(ANALYST, ("theme",), period="year")
        raise InvalidInput("host", "the caller failed after asking")

    with pytest.raises(InvalidInput):
        service.atomically(two_then_fail)
    assert recorded(app) == before
    data = synthesis_data(service, ANALYST, "2026-Q4")
    assert data["activity"].release is not None and data["activity"].release.rows
    assert recorded(app)[1] == before[1] + 1


@pytest.mark.parametrize("kind", ["month", "quarter", "year"])
def test_every_period_the_readme_names_gives_a_note(
    demo: tuple[str, EngagementTracker], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
) -> None:
    """Months, quarters and the year of 2026 on the demo: each note is written (exit 0); a section the
    rules coarsened past the note's window says over which whole periods it was released."""
    url, _ = demo
    periods = {"month": [f"2026-{m:02d}" for m in range(1, 13)], "quarter": [f"2026-Q{q}" for q in range(1, 5)],
               "year": ["2026", "2025"]}[kind]
    for period in periods:
        out = tmp_path / f"{period}.html"
        code, err = etrack(capsys, url, "report", "synthesis", "--period", period, "--as", AS_ANALYST,
                           "--out", str(out))
        assert code == 0, (period, err)
        assert f"Synthesis note {period}" in out.read_text()
