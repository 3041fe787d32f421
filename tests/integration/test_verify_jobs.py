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


# --- both backends: PostgreSQL ranges run on connections of their own, in one exported snapshot ---------

RECORD_KEY = "ab" * 32


class Raw:
    """The store's tables, written to directly (as a database-only insider would)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgresql")
        if self.pg:
            schema = url.split("schema=")[1]
            self.events, self.pos = f'"{schema}".etrack_events', "notification_id"
            self.trail, self.seals = f'"{schema}".etrack_audit_trail', f'"{schema}".etrack_record_seals'
        else:
            self.events, self.pos, self.trail, self.seals = "stored_events", "rowid", "audit_trail", "record_seals"

    def run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.pg:
            import psycopg

            from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

            with psycopg.connect(postgres_conninfo(parse_url(self.url))) as conn:
                cur = conn.execute(sql.replace("?", "%s"), args)
                return cur.fetchall() if cur.description else []
        with sqlite3.connect(self.url.removeprefix("sqlite:///")) as con:
            return con.execute(sql, args).fetchall()


def in_second_of_three(raw: Raw) -> int:
    """A position in the middle of the second of three ranges (as scan_ranges splits the log)."""
    positions = [int(p) for (p,) in raw.run(f"SELECT {raw.pos} FROM {raw.events} ORDER BY 1")]
    n = len(positions)
    first_end, second_end = positions[n // 3 - 1], positions[2 * n // 3 - 1]
    middle = positions[n // 2]
    assert first_end < middle <= second_end
    return middle


@pytest.mark.parametrize("kind", ["none", "state", "seal", "trail_hash", "stamp"])
@pytest.mark.usefixtures("small_ranges")
def test_a_tamper_in_the_second_range_is_named_as_one_process_names_it(durable_store_url: str, kind: str) -> None:
    app = new_tracker(durable_store_url, FakeClock(), ETRACK_RECORD_KEY=RECORD_KEY)
    auditor = granted(app, "auditor", "Aude")
    rng = random.Random(7)
    app.save(*[engagement(app.sealer, rng, 30, START) for _ in range(4)])
    trail = bootstrap.audit_trail(app)
    trail.catch_up()
    raw = Raw(durable_store_url)
    p = in_second_of_three(raw)
    if kind == "state":
        raw.run(f"UPDATE {raw.events} SET state = state || ? WHERE {raw.pos} = ?", (b" ", p))
    elif kind == "seal":
        raw.run(f"UPDATE {raw.seals} SET record_tag = ? WHERE position = ?", ("0" * 64, p))
    elif kind == "trail_hash":
        raw.run(f"UPDATE {raw.trail} SET entry_hash = ? WHERE position = ?", ("0" * 64, p))
    elif kind == "stamp":  # the stamp the chain covers, edited in the trail
        raw.run(f"UPDATE {raw.trail} SET recorded_at = ? WHERE position = ?", ("1999-01-01T00:00:00", p))
    alone = _ranges_report(trail.events, 3, None, trail.position())
    assert (alone is not None) == (kind == "none")  # the ranges prove only an intact store, and defer otherwise
    service = bootstrap.audit_service(app)
    single, split = service.verify(auditor).to_dict(), service.verify(auditor, jobs=3).to_dict()
    app.close()
    assert single["ok"] == (kind == "none"), single["faults"][:3]
    if kind != "none":
        assert single["first_bad_position"] == p, single["faults"][:3]
    else:
        assert alone is not None and alone.checked == single["checked"] and alone.sealed == single["checked"]
        assert alone.head_hash == single["head"]["hash"]
    assert split == single
