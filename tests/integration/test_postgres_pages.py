"""PostgreSQL projections write a page with COPY (plain inserts) and one upsert statement per page:
the views hold the same rows however the pages are split, an entry saved twice in one page keeps its
last state, and the trail still verifies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from eventsourcing.persistence import Tracking

from bench.workload import histories
from engagement_tracker.adapters import bootstrap
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.adapters.views import postgres as pg_views
from tests.conftest import POSTGRES_URL, _drop_schema
from tests.support import FakeClock, granted, new_tracker


@pytest.fixture
def postgres_url() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    _drop_schema(schema)


def views(app: Any) -> tuple[Any, ...]:
    trail = bootstrap.audit_trail(app)
    directory = bootstrap.directory(app).view
    analytics = bootstrap.analytics(app).view
    return (list(trail.view.entries()), sorted(directory.listing(), key=lambda e: e.id),
            sorted(analytics.facts(), key=repr), sorted(analytics.tallies("signal"), key=repr))


@pytest.mark.usefixtures("postgres_available")
def test_pages_split_or_whole_give_the_same_views(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = new_tracker(postgres_url, FakeClock())
    auditor = granted(app, "auditor", "Aude")
    for aggregate in histories(app.sealer, 600, seed=11):
        app.save(aggregate)
    runner = ProjectionRunner(app)
    runner.rebuild()
    whole = views(app)
    monkeypatch.setattr(pg_views, "ROWS_PER_STATEMENT", 3)  # every upsert split into many statements
    runner.rebuild()
    assert views(app) == whole
    assert whole[1] and whole[2] and whole[3]  # the workload gave the directory and analytics rows
    report = bootstrap.audit_service(app).verify(auditor)
    assert report.ok and report.checked == len(whole[0])
    app.close()


@pytest.mark.usefixtures("postgres_available")
def test_an_entry_saved_twice_in_one_page_keeps_its_last_state(postgres_url: str) -> None:
    app = new_tracker(postgres_url, FakeClock())
    for aggregate in histories(app.sealer, 100, seed=12):
        app.save(aggregate)
    ProjectionRunner(app).rebuild()
    view = bootstrap.directory(app).view
    entry = view.listing()[0]
    later = attrs.evolve(entry, state="closed.archived", sessions=entry.sessions + 7)
    upstream = app.name
    position = (view.max_tracking_id(upstream) or 0) + 1
    view.save([entry, later], Tracking(upstream, position))
    assert view.entries([entry.id])[entry.id] == later
    app.close()


@pytest.mark.usefixtures("postgres_available")
def test_an_upsert_is_one_prepared_statement_for_any_number_of_rows() -> None:
    """Pages of 1, 7 and 300 rows (some keys again, updated): one statement text, prepared once on
    the connection, and the table holds each key's last row."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    table = Identifier(f"t_upsert_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(postgres_conninfo(parse_url(POSTGRES_URL))) as conn, conn.cursor() as curs:
        curs.execute(SQL("CREATE TEMPORARY TABLE {} (key TEXT PRIMARY KEY, n INTEGER, big BIGINT, note TEXT)")
                     .format(table))
        expected: dict[str, tuple[Any, ...]] = {}
        for size, offset in ((1, 0), (7, 0), (300, 5)):
            rows = [(f"k{i}", i * size, 2**40 + i, None if i % 3 else f"note {i}") for i in range(offset, offset + size)]
            pg_views.upsert_rows(curs, SQL("INSERT INTO {}").format(table), ("TEXT", "INTEGER", "BIGINT", "TEXT"), rows,
                                 SQL("ON CONFLICT (key) DO UPDATE SET n = excluded.n, big = excluded.big, "
                                     "note = excluded.note"))
            expected.update({row[0]: row for row in rows})
        curs.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%unnest%%'")
        assert curs.fetchone() == (1,)
        curs.execute(SQL("SELECT key, n, big, note FROM {}").format(table))
        assert {row[0]: row for row in curs.fetchall()} == expected
        assert len(expected) == 305
