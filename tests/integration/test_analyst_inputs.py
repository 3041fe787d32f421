"""Every analyst argument is checked: a typed InvalidInput naming the accepted form, nothing recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.demo import access_actor
from engagement_tracker.domain import InvalidInput, NotPermitted, Role
from tests.integration.test_analytics import engagement_with_signals
from tests.support import granted

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("by", {"by": 3}, "dimension names"),
    ("by", {"by": b"theme"}, "dimension names"),
    ("by", {"by": [1, "theme"]}, "dimension names"),
    ("by", {"by": []}, "dimension names"),
    ("by", {"by": ["theme", "theme"]}, "distinct dimensions among"),
    ("by", {"by": ["person"]}, "distinct dimensions among"),
    ("by", {"by": ["metric"]}, "distinct dimensions among theme"),  # a signal has no metric dimension
    ("unit", {"unit": 5}, "is not"),
    ("unit", {"unit": ""}, "is not"),
    ("unit", {"unit": "../../etc"}, "is not"),
    ("unit", {"unit": "x" * 300}, "is not"),
    ("period", {"period": "week"}, "month, quarter, year"),
    ("period", {"period": 3}, "month, quarter, year"),
    ("k", {"k": 2}, "outside 3.."),
    ("k", {"k": 4}, "below 5, the lowest k accepted"),  # below the floor: refused, never raised
    ("k", {"k": True}, "whole number"),
    ("k", {"k": "5"}, "whole number"),
    ("k", {"k": 5.0}, "whole number"),
    ("since", {"since": "2026-13"}, "YYYY-MM"),
    ("since", {"since": 202601}, "YYYY-MM"),
    ("until", {"until": "2026-1"}, "YYYY-MM"),
]


@pytest.mark.parametrize(("field", "query", "accepted"), BAD, ids=[f"{f}={q[f]!r}"[:40] for f, q, _ in BAD])
def test_a_bad_argument_is_refused_naming_the_accepted_form_and_records_nothing(tracker, field, query, accepted) -> None:
    for _ in range(6):
        engagement_with_signals(tracker, 1)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(tracker)
    view = service.analytics.view
    before = (view.ledger("signal"), view.regions("signal"), view.parts("signal"))
    with pytest.raises(InvalidInput, match=accepted) as refused:
        service.summary(analyst, **query)
    assert refused.value.field == field
    assert (view.ledger("signal"), view.regions("signal"), view.parts("signal")) == before


def test_k_left_out_is_the_floor_and_an_earlier_higher_k_becomes_the_floor(tracker) -> None:
    for _ in range(8):
        engagement_with_signals(tracker, 1)
    analyst = granted(tracker, Role.ANALYST, "Ana Lyst")
    service = bootstrap.analyst_service(tracker)
    assert service.summary(analyst, ["theme"]).policy.k == 5
    assert service.summary(analyst, ["theme"], k=7).policy.k == 7
    with pytest.raises(InvalidInput, match="below 7"):
        service.summary(analyst, ["theme"], k=5)
    assert service.summary(analyst, ["theme"]).policy.k == 7
    with pytest.raises(InvalidInput, match="outside"):
        service.activity(analyst, ["metric"], k=10_001)
    with pytest.raises(InvalidInput, match="distinct dimensions among metric, unit, period"):
        service.activity(analyst, ["theme"])


def test_a_viewer_that_is_not_an_actor_is_refused(tracker) -> None:
    service = bootstrap.analyst_service(tracker)
    with pytest.raises((InvalidInput, NotPermitted)):
        service.summary("analyst")  # type: ignore[arg-type]


def test_the_cli_refuses_bad_arguments_in_one_line_and_records_nothing(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}

    def etrack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engagement_tracker.adapters.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env)

    assert etrack("demo").returncode == 0
    import sqlite3

    def ledger() -> tuple[int, ...]:
        with sqlite3.connect(tmp_path / "etrack.sqlite") as con:
            return tuple(con.execute("SELECT count(*) FROM release_ledger").fetchone())

    before = ledger()  # the demo's tick records the release calendar's last closed quarter
    analyst = str(access_actor("analyst"))
    for args, says in ((["--k", "2"], "k: 2 is outside"), (["--k", "4"], "below 5"), (["--k", "x"], "'x'"),
                       (["--unit", "../x"], "unit:"), (["--by", "theme,metric"], "by:"),
                       (["--since", "2026-1"], "since:"), (["--period", "week"], "week")):
        proc = etrack("signals", "summary", "--as", analyst, *args)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert not proc.stdout
    assert ledger() == before
    ok = etrack("signals", "summary", "--as", analyst, "--format", "json")
    assert ok.returncode == 0, ok.stderr
