"""Only typed failures, at every entry point (issue #11): wrong argument types, bad settings, a
missing driver, a store that cannot write. Each is an EtrackError naming what was refused and
what is accepted, and nothing is written.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.bootstrap import analyst_service, audit_service, new_cipher_key
from engagement_tracker.domain import Actor, EngagementTracker, InvalidInput, Role
from engagement_tracker.domain.errors import EtrackError, StoreError
from tests.support import START, Cast, FakeClock, drive, event_count, granted, new_tracker, open_engagement

ROOT = Path(__file__).resolve().parents[2]
DAY = START + timedelta(days=20)


@pytest.fixture
def admin(tracker: EngagementTracker) -> Actor:
    return granted(tracker, Role.ADMIN, "Ada Admin")


def refused_with(kind: type[EtrackError], call: Callable[[], object], *words: str) -> EtrackError:
    with pytest.raises(kind) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"
    return info.value


# --- 1. the analysts' API ---------------------------------------------------------------------------

BAD_RELEASE_ARGUMENTS: list[tuple[dict[str, Any], str, str]] = [
    ({"k": "5"}, "k", "whole number"),
    ({"k": 1.5}, "k", "whole number"),
    ({"k": 2}, "k", "outside"),
    ({"k": True}, "k", "whole number"),
    ({"by": 7}, "by", "list of dimension names"),
    ({"by": [1, 2]}, "by", "dimension names"),
    ({"by": []}, "by", "dimension names"),
    ({"by": "colour"}, "", "colour"),
    ({"unit": 123}, "unit", "Operations/Lyon"),
    ({"unit": ["Operations"]}, "unit", "Operations/Lyon"),
    ({"period": 5}, "period", "month, quarter, year"),
    ({"period": "week"}, "period", "month, quarter, year"),
    ({"since": 20260101}, "since", "YYYY-MM"),
    ({"until": "2026-13"}, "until", "YYYY-MM"),
]


@pytest.mark.parametrize("kwargs,field,accepted", BAD_RELEASE_ARGUMENTS)
@pytest.mark.parametrize("release", ["summary", "activity"])
def test_release_arguments_of_the_wrong_type_are_invalid_input(
    tracker: EngagementTracker, admin: Actor, kwargs: dict[str, Any], field: str, accepted: str, release: str
) -> None:
    service = analyst_service(tracker)
    if release == "activity" and kwargs.get("by") == "colour":
        kwargs = {"by": "colour"}
    before = len(service.analytics.view.ledger("signal")) + len(service.analytics.view.ledger("activity"))
    err = refused_with(InvalidInput, lambda: getattr(service, release)(admin, **kwargs), accepted)
    if field:
        assert str(err).startswith(f"{field}:")
    after = len(service.analytics.view.ledger("signal")) + len(service.analytics.view.ledger("activity"))
    assert after == before  # nothing recorded in the release ledger


def test_trends_check_their_arguments_too(tracker: EngagementTracker, admin: Actor) -> None:
    service = analyst_service(tracker)
    refused_with(InvalidInput, lambda: service.trends(admin, k="5"), "k:")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: service.trends(admin, unit=123), "unit:")  # type: ignore[arg-type]


def test_none_means_the_documented_default(tracker: EngagementTracker, admin: Actor) -> None:
    service = analyst_service(tracker)
    rel = service.summary(admin, by=None, period=None, k=None)
    assert tuple(rel.by) == ("theme", "period") and rel.level.time == "month" and rel.policy.k == 5
    act = service.activity(admin, by=None, period=None, k=None)
    assert tuple(act.by) == ("metric", "period") and act.level.time == "quarter"


def test_a_bare_string_is_one_dimension_or_a_comma_separated_list(tracker: EngagementTracker, admin: Actor) -> None:
    service = analyst_service(tracker)
    assert tuple(service.summary(admin, by="theme").by) == ("theme",)
    assert tuple(service.summary(admin, by="theme, period").by) == ("theme", "period")


def test_the_k_floor_is_checked_when_the_service_is_built(tracker: EngagementTracker) -> None:
    from engagement_tracker.projections.analytics import RELEASE_RULES, AnalystService

    analytics = analyst_service(tracker).analytics
    for bad in ("5", 0, 2, 2.5):
        refused_with(InvalidInput, lambda bad=bad: AnalystService(
            analytics, tracker.clock, bad, grants=tracker.held_grants, rules=RELEASE_RULES), "k_min")
    assert AnalystService(analytics, tracker.clock, None, grants=tracker.held_grants,
                          rules=RELEASE_RULES).k_min == 5  # None: the documented default


# --- 1b. auditors, replay, tick ------------------------------------------------------------------------


def test_audit_service_arguments_are_checked(tracker: EngagementTracker, admin: Actor) -> None:
    service = audit_service(tracker)
    key = Ed25519PrivateKey.generate()
    good = service.checkpoint(admin, key)
    refused_with(InvalidInput, lambda: service.verify(admin, "checkpoint.json"), "checkpoint:", "dict")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: service.verify(admin, {}), "checkpoint:", "position")
    refused_with(InvalidInput, lambda: service.verify(admin, {**good, "position": "7"}), "position")
    refused_with(InvalidInput, lambda: service.verify(admin, {**good, "position": -1}), "position")
    refused_with(InvalidInput, lambda: service.verify(admin, {**good, "head_hash": 5}), "head_hash")
    refused_with(InvalidInput, lambda: service.verify(admin, good, "ab" * 32), "public_key:")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: service.checkpoint(admin, "key.pem"), "signing_key:")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: service.export(admin, None), "out:", "write")  # type: ignore[arg-type]
    buf = io.StringIO()
    assert service.export(admin, buf) >= 1 and service.verify(admin, good, key.public_key()).ok


def test_replay_and_tick_refuse_wrong_types(tracker: EngagementTracker, cast: Cast, admin: Actor) -> None:
    eid = open_engagement(tracker, cast)
    before = event_count(tracker)
    refused_with(InvalidInput, lambda: tracker.replay(eid, admin, version="3"), "version")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: tracker.replay(eid, admin, version=1.0), "version")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: tracker.replay(eid, admin, at="2026-01-01"), "at:")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: tracker.tick(now="2026-01-01"), "now:")  # type: ignore[arg-type]
    refused_with(InvalidInput, lambda: tracker.tick(now=datetime(2026, 1, 1)), "now:")
    assert event_count(tracker) == before


# --- 2. settings -----------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ("ETRACK_K_MIN", "abc", "whole number >= 3"),
    ("ETRACK_K_MIN", "0", "whole number >= 3"),
    ("ETRACK_K_MIN", "-1", "whole number >= 3"),
    ("ETRACK_K_MIN", "2", "whole number >= 3"),
    ("ETRACK_CIPHER_KEY", "notakey", "base64 of a 16, 24 or 32-byte AES key"),
    ("ETRACK_CIPHER_KEY", "QUFBQQ==", "decodes to 4 bytes"),
    ("ETRACK_SNAPSHOT_INTERVAL", "x", "whole number >= 1"),
    ("ETRACK_SNAPSHOT_INTERVAL", "0", "whole number >= 1"),
    ("ETRACK_TEAMS_WARN_ABOVE", "x", "whole number >= 1"),
    ("ETRACK_TEAMS_REFUSE_ABOVE", "2.5", "whole number >= 1"),
    ("ETRACK_SIGNAL_THEMES", "Bad Theme", "lowercase"),
]


@pytest.mark.parametrize("key,value,accepted", BAD_SETTINGS)
@pytest.mark.parametrize("via", ["env", "process"])
def test_a_malformed_setting_refuses_to_open_the_tracker_and_makes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, accepted: str, via: str
) -> None:
    db = tmp_path / "etrack.sqlite"
    if via == "process":
        monkeypatch.setenv(key, value)
    env = {key: value} if via == "env" else None
    err = refused_with(InvalidInput, lambda: open_tracker(f"sqlite:///{db}", clock=FakeClock(), env=env), key, accepted)
    assert str(err).startswith(f"{key}:")
    assert list(tmp_path.iterdir()) == []  # refused when it opens, before any file is made


def test_well_formed_settings_are_in_force(tmp_path: Path) -> None:
    app = new_tracker(f"sqlite:///{tmp_path / 'e.sqlite'}", ETRACK_K_MIN="7", ETRACK_CIPHER_KEY=new_cipher_key(),
                      ETRACK_SNAPSHOT_INTERVAL="5")
    try:
        assert app.settings.k_min == 7 and analyst_service(app).k_min == 7
        assert app.settings.snapshot_interval == 5
    finally:
        app.close()


# --- 3. PostgreSQL without psycopg -----------------------------------------------------------------------

NO_PSYCOPG = "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None; "


def test_a_postgresql_url_without_psycopg_says_how_to_install_it() -> None:
    code = NO_PSYCOPG + (
        "from engagement_tracker.adapters import open_tracker\n"
        "from engagement_tracker.domain.errors import StoreError\n"
        "try:\n"
        "    open_tracker('postgresql://postgres@127.0.0.1:5432/test')\n"
        "except StoreError as exc:\n"
        "    print('StoreError:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "StoreError:" in proc.stdout and "pip install 'engagement-tracker[postgres]'" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_pooler_setting_names_transaction_pooling_or_is_refused() -> None:
    from engagement_tracker.adapters.storage import parse_url

    pooled = parse_url("postgresql://postgres@127.0.0.1:6432/test?pooler=transaction&schema=a")
    assert pooled.pooled and pooled.connect_kwargs == {"prepare_threshold": None}
    direct = parse_url("postgresql://postgres@127.0.0.1:5432/test")
    assert not direct.pooled and direct.connect_kwargs == {}
    with pytest.raises(StoreError, match="pooler='session': one of none, transaction"):
        parse_url("postgresql://postgres@127.0.0.1:6432/test?pooler=session")


# --- 4. a store that cannot write (a real SQLITE_FULL) ---------------------------------------------------


def _capped(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Cap a connection at its file's current size: the next write that needs a new page fails
    with SQLITE_FULL ("database or disk is full"), a real full disk as SQLite sees it."""
    conn.execute("PRAGMA max_page_count = 1")  # never below the current size: caps it there
    return conn


