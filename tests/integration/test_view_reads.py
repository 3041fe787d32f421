"""A listing read from the views alone (``adapters/view_reads.py``) refuses exactly what the full path refuses.

``etrack engagements`` and ``etrack cohorts`` read the grants and the directory from the store's tables
without opening the application (issue #28). Here, on SQLite and on PostgreSQL, every party of a store
(and one it never saw) claims every role, after grants, revocations and an erasure; the answer of the
views (the rows, or the error's type and message) is the full path's. A damaged or newer register is a
StoreError on both; a directory behind the store is left to the full path; nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from engagement_tracker.adapters.bootstrap import directory, open_tracker
from engagement_tracker.adapters.storage import parse_url, postgres_conninfo
from engagement_tracker.adapters.view_reads import REGISTER_EVENTS, REGISTER_ID, open_view_reads
from engagement_tracker.domain import Actor, Role
from engagement_tracker.domain.access import require_directory_reader
from engagement_tracker.domain.application.stored_format import required_fields
from engagement_tracker.domain.errors import EtrackError, StoreError
from engagement_tracker.domain.grants import AccessRegister
from engagement_tracker.projections.directory_entries import COHORT, ENGAGEMENT
from tests.support import Cast, admin, granted, new_tracker, open_engagement

ACTION = {ENGAGEMENT: "list engagements", COHORT: "list cohorts"}


def full_answer(url: str, viewer: Actor, kind: str) -> Any:
    """What the full path answers (``bootstrap.open_tracker``, the register loaded, the directory caught up)."""
    app = open_tracker(url, create=False, adopt=False)
    try:
        require_directory_reader(viewer, app.held_grants, ACTION[kind])
        listing = directory(app)
        return listing.engagements() if kind == ENGAGEMENT else listing.cohorts()
    except EtrackError as exc:
        return type(exc), str(exc)
    finally:
        app.close()


def view_answer(url: str, viewer: Actor, kind: str) -> Any:
    """What the views alone answer; None when they leave the read to the full path."""
    reads = open_view_reads(url)
    assert reads is not None
    with reads:
        try:
            require_directory_reader(viewer, reads.grants, ACTION[kind])
            return reads.listing(kind)
        except EtrackError as exc:
            return type(exc), str(exc)


def store_with_history(url: str) -> tuple[list[UUID], UUID]:
    """Grants, revocations, a re-grant, a second admin and an erasure; an engagement and a cohort. Returns every
    party and the engagement's id."""
    app = new_tracker(url)
    try:
        cast = Cast.register(app)
        eid = open_engagement(app, cast)
        first = admin(app)
        auditor = granted(app, Role.AUDITOR, "An Auditor")
        revoked = granted(app, Role.AUDITOR, "A Former Auditor")
        app.access.revoke(revoked.party, Role.AUDITOR, first)
        again = granted(app, Role.ADMIN, "Admin Again")
        app.access.revoke(again.party, Role.ADMIN, first)
        app.access.grant(again.party, Role.ADMIN, first)
        granted(app, Role.ANALYST, "An Analyst")
        both = granted(app, Role.AUDITOR, "Auditor And Analyst")
        app.access.grant(both.party, Role.ANALYST, first)
        gone = granted(app, Role.AUDITOR, "An Erased Auditor")
        app.parties.erase(gone.party, first)
        app.cohorts.open(cast.coach, "Operations", "A Peer Cohort")
        parties = [UUID(p) for p in app.held_grants()] + [auditor.party,
            cast.coach.party, cast.coachee.party, cast.sponsor.party, revoked.party, gone.party, uuid4()]
        return list(dict.fromkeys(parties)), eid
    finally:
        app.close()


def test_the_register_table_is_the_register_s_own() -> None:
    events = {v.TOPIC: v for v in vars(AccessRegister).values() if isinstance(v, type) and hasattr(v, "TOPIC")}
    assert {t: (c.class_version, required_fields(c)) for t, c in events.items()} == {
        t: (v, fields) for t, (v, _change, fields) in REGISTER_EVENTS.items()}
    assert REGISTER_ID == AccessRegister.ID


