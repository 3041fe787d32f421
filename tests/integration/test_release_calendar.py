"""The release calendar (issue #24, item 2) on the demo's store, on SQLite and PostgreSQL, through the
console script and the Python API: an admin declares it (recorded, reloaded), others are refused
and nothing is recorded; a closed period's calendar releases are recorded once (at tick, or at
the first note) and every later note reads them, whatever was explored in between."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.pages.synthesis import synthesis_data
from engagement_tracker.domain import DisclosureRisk, EngagementTracker, InvalidInput
from engagement_tracker.domain.release_calendar import CALENDAR_ID, DEFAULT_SHAPES
from tests.integration.test_releases_all_or_nothing import ADMIN, ANALYST, AS_ANALYST, demo, etrack, recorded
from tests.support import new_tracker, tick_at

__all__ = ["demo"]  # the fixture, shared


def _sections(data: dict[str, Any]) -> dict[str, Any]:
    return {name: (data[name].rows, data[name].refused, data[name].coarsened)
            for name in ("activity", "signals", "contexts", "testimonials")}


def test_an_admin_declares_the_calendar_and_no_one_else(demo: tuple[str, EngagementTracker], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    url, app = demo
    code, err = etrack(capsys, url, "releases", "calendar", "show", "--as", AS_ANALYST, "--format", "json",
                       "--out", str(tmp_path / "calendar.json"))
    assert code == 0, err
    shown = json.loads((tmp_path / "calendar.json").read_text())
    # nothing declared: the synthesis note's shapes per quarter; the demo's tick recorded the quarter that closed
    assert shown == [{"period": "quarter", "shapes": "; ".join(DEFAULT_SHAPES), "declared": False,
                      "recorded": "2026-Q3"}]
    version = app.repository.get(CALENDAR_ID).version
    for argv, status in ((["signal:theme", "--as", AS_ANALYST], 3),  # an analyst may not
                         (["signal:theme;signal:mood", "--as", f"admin:{ADMIN.party}"], 2),  # no such dimension
                         (["signal:theme,theme", "--as", f"admin:{ADMIN.party}"], 2),
                         (["", "--as", f"admin:{ADMIN.party}"], 2),
                         (["signal:theme", "--period", "week", "--as", f"admin:{ADMIN.party}"], 2)):
        code, err = etrack(capsys, url, "releases", "calendar", "set", *argv)
        assert code == status, (argv, err)
        assert new_tracker(url).repository.get(CALENDAR_ID).version == version  # nothing recorded
    code, err = etrack(capsys, url, "releases", "calendar", "set", "activity:metric; signal:theme,period",
                       "--as", f"admin:{ADMIN.party}")
    assert code == 0, err
    again = new_tracker(url)
    try:
        assert again.release_calendar.spec() == ("quarter", ("activity:metric", "signal:theme,period"))
        assert again.release_calendar.show(ANALYST)["declared"] is True
        assert again.release_calendar.released_periods() == {"2026-Q3"}  # recorded periods keep their releases
        with pytest.raises(InvalidInput):
            again.release_calendar.set("signal:nope", ADMIN)
    finally:
        again.close()


def test_a_closed_quarter_s_note_reads_its_calendar_releases_whatever_was_explored(
    demo: tuple[str, EngagementTracker],
) -> None:
    _, app = demo
    service = analyst_service(app)
    first = synthesis_data(service, ANALYST, "2026-Q1")  # Q1 closed, not recorded yet: its first note records it
    assert first["calendar"] is True
    assert "2026-Q1" in app.release_calendar.released_periods()
    after_first = recorded(app)
    kept = app.release_calendar.released("2026-Q1")
    assert kept is not None and set(kept) == set(DEFAULT_SHAPES)
    for shape, text in kept.items():  # what the calendar keeps is what the note shows: released values only
        doc = json.loads(text)
        if doc["release"] is not None:
            assert "persons" not in text and "sources" not in text and "reason" not in text, shape
    assert _sections(synthesis_data(service, ANALYST, "2026-Q1")) == _sections(first)
    assert recorded(app) == after_first  # asked again: read from the calendar, nothing released again
    for by, period in ((["theme", "context"], "month"), (["polarity"], "quarter"), (["unit"], "year"),
                       (["intensity", "period"], "month"), (["context", "period"], "quarter")):
        try:
            service.summary(ANALYST, by, None, period, None, "2026-01", "2026-12")
        except DisclosureRisk:
            pass
    assert _sections(synthesis_data(service, ANALYST, "2026-Q1")) == _sections(first)
    signals = first["signals"]
    if signals.release is not None:  # the note's numbers are its calendar release's values
        assert [r.to_dict() for r in signals.release.rows] == [
            {**r["dims"], "value": r["value"], "status": r["status"]}
            for r in json.loads(kept["signal:theme,period"])["release"]["rows"]]


def test_tick_records_the_quarter_that_closed_once(demo: tuple[str, EngagementTracker]) -> None:
    _, app = demo
    before = recorded(app)
    assert "2026-Q4" not in app.release_calendar.released_periods()
    done = tick_at(app, datetime(2027, 1, 2, 9, tzinfo=UTC))
    assert all(r["kind"] in ("engagement", "cohort") for r in done)  # tick's rows are deadlines
    assert "2026-Q4" in app.release_calendar.released_periods()
    assert recorded(app) != before
    after = recorded(app)
    tick_at(app, datetime(2027, 1, 3, 9, tzinfo=UTC))
    assert recorded(app) == after and app.release_calendar.released_periods() == {"2026-Q3", "2026-Q4"}