def _stored(tmp_path: Path) -> tuple[str, Cast, Any]:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.close()
    return url, cast, eid


def test_registering_parties_on_a_full_disk_is_a_store_error_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cast, eid = _stored(tmp_path)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _capped(connect(*a, **k)))
    app = new_tracker(url, FakeClock(datetime(2027, 1, 1, tzinfo=UTC)))
    registered = 0
    try:
        with pytest.raises(StoreError) as info:
            for n in range(2000):
                app.parties.register("person", f"Person {n:04d} " + "x" * 180)
                registered += 1
        assert "could not write" in str(info.value) and "nothing was recorded" in str(info.value)
        assert "full" in str(info.value)
        count = event_count(app)
    finally:
        app.close()
    monkeypatch.setattr(sqlite3, "connect", connect)
    again = new_tracker(url)
    try:
        assert event_count(again) == count  # the refused registration left no event
        assert again.party_name(cast.coach.party) == "Claire Dubois"  # earlier reads still work
        assert again.engagements.get(eid).state == "accompaniment.in_progress"
        again.parties.register("person", "After the disk was freed")  # and writes resume
    finally:
        again.close()


def test_a_step_that_cannot_be_written_is_a_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cast, eid = _stored(tmp_path)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _capped(connect(*a, **k)))
    app = new_tracker(url, FakeClock(datetime(2027, 1, 1, tzinfo=UTC)))
    try:
        before = event_count(app)
        version = app.engagements.get(eid).version
        err = refused_with(StoreError, lambda: app.engagements.record_session(
                eid, cast.coach, DAY, 60, ["career"], "y" * 20_000).value,
                           "could not write", "nothing was recorded")
        assert "full" in str(err)
        assert event_count(app) == before and app.engagements.get(eid).version == version
    finally:
        app.close()


def test_projections_on_a_full_disk_are_a_store_error_and_resume_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engagement_tracker.adapters.runner import ProjectionRunner

    url, _, _ = _stored(tmp_path)
    clock = FakeClock(datetime(2026, 2, 1, tzinfo=UTC))  # the host's clock, after what _stored recorded
    app = new_tracker(url, clock)
    ProjectionRunner(app).catch_up()  # the read models' tables exist
    for n in range(60):
        app.parties.register("person", f"Person {n:03d}")
    app.close()
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _capped(connect(*a, **k)))
    app = new_tracker(url, clock)
    try:
        before = event_count(app)
        refused_with(StoreError, lambda: ProjectionRunner(app).catch_up(), "could not write a projection", "full")
        assert event_count(app) == before  # the events stay, the page was rolled back
    finally:
        app.close()
    monkeypatch.setattr(sqlite3, "connect", connect)
    app = new_tracker(url, clock)
    try:
        ProjectionRunner(app).catch_up()  # resumes from the same position
        assert audit_service(app).verify(granted(app, Role.ADMIN, "Ann")).ok
    finally:
        app.close()