def test_the_views_refuse_exactly_what_the_full_path_refuses(durable_store_url: str) -> None:
    parties, eid = store_with_history(durable_store_url)
    auditor_rows = None
    checked, refusals = 0, set()
    for kind in (ENGAGEMENT, COHORT):
        for party in parties:
            for role in Role:
                viewer = Actor(party, role)
                full = full_answer(durable_store_url, viewer, kind)  # first: it catches the directory up
                assert view_answer(durable_store_url, viewer, kind) == full, (party, role, kind)
                checked += 1
                if kind == ENGAGEMENT and isinstance(full, list):
                    auditor_rows = full
                if isinstance(full, tuple):
                    refusals.add(full[0].__name__)
    assert checked == 2 * len(parties) * len(Role)
    assert refusals == {"NotPermitted"}  # a role that never lists, a grant never held, revoked, or erased
    assert auditor_rows is not None and [e.id for e in auditor_rows] == [str(eid)]  # someone was let through


def _sqlite_path(url: str) -> Path | None:
    config = parse_url(url)
    return None if config.kind != "sqlite" or config.path is None else Path(config.path)


def _execute(url: str, sql_sqlite: str, sql_postgres: str, params: tuple[Any, ...]) -> None:
    path = _sqlite_path(url)
    if path is not None:
        with sqlite3.connect(path) as conn:
            conn.execute(sql_sqlite, params)
        return
    import psycopg

    config = parse_url(url)
    with psycopg.connect(postgres_conninfo(config), autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{config.schema}"')
        conn.execute(sql_postgres, params)


def _reader_of(url: str) -> Actor:
    app = open_tracker(url, create=False, adopt=False)
    try:
        return Actor(UUID(next(p for p, roles in app.held_grants().items() if "auditor" in roles)), Role.AUDITOR)
    finally:
        app.close()


def test_a_damaged_register_is_a_store_error_on_both_paths(durable_store_url: str) -> None:
    store_with_history(durable_store_url)
    viewer = _reader_of(durable_store_url)
    _execute(durable_store_url, "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 3",
             "DELETE FROM etrack_events WHERE originator_id = %s AND originator_version = 3",
             (REGISTER_ID.hex if _sqlite_path(durable_store_url) else REGISTER_ID,))
    full, views = full_answer(durable_store_url, viewer, ENGAGEMENT), view_answer(durable_store_url, viewer, ENGAGEMENT)
    assert full[0] is StoreError and views[0] is StoreError
    assert "access register" in views[1] and "damaged" in views[1]


def test_a_register_written_by_a_newer_version_is_a_store_error_on_both_paths(durable_store_url: str) -> None:
    store_with_history(durable_store_url)
    viewer = _reader_of(durable_store_url)
    newer = json.dumps({"party": {"_type_": "uuid_hex", "_data_": viewer.party.hex}, "role": "auditor",
                        "class_version": 3}).encode()
    _execute(durable_store_url, "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 2",
             "UPDATE etrack_events SET state = %s WHERE originator_id = %s AND originator_version = 2",
             (newer, REGISTER_ID.hex if _sqlite_path(durable_store_url) else REGISTER_ID))
    full, views = full_answer(durable_store_url, viewer, ENGAGEMENT), view_answer(durable_store_url, viewer, ENGAGEMENT)
    assert full[0] is StoreError and views[0] is StoreError
    assert "newer engagement-tracker" in full[1] and "newer engagement-tracker" in views[1]


def test_a_register_record_lacking_a_field_is_a_store_error_on_both_paths(durable_store_url: str) -> None:
    """Any event of the register, not only a grant: here its Created event, stripped of its time."""
    store_with_history(durable_store_url)
    viewer = _reader_of(durable_store_url)
    lacking = json.dumps({"originator_topic": "etrack:AccessRegister", "class_version": 2}).encode()
    _execute(durable_store_url, "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 1",
             "UPDATE etrack_events SET state = %s WHERE originator_id = %s AND originator_version = 1",
             (lacking, REGISTER_ID.hex if _sqlite_path(durable_store_url) else REGISTER_ID))
    full, views = full_answer(durable_store_url, viewer, ENGAGEMENT), view_answer(durable_store_url, viewer, ENGAGEMENT)
    assert full[0] is StoreError and views[0] is StoreError
    assert "lacks timestamp" in full[1] and "lacks timestamp" in views[1]


def test_a_directory_behind_the_store_is_left_to_the_full_path(durable_store_url: str) -> None:
    store_with_history(durable_store_url)
    viewer = _reader_of(durable_store_url)
    assert isinstance(full_answer(durable_store_url, viewer, ENGAGEMENT), list)  # caught up
    assert view_answer(durable_store_url, viewer, ENGAGEMENT) is not None
    app = new_tracker(durable_store_url)
    try:
        open_engagement(app, Cast.register(app))  # recorded, the directory not caught up (no command line)
    finally:
        app.close()
    assert view_answer(durable_store_url, viewer, ENGAGEMENT) is None
    assert len(full_answer(durable_store_url, viewer, ENGAGEMENT)) == 2
    assert len(view_answer(durable_store_url, viewer, ENGAGEMENT)) == 2


def _files(directory_path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory_path.iterdir()) if p.is_file()}


