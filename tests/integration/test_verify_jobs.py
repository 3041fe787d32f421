"""``audit verify --jobs N``: the log checked in ranges by several processes gives the same report as
one process, on an intact store and on every kind of damage (the ranges never pass what one pass
fails: a range that cannot prove its part defers to the full comparison)."""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.workload import engagement
from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters import stored_records as stored_records_module
from engagement_tracker.domain import InvalidInput
from engagement_tracker.projections.audit_trail import _ranges_report
from tests.support import FakeClock, granted, new_tracker

START = datetime(2025, 1, 6, 9, tzinfo=UTC)


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored_records_module, "MIN_RANGE_ROWS", 5)  # split even a small store


def make_store(path: Path) -> None:
    app = new_tracker(f"sqlite:///{path}", FakeClock())
    granted(app, "auditor", "Aude")
    rng = random.Random(5)
    app.save(*[engagement(app.sealer, rng, 30, START) for _ in range(4)])
    bootstrap.audit_trail(app).catch_up()
    app.close()


def damage(path: Path, kind: str) -> None:
    with sqlite3.connect(path) as con:
        n = con.execute("SELECT max(rowid) FROM stored_events").fetchone()[0]
        middle = n // 2
        if kind == "state":
            con.execute("UPDATE stored_events SET state = state || x'20' WHERE rowid = ?", (middle,))
        elif kind == "deleted":
            con.execute("DELETE FROM stored_events WHERE rowid = ?", (middle,))
        elif kind == "trail_hash":
            con.execute("UPDATE audit_trail SET entry_hash = ? WHERE position = ?", ("0" * 64, middle))
        elif kind == "seal":
            con.execute("UPDATE record_seals SET tag = ? WHERE position = ?", ("0" * 64, middle))
        elif kind == "trail_tail":
            con.execute("DELETE FROM audit_trail WHERE position = ?", (n,))
        elif kind == "pending_middle":  # a trail entry missing in the middle: the trail is not a prefix
            con.execute("DELETE FROM audit_trail WHERE position = ?", (middle,))


def reports(path: Path, jobs: int) -> dict[str, Any]:
    app = new_tracker(f"sqlite:///{path}")
    service = bootstrap.audit_service(app)
    auditor = next(a for a in [granted(app, "auditor", "Other")])
    report = service.verify(auditor, jobs=jobs).to_dict()
    app.close()
    return report


@pytest.mark.parametrize("kind", ["none", "state", "deleted", "trail_hash", "seal", "trail_tail", "pending_middle"])
@pytest.mark.usefixtures("small_ranges")
def test_ranges_report_what_one_process_reports(tmp_path: Path, kind: str) -> None:
    one, three = tmp_path / "one" / "etrack.sqlite", tmp_path / "three" / "etrack.sqlite"
    one.parent.mkdir()
    make_store(one)
    damage(one, kind)
    shutil.copytree(one.parent, three.parent)  # the store with its key files
    app = new_tracker(f"sqlite:///{three}")
    trail = bootstrap.audit_trail(app)
    alone = _ranges_report(trail.events, 3, None, trail.position())
    app.close()
    assert (alone is not None) == (kind == "none")  # the ranges prove only an intact store
    single, split = reports(one, 1), reports(three, 3)
    for r in (single, split):  # the grant of "Other" differs in time only; compare what was found
        r.pop("head", None)
    assert single["ok"] == (kind == "none"), single["faults"]
    assert split["ok"] == single["ok"], split
    assert split == single


@pytest.mark.usefixtures("small_ranges")
def test_the_ranges_alone_prove_an_intact_store_and_never_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    make_store(path)
    app = new_tracker(f"sqlite:///{path}")
    trail = bootstrap.audit_trail(app)
    intact = _ranges_report(trail.events, 3, None, trail.position())
    assert intact is not None and intact.ok and intact.checked == app.recorder.max_notification_id()
    assert intact.sealed == intact.checked  # every seal checked in the ranges
    app.close()
    damage(path, "seal")
    app = new_tracker(f"sqlite:///{path}")
    trail = bootstrap.audit_trail(app)
    assert _ranges_report(trail.events, 3, None, trail.position()) is None  # defers: the full check names it
    app.close()


@pytest.mark.parametrize("jobs", [0, -1, 65, True, "2", 1.5])
def test_bad_jobs_are_refused(tmp_path: Path, jobs: object) -> None:
    path = tmp_path / "s.sqlite"
    app = new_tracker(f"sqlite:///{path}")
    auditor = granted(app, "auditor", "Aude")
    with pytest.raises(InvalidInput, match="jobs"):
        bootstrap.audit_service(app).verify(auditor, jobs=jobs)  # type: ignore[arg-type]
    app.close()