def test_a_read_of_the_views_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    store_with_history(url)
    viewer = _reader_of(url)
    full_answer(url, viewer, ENGAGEMENT)  # the directory caught up
    before = _files(tmp_path)
    assert isinstance(view_answer(url, viewer, ENGAGEMENT), list)
    assert view_answer(url, Actor(viewer.party, Role.ADMIN), ENGAGEMENT)[0].__name__ == "NotPermitted"
    assert _files(tmp_path) == before


def test_a_missing_store_is_the_same_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.sqlite'}"
    with pytest.raises(StoreError) as full:
        open_tracker(url, create=False, adopt=False)
    with pytest.raises(StoreError) as views:
        open_view_reads(url)
    assert str(views.value) == str(full.value)
    assert not (tmp_path / "none.sqlite").exists()


def test_stores_the_views_do_not_read_are_left_to_the_full_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    store_with_history(url)
    assert open_view_reads("memory:") is None
    assert open_view_reads(url, tenant="acme") is None
    monkeypatch.setenv("ETRACK_CIPHER_KEY", "not read here")
    assert open_view_reads(url) is None


def test_the_frozen_0_1_0_store_reads_the_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 0.1.0 store (adopted, then granted, as tests/integration/test_fixture_v0_1_0.py does)."""
    import shutil

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "v0_1_0"
    expected = json.loads((fixture / "expected.json").read_text(encoding="utf-8"))
    for name in ("etrack.sqlite", "etrack.sqlite-vault"):
        shutil.copyfile(fixture / name, tmp_path / name)
    for var in [k for k in os.environ if k.startswith("ETRACK_")]:
        monkeypatch.delenv(var)
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    first = Actor(UUID(expected["party_ids"]["admin"]), Role.ADMIN)
    app = open_tracker(url, create=False)
    try:
        app.access.initialise(party_id=first.party)
        app.access.grant(UUID(expected["party_ids"]["auditor"]), Role.AUDITOR, first)
    finally:
        app.close()
    for name, party in expected["party_ids"].items():
        for role in (Role.ADMIN, Role.AUDITOR, Role.COACH):
            viewer = Actor(UUID(party), role)
            for kind in (ENGAGEMENT, COHORT):
                full = full_answer(url, viewer, kind)
                assert view_answer(url, viewer, kind) == full, (name, role, kind)
    assert isinstance(full_answer(url, first, ENGAGEMENT), list) and full_answer(url, first, ENGAGEMENT)
